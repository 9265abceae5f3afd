// Name rules per kind: subdomain, label, DNS-1035 label.
#include "apiserver/validation/validation.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace podnet::apiserver {
namespace {

TEST(ValidateName, Table) {
  struct Case {
    NameRule rule;
    std::string name;
    bool valid;
  } cases[] = {
      {NameRule::kDns1123Subdomain, "web-1", true},
      {NameRule::kDns1123Subdomain, "a.b.c", true},
      {NameRule::kDns1123Subdomain, "1abc", true},
      {NameRule::kDns1123Subdomain, "Web", false},
      {NameRule::kDns1123Subdomain, "a..b", false},
      {NameRule::kDns1123Subdomain, "-a", false},
      {NameRule::kDns1123Subdomain, "a_b", false},
      {NameRule::kDns1123Subdomain, std::string(254, 'a'), false},
      {NameRule::kDns1123Label, "kube-system", true},
      {NameRule::kDns1123Label, "a.b", false},
      {NameRule::kDns1123Label, std::string(64, 'a'), false},
      {NameRule::kDns1035Label, "web", true},
      {NameRule::kDns1035Label, "1web", false},
      {NameRule::kDns1035Label, "web-", false},
      {NameRule::kDns1123Subdomain, "", false},
  };
  for (const auto& c : cases) {
    auto causes = validate_name(c.rule, c.name);
    EXPECT_EQ(causes.empty(), c.valid) << c.name;
    for (const auto& cause : causes) EXPECT_EQ(cause.field, "metadata.name");
  }
}

TEST(ValidateLabels, KeysAndValues) {
  auto labels = [](const char* json) { return boost::json::parse(json); };
  auto ok = labels(R"({"app":"web","kubernetes.io/service-name":"x","a_b.c":"","v":"My_Value-1"})");
  EXPECT_TRUE(validate_labels(&ok).empty());
  for (const char* bad : {R"({"-app":"x"})", R"({"app":"bad value"})", R"({"Bad.Prefix/x":"y"})",
                          R"({"/x":"y"})", R"({"app":"-x"})", R"({"app":1})", R"([])"}) {
    auto v = labels(bad);
    auto causes = validate_labels(&v);
    EXPECT_FALSE(causes.empty()) << bad;
    for (const auto& c : causes) EXPECT_EQ(c.field, "metadata.labels");
  }
  EXPECT_TRUE(validate_labels(nullptr).empty());
}

}  // namespace
}  // namespace podnet::apiserver
