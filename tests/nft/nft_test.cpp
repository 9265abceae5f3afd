// The libnftables wrapper, the rule/state encodings, and what a CNI ADD/DEL costs. Everything runs
// in a namespace of its own.
#include "nft/nft.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "netns_env.h"
#include "nft/portmap.h"
#include "nft/ruleset.h"
#include "nft/state.h"

namespace podnet::nft {
namespace {

class NftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ns.ok());
    enter = std::make_unique<pntest::EnterNetns>(ns.name());
    ASSERT_TRUE(enter->ok());
  }
  void TearDown() override { enter.reset(); }

  pntest::Netns ns{pntest::unique_name("-nft")};
  std::unique_ptr<pntest::EnterNetns> enter;
};

TEST_F(NftTest, RunsTransactionsAndQueries) {
  auto nft = Nft::open();
  ASSERT_TRUE(nft) << nft.error().message();
  ASSERT_TRUE(nft->run("add table ip pnwrap\nadd chain ip pnwrap c\nadd rule ip pnwrap c accept"));
  auto text = nft->query("list tables", false);
  ASSERT_TRUE(text) << text.error().message();
  EXPECT_EQ(*text, "table ip pnwrap\n");
  auto json = nft->query("list table ip pnwrap");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->rfind("{\"nftables\": [", 0), 0u) << *json;
  // JSON was only for that query.
  EXPECT_EQ(*nft->query("list tables", false), "table ip pnwrap\n");
  EXPECT_EQ(ns.out("nft list tables"), "table ip pnwrap");
}

TEST_F(NftTest, ErrorsCarryNftMessageAndErrno) {
  auto nft = Nft::open();
  ASSERT_TRUE(nft);
  auto syntax = nft->run("add tabel ip x");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, 0);
  EXPECT_NE(syntax.error().context.find("syntax error"), std::string::npos) << syntax.error().context;

  ASSERT_TRUE(nft->run(
      "add table ip pnerr\nadd set ip pnerr s { type ipv4_addr; }\nadd element ip pnerr s { 1.2.3.4 }"));
  auto dup = nft->run("create element ip pnerr s { 1.2.3.4 }");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  EXPECT_NE(dup.error().message().find("File exists"), std::string::npos);

  // A failing transaction applies nothing: the table stays as it was.
  auto partial = nft->run("add element ip pnerr s { 5.6.7.8 }\ndelete element ip pnerr s { 9.9.9.9 }");
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().code, ENOENT);
  EXPECT_EQ(ns.out("nft list set ip pnerr s").find("5.6.7.8"), std::string::npos);
}

TEST(NftPlan, FoldsDuplicatesAndNormalizesProtocols) {
  PodRules r;
  r.who = {"c1", "eth0"};
  r.pod_ips = {*parse_prefix("10.1.2.3/16"), *parse_prefix("fd00::5/64")};
  r.port_mappings = {PortMapping{80, 8080, "TCP", std::nullopt}, PortMapping{80, 8080, "tcp", std::nullopt},
                     PortMapping{53, 53, "udp", *parse_ip("10.9.9.9")}};
  r.ip_masq = true;
  auto plan = detail::plan_pod(r);
  ASSERT_TRUE(plan) << plan.error().message();
  auto has = [&](bool v6, const std::string& map, const std::string& key, const std::string& value) {
    return std::count(plan->elements.begin(), plan->elements.end(), detail::Element{v6, map, key, value}) ==
           1;
  };
  EXPECT_TRUE(has(false, "hostports", "tcp . 80", "10.1.2.3 . 8080"));
  EXPECT_TRUE(has(true, "hostports", "tcp . 80", "fd00::5 . 8080"));
  EXPECT_TRUE(has(false, "hostip-ports", "10.9.9.9 . udp . 53", "10.1.2.3 . 53"));
  EXPECT_TRUE(has(false, "hairpin", "tcp . 80 . 10.1.2.3 . 8080", "jump hp-10_1_0_0-16"));
  EXPECT_TRUE(has(true, "masq", "fd00::5", "jump masq-fd00__-64"));
  EXPECT_EQ(plan->elements.size(), 8u);  // the v4 host IP is not mapped to the v6 address
  EXPECT_TRUE(plan->v4 && plan->v6 && plan->v4_port_mappings);
}

