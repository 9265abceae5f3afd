// Table conversion: Accept negotiation, kube's human durations, and the pod/service cells.
#include "apiserver/endpoints/table.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace podnet::apiserver {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

TEST(Table, AcceptNegotiation) {
  EXPECT_TRUE(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
  EXPECT_TRUE(wants_table(
      "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io"));
  EXPECT_FALSE(wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
  EXPECT_FALSE(wants_table("application/json"));
  EXPECT_FALSE(wants_table(""));
}

TEST(Table, HumanDuration) {
  struct Case {
    long long s;
    const char* text;
  } cases[] = {{0, "0s"},
               {119, "119s"},
               {120, "2m"},
               {200, "3m20s"},
               {900, "15m"},
               {3 * 3600, "3h"},
               {7 * 3600 + 60, "7h1m"},
               {30 * 3600, "30h"},
               {50 * 3600, "2d2h"},
               {400 * 86400, "400d"},
               {3 * 365 * 86400, "3y"}};
  for (const auto& c : cases) EXPECT_EQ(human_duration(seconds(c.s)), c.text) << c.s;
}

TEST(Table, PodAndServiceCells) {
  ResourceType pods{"", "v1", "Pod", "pods"};
  auto now = std::chrono::system_clock::from_time_t(1700000000 + 65);
  json::value pod = json::parse(R"({"metadata":{"name":"web","creationTimestamp":"2023-11-14T22:13:20Z"},
      "spec":{"containers":[{"name":"a"},{"name":"b"}],"nodeName":"n1"},
      "status":{"phase":"Running","podIP":"10.244.1.5","containerStatuses":[{"ready":true,"restartCount":2},{"ready":false,"restartCount":1}]}})");
  auto table = object_to_table(pods, pod, {now, IncludeObject::kMetadata});
  EXPECT_EQ(json::serialize(table.at("rows").at(0).at("cells")),
            R"(["web","1/2","Running","3","65s","10.244.1.5","n1","<none>","<none>"])");
  EXPECT_EQ(table.at("rows").at(0).at("object").at("kind"), "PartialObjectMetadata");
  EXPECT_EQ(table.at("columnDefinitions").as_array().size(), 9u);

  ResourceType services{"", "v1", "Service", "services"};
  json::value svc =
      json::parse(R"({"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.10",
      "ports":[{"port":80,"nodePort":30080,"protocol":"TCP"},{"port":53,"protocol":"UDP"}],"selector":{"app":"web"}}})");
  auto st = object_to_table(services, svc, {now, IncludeObject::kNone});
  EXPECT_EQ(json::serialize(st.at("rows").at(0).at("cells")),
            R"(["lb","LoadBalancer","10.96.0.10","<pending>","80:30080/TCP,53/UDP","<unknown>","app=web"])");
  EXPECT_FALSE(st.at("rows").at(0).as_object().contains("object"));
}

TEST(Table, EndpointSliceNetworkPolicyAndEventCells) {
  auto now = std::chrono::system_clock::from_time_t(1700000000);
  ResourceType slices{"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"};
  json::value slice = json::parse(R"({"metadata":{"name":"web-x"},"addressType":"IPv4","ports":[{"port":80}],
      "endpoints":[{"addresses":["10.0.0.1"]},{"addresses":["10.0.0.2"]},{"addresses":["10.0.0.3"]},{"addresses":["10.0.0.4"]}]})");
  EXPECT_EQ(json::serialize(object_to_table(slices, slice, {now}).at("rows").at(0).at("cells")),
            R"(["web-x","IPv4","80","10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...","<unknown>"])");

  ResourceType netpols{"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"};
  json::value np =
      json::parse(R"({"metadata":{"name":"deny"},"spec":{"podSelector":{"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]}}})");
  EXPECT_EQ(json::serialize(object_to_table(netpols, np, {now}).at("rows").at(0).at("cells")),
            R"x(["deny","app=web,tier in (a,b)","<unknown>"])x");

  ResourceType events{"", "v1", "Event", "events"};
  json::value ev = json::parse(R"({"metadata":{"name":"e"},"type":"Normal","reason":"Pulled","message":"done",
      "lastTimestamp":"2023-11-14T22:13:10Z","involvedObject":{"kind":"Pod","name":"web-1"}})");
  EXPECT_EQ(json::serialize(object_to_table(events, ev, {now}).at("rows").at(0).at("cells")),
            R"(["10s","Normal","Pulled","pod/web-1","","","done","<unknown>",1,"e"])");

  // kube's printEvent: the source and host, a count, a series' last time, micro timestamps.
  json::value series = json::parse(R"({"metadata":{"name":"web-1.17"},"type":"Warning","reason":"Unhealthy",
      "message":"  Readiness probe failed: x \n","firstTimestamp":"2023-11-14T22:03:20Z",
      "lastTimestamp":"2023-11-14T22:13:10Z","count":7,"source":{"component":"kubelet","host":"n1"},
      "involvedObject":{"kind":"Pod","name":"web-1","fieldPath":"spec.containers{web}"}})");
  EXPECT_EQ(json::serialize(object_to_table(events, series, {now}).at("rows").at(0).at("cells")),
            R"(["10s","Warning","Unhealthy","pod/web-1","spec.containers{web}","kubelet, n1",)"
            R"("Readiness probe failed: x","10m",7,"web-1.17"])");
  json::value new_api = json::parse(R"({"metadata":{"name":"n"},"type":"Normal","reason":"Scheduled",
      "eventTime":"2023-11-14T22:13:15.250000Z","reportingComponent":"default-scheduler",
      "reportingInstance":"s-1","series":{"count":3,"lastObservedTime":"2023-11-14T22:13:18.000001Z"},
      "involvedObject":{"kind":"Pod","name":"p"}})");
  EXPECT_EQ(json::serialize(object_to_table(events, new_api, {now}).at("rows").at(0).at("cells")),
            R"(["1s","Normal","Scheduled","pod/p","","default-scheduler, s-1","","4s",3,"n"])");
}

}  // namespace
}  // namespace podnet::apiserver
