// The allocators' errors as kubectl users see them (stderr text), against the `podnet server`
// binary: requested clusterIP conflicts via create and apply, node port range and conflicts, and
// values becoming reusable after a delete or a type change.
#include <gtest/gtest.h>

#include "support/server_process.h"

namespace podnet::apiserver::testing {
namespace {

class ServiceKubectlTest : public podnet::testing::KubectlServerTest {
 protected:
  ServiceKubectlTest()
      : KubectlServerTest("podnet-svc-kubectl",
                          {"--service-cidr", "10.96.0.0/16", "--node-port-range", "30000-30100"}) {}
};

TEST_F(ServiceKubectlTest, RequestedClusterIPConflicts) {
  auto a = kubectl({"create", "service", "clusterip", "a", "--clusterip", "10.96.0.5", "--tcp", "80:80"});
  ASSERT_EQ(a.code, 0) << a.out;
  auto b = kubectl({"create", "service", "clusterip", "b", "--clusterip", "10.96.0.5", "--tcp", "80:80"});
  EXPECT_NE(b.code, 0);
  EXPECT_NE(b.out.find("Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.5\"}: "
                       "failed to allocate IP 10.96.0.5: provided IP is already allocated"),
            std::string::npos)
      << b.out;
  auto out_of_range =
      kubectl({"create", "service", "clusterip", "c", "--clusterip", "10.97.0.5", "--tcp", "80:80"});
  EXPECT_NE(
      out_of_range.out.find("failed to allocate IP 10.97.0.5: the provided IP (10.97.0.5) is not in the "
                            "valid range. The range of valid IPs is 10.96.0.0/16"),
      std::string::npos)
      << out_of_range.out;

  std::string file = write("d.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: d}
spec:
  clusterIP: 10.96.0.5
  ports: [{port: 80}]
)");
  auto applied = kubectl({"apply", "-f", file});
  EXPECT_NE(applied.code, 0);
  EXPECT_NE(applied.out.find("spec.clusterIPs: Invalid value: []string{\"10.96.0.5\"}: failed to allocate IP "
                             "10.96.0.5: provided IP is already allocated"),
            std::string::npos)
      << applied.out;

  // Deleting `a` frees the address: the same file now applies.
  ASSERT_EQ(kubectl({"delete", "svc", "a"}).code, 0);
  applied = kubectl({"apply", "-f", file});
  EXPECT_EQ(applied.code, 0) << applied.out;
  EXPECT_EQ(kubectl({"get", "svc", "d", "-o", "jsonpath={.spec.clusterIP}"}).out, "10.96.0.5");

  auto changed = kubectl({"patch", "svc", "d", "-p", R"({"spec":{"clusterIP":"10.96.0.6"}})"});
  EXPECT_NE(
      changed.out.find("spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.6\"}: may not change once set"),
      std::string::npos)
      << changed.out;
}

TEST_F(ServiceKubectlTest, NodePortRangeConflictsAndTypeChange) {
  auto low = kubectl({"create", "service", "nodeport", "low", "--tcp", "80:80", "--node-port", "80"});
  EXPECT_NE(low.code, 0);
  EXPECT_NE(
      low.out.find("spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
                   "The range of valid ports is 30000-30100"),
      std::string::npos)
      << low.out;
  ASSERT_EQ(kubectl({"create", "service", "nodeport", "a", "--tcp", "80:80", "--node-port", "30050"}).code,
            0);
  auto taken = kubectl({"create", "service", "nodeport", "b", "--tcp", "80:80", "--node-port", "30050"});
  EXPECT_NE(
      taken.out.find("spec.ports[0].nodePort: Invalid value: 30050: provided port is already allocated"),
      std::string::npos)
      << taken.out;

  auto patched = kubectl({"patch", "svc", "a", "-p", R"({"spec":{"type":"ClusterIP"}})"});
  ASSERT_EQ(patched.code, 0) << patched.out;
  EXPECT_EQ(kubectl({"get", "svc", "a", "-o", "jsonpath={.spec.ports[0].nodePort}"}).out, "");
  auto reused = kubectl({"create", "service", "nodeport", "b", "--tcp", "80:80", "--node-port", "30050"});
  EXPECT_EQ(reused.code, 0) << reused.out;

  auto wide = kubectl({"get", "svc", "b"});
  EXPECT_NE(wide.out.find("80:30050/TCP"), std::string::npos) << wide.out;
}

}  // namespace
}  // namespace podnet::apiserver::testing