TEST(NftState, RoundTripsAndRejectsGarbage) {
  detail::State s{
      {"abc_def", "eth0"},
      {{false, "hostports", "tcp . 80", "10.0.0.1 . 80"}, {true, "masq", "fd00::1", "jump masq-fd00__-64"}}};
  auto back = detail::decode(detail::encode(s), "x");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->who, s.who);
  EXPECT_EQ(back->elements, s.elements);
  EXPECT_FALSE(detail::decode("something else\n", "x"));
  EXPECT_FALSE(
      detail::decode(detail::encode(s) + "element\tip\thostports\ttcp . 80 }; flush ruleset\tx\n", "x"));
  EXPECT_FALSE(detail::validate_key({"a/b", "eth0"}));
  EXPECT_FALSE(detail::validate_key({"abc", "eth\"0"}));
  EXPECT_TRUE(detail::validate_key({"0123abc-_.", "net1"}));
}

TEST(NftPlan, MacSpoofCheckAddsTwoBridgeSetElements) {
  PodRules r;
  r.who = {"c1", "eth0"};
  r.pod_ips = {*parse_prefix("10.1.2.3/16")};
  r.mac_spoof_check = MacSpoofCheck{"veth0a1b2c3d", "02:AB:cd:00:11:22"};
  auto plan = detail::plan_pod(r);
  ASSERT_TRUE(plan) << plan.error().message();
  std::vector<detail::Element> want = {
      {false, "macspoof-checked", "\"veth0a1b2c3d\"", ""},
      {false, "macspoof-allowed", "\"veth0a1b2c3d\" . 02:ab:cd:00:11:22", ""}};
  EXPECT_EQ(plan->elements, want);
  EXPECT_TRUE(plan->bridge);
  EXPECT_FALSE(plan->v4 || plan->v6) << "no ip/ip6 table for a check alone";
  EXPECT_EQ(detail::family_of(want[1]), std::string("bridge"));
  EXPECT_EQ(detail::create_elements("t", want, "c1/eth0"),
            "create element bridge t macspoof-checked { \"veth0a1b2c3d\" comment \"c1/eth0\" }\n"
            "create element bridge t macspoof-allowed { \"veth0a1b2c3d\" . 02:ab:cd:00:11:22 comment "
            "\"c1/eth0\" }\n");

  for (const char* mac :
       {"", "02:ab:cd:00:11", "02:ab:cd:00:11:2g", "02-ab-cd-00-11-22", "02:ab:cd:00:11:22:33"}) {
    r.mac_spoof_check = MacSpoofCheck{"veth0", mac};
    EXPECT_FALSE(detail::plan_pod(r)) << mac;
  }
  for (const char* ifname : {"", "veth\"x", "a b", "veth0}; flush", "abcdefghijklmnop"}) {
    r.mac_spoof_check = MacSpoofCheck{ifname, "02:00:00:00:00:01"};
    EXPECT_FALSE(detail::plan_pod(r)) << ifname;
  }
}

TEST(NftState, RoundTripsBridgeSetElements) {
  detail::State s{{"abc", "eth0"},
                  {{false, "masq", "10.0.0.1", "jump masq-10_0_0_0-24"},
                   {false, "macspoof-checked", "\"veth1\"", ""},
                   {false, "macspoof-allowed", "\"veth1\" . 02:00:00:00:00:01", ""}}};
  std::string text = detail::encode(s);
  EXPECT_NE(text.find("element\tbridge\tmacspoof-checked\t\"veth1\"\t\n"), std::string::npos) << text;
  auto back = detail::decode(text, "x");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->elements, s.elements);
  std::string head = "podnet-portmap 1\ncontainer\tabc\nifname\teth0\n";
  EXPECT_FALSE(detail::decode(head + "element\tip\tmacspoof-checked\t\"veth1\"\t\n", "x")) << "wrong family";
  EXPECT_FALSE(detail::decode(head + "element\tbridge\tmasq\t10.0.0.1\tjump masq-x\n", "x"))
      << "wrong family";
  EXPECT_FALSE(detail::decode(head + "element\tbridge\tmacspoof-checked\t\"veth1\"\taccept\n", "x"))
      << "a set element has no value";
  EXPECT_FALSE(detail::decode(head + "element\tbridge\tmacspoof-checked\t\"v\" }; flush ruleset\t\n", "x"));
}

