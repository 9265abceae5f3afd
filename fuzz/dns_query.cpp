// The DNS server's untrusted input: a query as it arrives over UDP or TCP (first input byte: bit 0
// = TCP), answered from a small store; and the same bytes as an upstream reply offered to the
// forwarder's cache (which parses it to find TTLs). The answer must parse again and carry the
// query's ID.
#include "dns/answer.h"
#include "dns/cache.h"
#include "dns/knot.h"
#include "dns/store.h"
#include "fuzz_target.h"

using namespace podnet;
using namespace podnet::dns;

namespace {

const RecordStore& store() {
  static RecordStore* s = [] {
    auto* st = new RecordStore();
    k8s::Service web;
    web.meta = {.name = "web", .namespace_ = "shop"};
    web.cluster_ips = {*parse_ip("10.96.0.20"), *parse_ip("fd00::20")};
    web.ports = {{.name = "http", .protocol = k8s::Protocol::kTcp, .port = 80}};
    st->upsert_service(web);
    k8s::Service ext;
    ext.meta = {.name = "ext", .namespace_ = "shop"};
    ext.type = k8s::ServiceType::kExternalName;
    ext.external_name = "web.shop.svc.cluster.local";
    st->upsert_service(ext);
    k8s::Service pg;
    pg.meta = {.name = "pg", .namespace_ = "db"};
    pg.headless = true;
    st->upsert_service(pg);
    k8s::EndpointSlice slice;
    slice.meta = {.name = "pg-1", .namespace_ = "db", .labels = {{k8s::kServiceNameLabel, "pg"}}};
    for (int i = 1; i <= 40; ++i) {
      k8s::Endpoint ep;
      ep.addresses = {"10.244.1." + std::to_string(i)};
      ep.hostname = i % 2 ? "pg-" + std::to_string(i) : "";
      slice.endpoints.push_back(ep);
    }
    slice.ports = {{.name = "sql", .protocol = k8s::Protocol::kTcp, .port = 5432}};
    st->upsert_slice(slice);
    return st;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > kMaxMessage + 1) return 0;
  static Responder responder(store());
  static std::vector<uint8_t> out(kMaxMessage);
  bool tcp = data[0] & 1;
  std::span<const uint8_t> query(data + 1, size - 1);
  Answered a = responder.answer(query, tcp, out.data());
  if (a.verdict == Verdict::kAnswer) {
    if (a.size < KNOT_WIRE_HEADER_SIZE || a.size > (tcp ? kMaxMessage : 1232)) __builtin_trap();
    if (knot_wire_get_id(out.data()) != knot_wire_get_id(query.data())) __builtin_trap();
  }
  if (a.verdict == Verdict::kForward && a.question.name.empty()) __builtin_trap();
  (void)Responder::error_reply(query, KNOT_RCODE_SERVFAIL, out.data());
  static AnswerCache cache({.capacity = 8});
  if (cache.put("k", query, AnswerCache::Clock::now())) {
    bool denial = false;
    if (cache.get("k", AnswerCache::Clock::now(), out.data(), denial) != query.size()) __builtin_trap();
  }
  return 0;
}
