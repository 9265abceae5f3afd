// The Prometheus text rendering: cumulative buckets, +Inf, sum and count, escaped labels.
#include "apiserver/http/metrics.h"

#include <gtest/gtest.h>

namespace podnet::apiserver {
namespace {

TEST(Metrics, HistogramBucketsAreCumulative) {
  static const std::vector<double> bounds{0.1, 1};
  Histogram h(&bounds);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  std::string out;
  h.render(out, "x", "a=\"b\"");
  EXPECT_EQ(out,
            "x_bucket{a=\"b\",le=\"0.1\"} 1\n"
            "x_bucket{a=\"b\",le=\"1\"} 2\n"
            "x_bucket{a=\"b\",le=\"+Inf\"} 3\n"
            "x_sum{a=\"b\"} 5.55\n"
            "x_count{a=\"b\"} 3\n");
}

TEST(Metrics, RequestsWatchersAndStorage) {
  Metrics m;
  RequestLabels list{"LIST", "", "v1", "pods", ""};
  m.observe_request(list, 200, 0.01);
  m.observe_request(list, 200, 0.02);
  m.observe_request(list, 403, 0.001);
  RequestLabels watch{"WATCH", "discovery.k8s.io", "v1", "endpointslices", ""};
  m.watch_opened(watch);
  m.watch_opened(watch);
  m.watch_closed(watch);
  m.observe_storage("get", "pods", 0.0002);
  m.observe_request({"GET", "", "", "x\"y", ""}, 200, 0.1);
  std::string text = m.render();
  EXPECT_NE(text.find("# TYPE apiserver_request_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("apiserver_request_total{code=\"200\",group=\"\",resource=\"pods\",subresource=\"\","
                      "verb=\"LIST\",version=\"v1\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("apiserver_request_total{code=\"403\",group=\"\",resource=\"pods\",subresource=\"\","
                      "verb=\"LIST\",version=\"v1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("apiserver_request_duration_seconds_count{group=\"\",resource=\"pods\",subresource=\"\","
                "verb=\"LIST\",version=\"v1\"} 3\n"),
      std::string::npos);
  EXPECT_NE(text.find("apiserver_registered_watchers{group=\"discovery.k8s.io\",resource=\"endpointslices\","
                      "version=\"v1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("apiserver_storage_request_duration_seconds_bucket{operation=\"get\",resource=\"pods\","
                      "le=\"0.00025\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("resource=\"x\\\"y\""), std::string::npos) << "quotes in label values are escaped";
}

}  // namespace
}  // namespace podnet::apiserver