// Parallel ADDs (pods starting together) race to create the tables: all succeed, and the fixed
// rules exist once. Threads inherit the test thread's namespace.
TEST_F(NftTest, ConcurrentAddsFromAnEmptyTable) {
  PortmapStore store{"/var/tmp/" + pntest::unique_name("-nft-state"), pntest::unique_name("conc")};
  constexpr int kThreads = 4, kPods = 10;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPods && errors[t].empty(); ++i) {
        auto nft = Nft::open();
        if (!nft) return void(errors[t] = nft.error().message());
        int n = t * kPods + i;
        PodRules r{{"p" + std::to_string(n), "eth0"},
                   {*parse_prefix("10.89." + std::to_string(t) + "." + std::to_string(i + 2) + "/24")},
                   {PortMapping{uint16_t(10000 + n), 80}},
                   true,
                   ""};
        if (auto s = add_pod_rules(*nft, store, r); !s) errors[t] = s.error().message();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  std::string hostports = ns.out("nft list map ip " + store.table + " hostports");
  for (int n = 0; n < kThreads * kPods; ++n)
    EXPECT_NE(hostports.find("comment \"p" + std::to_string(n) + "/eth0\""), std::string::npos) << n;
  std::string post = ns.out("nft list chain ip " + store.table + " postrouting");
  EXPECT_EQ(std::count(post.begin(), post.end(), '@'), 2) << post;  // @hairpin and @masq, once each
  auto nft = Nft::open();
  ASSERT_TRUE(remove_all(*nft, store));
  std::filesystem::remove_all(store.state_dir);
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Not a benchmark, a report: what nft_ctx_new and one ADD/DEL transaction cost in a fresh context
// (as in one CNI invocation), including the context teardown which, after a deletion, waits for
// the kernel's deferred nf_tables cleanup.
TEST_F(NftTest, ReportsCostOfContextAndTransactions) {
  PortmapStore store{"/var/tmp/" + pntest::unique_name("-nft-state"), pntest::unique_name("cost")};
  {
    auto warm = Nft::open();
    ASSERT_TRUE(warm);
    PodRules first{{"warm", "eth0"}, {*parse_prefix("10.88.0.250/24")}, {PortMapping{1, 1}}, true, ""};
    ASSERT_TRUE(add_pod_rules(*warm, store, first));  // creates the tables: the slow path, once
  }
  std::vector<double> open_ms, add_ms, add_close_ms, del_ms, del_close_ms;
  for (int i = 0; i < 15; ++i) {
    PodRules r{{"c" + std::to_string(i), "eth0"},
               {*parse_prefix("10.88.0." + std::to_string(10 + i) + "/24")},
               {PortMapping{uint16_t(8000 + i), 80}, PortMapping{uint16_t(9000 + i), 443}},
               true,
               ""};
    auto t = std::chrono::steady_clock::now();
    std::optional<Nft> nft;
    nft.emplace(*Nft::open());
    open_ms.push_back(ms_since(t));
    t = std::chrono::steady_clock::now();
    auto s = add_pod_rules(*nft, store, r);
    add_ms.push_back(ms_since(t));
    ASSERT_TRUE(s) << s.error().message();
    t = std::chrono::steady_clock::now();
    nft.reset();
    add_close_ms.push_back(ms_since(t));

    nft.emplace(*Nft::open());
    t = std::chrono::steady_clock::now();
    ASSERT_TRUE(delete_pod_rules(*nft, store, r.who));
    del_ms.push_back(ms_since(t));
    t = std::chrono::steady_clock::now();
    nft.reset();
    del_close_ms.push_back(ms_since(t));
  }
  std::printf(
      "[ cost     ] nft_ctx_new %.3f ms | ADD (2 ports + ipMasq, 5 elements) %.3f ms + close %.3f ms | "
      "DEL %.3f ms + close %.3f ms (medians of %zu)\n",
      median(open_ms), median(add_ms), median(add_close_ms), median(del_ms), median(del_close_ms),
      open_ms.size());
  RecordProperty("nft_ctx_new_ms", std::to_string(median(open_ms)));
  RecordProperty("add_ms", std::to_string(median(add_ms)));
  RecordProperty("del_ms", std::to_string(median(del_ms)));
  EXPECT_LT(median(open_ms) + median(add_ms) + median(add_close_ms), 20.0);  // generous: shared CI cores
  std::filesystem::remove_all(store.state_dir);
}

}  // namespace
}  // namespace podnet::nft
