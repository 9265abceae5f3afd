// The record store and the responder without sockets: what each Kubernetes DNS name answers.
#include "dns/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/answer.h"
#include "dns/cache.h"
#include "dns_test_util.h"

namespace podnet::dns {
namespace {

using namespace dnstest;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

class ResponderTest : public ::testing::Test {
 protected:
  Parsed ask(const std::string& name, uint16_t type, bool tcp = false, bool edns = false,
             uint16_t payload = 1232) {
    auto q = make_query(name, type, 0x4242, edns, payload);
    last_ = responder_.answer(q, tcp, out_.data());
    if (last_.verdict != Verdict::kAnswer) return {};
    return parse(out_.data(), last_.size);
  }
  RecordStore store_;
  Responder responder_{store_};
  std::vector<uint8_t> out_ = std::vector<uint8_t>(kMaxMessage);
  Answered last_;
};

TEST_F(ResponderTest, ClusterIpServiceAnswersAPtrAndSrv) {
  store_.upsert_service(service("shop", "web", {"10.96.0.20", "fd00::20"},
                                {port("http", k8s::Protocol::kTcp, 80), port("", k8s::Protocol::kTcp, 81)}));
  auto a = ask("web.shop.svc.cluster.local.", KNOT_RRTYPE_A);
  EXPECT_EQ(a.rcode, KNOT_RCODE_NOERROR);
  EXPECT_TRUE(a.aa);
  EXPECT_EQ(a.id, 0x4242);
  EXPECT_THAT(a.rdatas, ElementsAre("10.96.0.20"));
  EXPECT_THAT(a.answers, ElementsAre("web.shop.svc.cluster.local. 5 A 10.96.0.20"));
  EXPECT_THAT(ask("WEB.Shop.svc.cluster.local.", KNOT_RRTYPE_AAAA).rdatas, ElementsAre("fd00::20"));
  EXPECT_THAT(ask("_http._tcp.web.shop.svc.cluster.local.", KNOT_RRTYPE_SRV).rdatas,
              ElementsAre("0 100 80 web.shop.svc.cluster.local."));
  EXPECT_THAT(ask("20.0.96.10.in-addr.arpa.", KNOT_RRTYPE_PTR).rdatas,
              ElementsAre("web.shop.svc.cluster.local."));
  EXPECT_THAT(ask("dns-version.cluster.local.", KNOT_RRTYPE_TXT).rdatas, ElementsAre("\"1.1.0\""));
}

TEST_F(ResponderTest, NxdomainAndNodataCarryTheSoa) {
  store_.upsert_service(service("shop", "web", {"10.96.0.20"}, {port("http", k8s::Protocol::kTcp, 80)}));
  auto nx = ask("nope.shop.svc.cluster.local.", KNOT_RRTYPE_A);
  EXPECT_EQ(nx.rcode, KNOT_RCODE_NXDOMAIN);
  EXPECT_TRUE(nx.aa);
  ASSERT_EQ(nx.authority.size(), 1u);
  EXPECT_NE(nx.authority[0].find("cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local."),
            std::string::npos);
  auto nodata = ask("web.shop.svc.cluster.local.", KNOT_RRTYPE_AAAA);
  EXPECT_EQ(nodata.rcode, KNOT_RCODE_NOERROR);
  EXPECT_TRUE(nodata.answers.empty());
  EXPECT_EQ(nodata.authority.size(), 1u);
  // Empty non-terminals exist: the namespace and the SRV protocol level.
  EXPECT_EQ(ask("shop.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NOERROR);
  EXPECT_EQ(ask("_tcp.web.shop.svc.cluster.local.", KNOT_RRTYPE_SRV).rcode, KNOT_RCODE_NOERROR);
  EXPECT_EQ(ask("other.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  // Deleting the service removes its names and the namespace's.
  store_.delete_service("shop", "web");
  EXPECT_EQ(ask("web.shop.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  EXPECT_EQ(ask("shop.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  EXPECT_EQ(ask("20.0.96.10.in-addr.arpa.", KNOT_RRTYPE_PTR).rcode, -1);  // not ours any more: forwarded
  EXPECT_EQ(last_.verdict, Verdict::kForward);
  EXPECT_EQ(store_.service_count(), 0u);
}

TEST_F(ResponderTest, HeadlessServiceAnswersReadyEndpointsHostnamesAndSrv) {
  store_.upsert_service(service("db", "pg", {"None"}, {port("sql", k8s::Protocol::kTcp, 5432)}));
  k8s::EndpointPort p;
  p.name = "sql";
  p.port = 5432;
  store_.upsert_slice(
      slice("db", "pg", "pg-abc",
            {{"10.244.1.5", true, "pg-0"}, {"10.244.2.6", true, ""}, {"10.244.3.7", false, "pg-2"}}, {p}));
  EXPECT_THAT(ask("pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas,
              UnorderedElementsAre("10.244.1.5", "10.244.2.6"));
  EXPECT_THAT(ask("pg-0.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.1.5"));
  EXPECT_THAT(ask("10-244-2-6.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.2.6"));
  EXPECT_EQ(ask("pg-2.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);  // not ready
  EXPECT_THAT(ask("_sql._tcp.pg.db.svc.cluster.local.", KNOT_RRTYPE_SRV).rdatas,
              UnorderedElementsAre("0 50 5432 pg-0.pg.db.svc.cluster.local.",
                                   "0 50 5432 10-244-2-6.pg.db.svc.cluster.local."));
  EXPECT_THAT(ask("5.1.244.10.in-addr.arpa.", KNOT_RRTYPE_PTR).rdatas,
              ElementsAre("pg-0.pg.db.svc.cluster.local."));
  // publishNotReadyAddresses publishes the not-ready one too.
  auto svc = service("db", "pg", {"None"}, {port("sql", k8s::Protocol::kTcp, 5432)});
  svc.publish_not_ready_addresses = true;
  store_.upsert_service(svc);
  EXPECT_THAT(ask("pg-2.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.3.7"));
  // A headless service without endpoints: the name exists, no data.
  store_.delete_slice(slice("db", "pg", "pg-abc", {}));
  auto empty = ask("pg.db.svc.cluster.local.", KNOT_RRTYPE_A);
  EXPECT_EQ(empty.rcode, KNOT_RCODE_NOERROR);
  EXPECT_TRUE(empty.answers.empty());
}

// A relist of an informer that keeps no objects deletes a slice by namespace and name alone (no
// service-name label); a slice relabelled to another Service leaves the old one's names.
TEST_F(ResponderTest, SliceDeletedByNameAndRelabelled) {
  store_.upsert_service(service("db", "pg", {"None"}, {port("sql", k8s::Protocol::kTcp, 5432)}));
  store_.upsert_service(service("db", "pg2", {"None"}, {port("sql", k8s::Protocol::kTcp, 5432)}));
  store_.upsert_slice(slice("db", "pg", "pg-abc", {{"10.244.1.5", true, "pg-0"}}, {}));
  EXPECT_THAT(ask("pg-0.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.1.5"));
  store_.upsert_slice(slice("db", "pg2", "pg-abc", {{"10.244.1.5", true, "pg-0"}}, {}));
  EXPECT_EQ(ask("pg-0.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN) << "moved";
  EXPECT_THAT(ask("pg-0.pg2.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.1.5"));
  store_.delete_slice("other", "pg-abc");
  EXPECT_THAT(ask("pg-0.pg2.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.1.5"));
  store_.delete_slice("db", "pg-abc");
  EXPECT_EQ(ask("pg-0.pg2.db.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  EXPECT_EQ(ask("pg2.db.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NOERROR)
      << "no endpoints, no data";
}

// The store keeps a Service's slices only while they can matter (headless, or the Service not seen
// yet): slices that come first are kept until the Service says which it is.
TEST_F(ResponderTest, SlicesBeforeTheirServiceAndOfClusterIpServices) {
  k8s::EndpointPort p;
  p.name = "sql";
  p.port = 5432;
  store_.upsert_slice(slice("db", "pg", "pg-abc", {{"10.244.1.5", true, "pg-0"}}, {p}));
  EXPECT_EQ(ask("pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN) << "no Service yet";
  store_.upsert_service(service("db", "pg", {"None"}, {port("sql", k8s::Protocol::kTcp, 5432)}));
  EXPECT_THAT(ask("pg-0.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.1.5"));

  store_.upsert_slice(slice("shop", "web", "web-abc", {{"10.244.1.9", true, ""}}, {}));
  store_.upsert_service(service("shop", "web", {"10.96.0.20"}, {port("http", k8s::Protocol::kTcp, 80)}));
  store_.upsert_slice(slice("shop", "web", "web-abc", {{"10.244.1.10", true, ""}}, {}));
  EXPECT_THAT(ask("web.shop.svc.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.96.0.20"));
  EXPECT_EQ(ask("10-244-1-10.web.shop.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  store_.delete_slice(slice("shop", "web", "web-abc", {}));
  store_.delete_service("shop", "web");
  EXPECT_EQ(ask("web.shop.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  EXPECT_EQ(store_.service_count(), 1u) << "only db/pg is left";
  store_.delete_slice(slice("db", "pg", "pg-abc", {}));
  store_.delete_service("db", "pg");
  EXPECT_EQ(store_.service_count(), 0u);
  EXPECT_EQ(ask("pg-0.pg.db.svc.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, ExternalNameIsACname) {
  auto svc = service("shop", "ext", {});
  svc.type = k8s::ServiceType::kExternalName;
  svc.external_name = "db.example.org";
  store_.upsert_service(svc);
  auto a = ask("ext.shop.svc.cluster.local.", KNOT_RRTYPE_A);
  EXPECT_EQ(a.rcode, KNOT_RCODE_NOERROR);
  EXPECT_THAT(a.answers, ElementsAre("ext.shop.svc.cluster.local. 5 CNAME db.example.org."));
  // A CNAME into the zone is followed.
  store_.upsert_service(service("shop", "web", {"10.96.0.20"}));
  svc.meta.name = "alias";
  svc.external_name = "web.shop.svc.cluster.local";
  store_.upsert_service(svc);
  EXPECT_THAT(ask("alias.shop.svc.cluster.local.", KNOT_RRTYPE_A).rdatas,
              ElementsAre("web.shop.svc.cluster.local.", "10.96.0.20"));
}

TEST_F(ResponderTest, PodNamesAnswerTheAddressTheySpell) {
  EXPECT_THAT(ask("10-244-1-5.shop.pod.cluster.local.", KNOT_RRTYPE_A).rdatas, ElementsAre("10.244.1.5"));
  EXPECT_THAT(ask("fd00--5.shop.pod.cluster.local.", KNOT_RRTYPE_AAAA).rdatas, ElementsAre("fd00::5"));
  EXPECT_EQ(ask("10-244-1-5.shop.pod.cluster.local.", KNOT_RRTYPE_AAAA).answers.size(), 0u);
  EXPECT_EQ(ask("10-244-1-5.shop.pod.cluster.local.", KNOT_RRTYPE_AAAA).rcode, KNOT_RCODE_NOERROR);
  EXPECT_EQ(ask("nothing.shop.pod.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
  EXPECT_EQ(ask("999-1-1-1.shop.pod.cluster.local.", KNOT_RRTYPE_A).rcode, KNOT_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, OtherNamesAreForwarded) {
  auto q = make_query("www.example.org.", KNOT_RRTYPE_A);
  auto a = responder_.answer(q, false, out_.data());
  EXPECT_EQ(a.verdict, Verdict::kForward);
  EXPECT_EQ(to_text(a.question.name), "www.example.org.");
}

TEST_F(ResponderTest, LargeAnswersAreTruncatedOverUdpAndWholeOverTcp) {
  store_.upsert_service(service("big", "many", {"None"}));
  std::vector<Ep> eps;
  for (int i = 0; i < 100; ++i) eps.push_back({"10.244.9." + std::to_string(i + 1), true, ""});
  store_.upsert_slice(slice("big", "many", "many-1", eps));
  auto udp = ask("many.big.svc.cluster.local.", KNOT_RRTYPE_A);
  EXPECT_TRUE(udp.tc);
  EXPECT_LE(last_.size, 512u);
  auto edns = ask("many.big.svc.cluster.local.", KNOT_RRTYPE_A, false, true, 4096);
  EXPECT_TRUE(edns.tc || edns.answers.size() == 100);
  EXPECT_LE(last_.size, kMaxUdpPayload);
  EXPECT_TRUE(edns.edns);
  auto tcp = ask("many.big.svc.cluster.local.", KNOT_RRTYPE_A, true);
  EXPECT_FALSE(tcp.tc);
  EXPECT_EQ(tcp.answers.size(), 100u);
}

TEST_F(ResponderTest, MalformedQueriesGetFormerrOrSilence) {
  std::vector<uint8_t> tiny{1, 2, 3};
  EXPECT_EQ(responder_.answer(tiny, false, out_.data()).verdict, Verdict::kDrop);
  auto q = make_query("web.shop.svc.cluster.local.", KNOT_RRTYPE_A);
  auto response = q;
  response[2] |= 0x80;  // QR: a response is never answered
  EXPECT_EQ(responder_.answer(response, false, out_.data()).verdict, Verdict::kDrop);
  auto cut = q;
  cut.resize(q.size() - 3);
  auto a = responder_.answer(cut, false, out_.data());
  EXPECT_EQ(a.verdict, Verdict::kAnswer);
  EXPECT_EQ(a.rcode, KNOT_RCODE_FORMERR);
  // A compression pointer to itself in the question.
  std::vector<uint8_t> loop{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  EXPECT_EQ(responder_.answer(loop, false, out_.data()).rcode, KNOT_RCODE_FORMERR);
  auto two = q;
  two[5] = 2;  // two questions
  EXPECT_EQ(responder_.answer(two, false, out_.data()).rcode, KNOT_RCODE_FORMERR);
  auto notify = q;
  notify[2] = static_cast<uint8_t>((notify[2] & 0x87) | (4 << 3));
  EXPECT_EQ(responder_.answer(notify, false, out_.data()).rcode, KNOT_RCODE_NOTIMPL);
  auto chaos = q;
  chaos[chaos.size() - 1] = 3;  // class CH
  EXPECT_EQ(responder_.answer(chaos, false, out_.data()).rcode, KNOT_RCODE_REFUSED);
  EXPECT_EQ(ask("cluster.local.", KNOT_RRTYPE_AXFR, true).rcode, KNOT_RCODE_REFUSED);
  std::vector<uint8_t> huge(65535, 0);
  huge[5] = 1;
  EXPECT_EQ(responder_.answer(huge, true, out_.data()).rcode, KNOT_RCODE_FORMERR);
  std::vector<uint8_t> empty;
  EXPECT_EQ(responder_.answer(empty, false, out_.data()).verdict, Verdict::kDrop);
}

TEST_F(ResponderTest, EdnsVersionAboveZeroIsBadvers) {
  auto q = make_query("web.shop.svc.cluster.local.", KNOT_RRTYPE_A, 1, true);
  q[q.size() - 5] = 1;  // OPT TTL = ext-rcode, version, flags: version 1
  auto a = responder_.answer(q, false, out_.data());
  EXPECT_EQ(a.rcode, KNOT_RCODE_BADVERS);
  EXPECT_EQ(parse(out_.data(), a.size).rcode, KNOT_RCODE_BADVERS);
}

// The rdata of one RR set, each as a string.
std::vector<std::string> rdatas(const knot_rrset_t& rr) {
  std::vector<std::string> out;
  const knot_rdata_t* d = rr.rrs.rdata;
  for (uint16_t i = 0; i < rr.rrs.count; ++i) {
    out.emplace_back(reinterpret_cast<const char*>(d->data), d->len);
    d = reinterpret_cast<const knot_rdata_t*>(reinterpret_cast<const uint8_t*>(d) + knot_rdata_size(d->len));
  }
  return out;
}

TEST(NodeTest, RecordsAreCountedPerSourceSortedAndGroupedByType) {
  using namespace std::literals;
  const WireName owner = to_wire("x.cluster.local");
  Node n(owner);
  // Odd and even lengths (knot pads rdata to even), two types, one record given by two sources.
  n.apply({{KNOT_RRTYPE_TXT,
            "\x03"
            "abc"sv,
            1},
           {KNOT_RRTYPE_A, "\x0a\x00\x00\x02"sv, 1}});
  n.apply({{KNOT_RRTYPE_A, "\x0a\x00\x00\x01"sv, 1}, {KNOT_RRTYPE_A, "\x0a\x00\x00\x02"sv, 1}});
  knot_rrset_t rr;
  ASSERT_TRUE(n.rrset(KNOT_RRTYPE_A, 5, rr));
  EXPECT_EQ(rr.ttl, 5u);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(rr.owner), knot_dname_size(rr.owner)), owner);
  EXPECT_EQ(n.name(), owner);
  EXPECT_EQ(rr.rrs.count, 2);
  EXPECT_EQ(rr.rrs.size, 2 * knot_rdata_size(4));
  EXPECT_THAT(rdatas(rr), ElementsAre("\x0a\x00\x00\x01"s, "\x0a\x00\x00\x02"s));
  ASSERT_TRUE(n.rrset(KNOT_RRTYPE_TXT, 5, rr));
  EXPECT_THAT(rdatas(rr), ElementsAre("\x03"
                                      "abc"s));
  EXPECT_FALSE(n.rrset(KNOT_RRTYPE_AAAA, 5, rr));
  std::vector<uint16_t> types;
  n.each_rrset(5, [&](const knot_rrset_t& r) { types.push_back(r.type); });
  EXPECT_THAT(types, ElementsAre(KNOT_RRTYPE_A, KNOT_RRTYPE_TXT));

  // 10.0.0.2 came from two sources: it stays until both withdraw it.
  n.apply({{KNOT_RRTYPE_A, "\x0a\x00\x00\x02"sv, -1},
           {KNOT_RRTYPE_TXT,
            "\x03"
            "abc"sv,
            -1}});
  ASSERT_TRUE(n.rrset(KNOT_RRTYPE_A, 5, rr));
  EXPECT_THAT(rdatas(rr), ElementsAre("\x0a\x00\x00\x01"s, "\x0a\x00\x00\x02"s));
  EXPECT_FALSE(n.rrset(KNOT_RRTYPE_TXT, 5, rr));
  n.apply({{KNOT_RRTYPE_A, "\x0a\x00\x00\x02"sv, -1}, {KNOT_RRTYPE_A, "\x0a\x00\x00\x09"sv, -1}});
  ASSERT_TRUE(n.rrset(KNOT_RRTYPE_A, 5, rr));
  EXPECT_THAT(rdatas(rr), ElementsAre("\x0a\x00\x00\x01"s));
  n.apply({{KNOT_RRTYPE_A, "\x0a\x00\x00\x01"sv, -1}});
  EXPECT_FALSE(n.has_data());
  EXPECT_TRUE(n.unused());
}

TEST(NodeTest, ALargeSetIsBuiltInOneRebuild) {
  // 20,000 AAAA records of one name (a headless Service's endpoints), added in one change.
  std::vector<std::string> data;
  for (int i = 0; i < 20000; ++i) {
    std::string d(16, '\0');
    d[14] = static_cast<char>(i >> 8);
    d[15] = static_cast<char>(i & 0xff);
    data.push_back(d);
  }
  std::vector<Node::Change> changes;
  for (const auto& d : data) changes.push_back({KNOT_RRTYPE_AAAA, d, 1});
  Node n(to_wire("y.cluster.local"));
  n.apply(changes);
  knot_rrset_t rr;
  ASSERT_TRUE(n.rrset(KNOT_RRTYPE_AAAA, 5, rr));
  EXPECT_EQ(rr.rrs.count, 20000);
  EXPECT_EQ(rr.rrs.size, 20000 * knot_rdata_size(16));
}

TEST(AnswerCacheTest, KeepsPositiveAndNegativeAnswersForTheirTtl) {
  RecordStore store;
  Responder r(store);
  std::vector<uint8_t> out(kMaxMessage);
  store.upsert_service(service("shop", "web", {"10.96.0.20"}));
  auto q = make_query("web.shop.svc.cluster.local.", KNOT_RRTYPE_A);
  auto a = r.answer(q, false, out.data());
  AnswerCache cache({.capacity = 2, .max_ttl = 30, .max_denial_ttl = 5});
  auto now = AnswerCache::Clock::now();
  EXPECT_TRUE(cache.put("k", {out.data(), a.size}, now));
  std::vector<uint8_t> got(kMaxMessage);
  bool denial = true;
  size_t n = cache.get("k", now + std::chrono::seconds(2), got.data(), denial);
  ASSERT_EQ(n, a.size);
  EXPECT_FALSE(denial);
  EXPECT_THAT(parse(got.data(), n).answers, ElementsAre("web.shop.svc.cluster.local. 3 A 10.96.0.20"));
  EXPECT_EQ(cache.get("k", now + std::chrono::seconds(6), got.data(), denial), 0u);  // TTL 5 passed
  auto nq = make_query("x.shop.svc.cluster.local.", KNOT_RRTYPE_A);
  auto na = r.answer(nq, false, out.data());
  EXPECT_TRUE(cache.put("n", {out.data(), na.size}, now));
  EXPECT_GT(cache.get("n", now, got.data(), denial), 0u);
  EXPECT_TRUE(denial);
  cache.put("k2", {out.data(), na.size}, now);
  cache.put("k3", {out.data(), na.size}, now);
  EXPECT_EQ(cache.size(), 2u);  // bounded
}

}  // namespace
}  // namespace podnet::dns
