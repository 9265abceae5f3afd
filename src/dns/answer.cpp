// Decisions per RFC 1035/2308/6891 and the Kubernetes DNS specification:
// - no reply to responses or to anything shorter than a header (nothing to answer to);
// - opcodes other than QUERY: NOTIMP; not exactly one question, records in the answer or
//   authority section, more than two additional records, or a parse failure: FORMERR;
// - classes other than IN, zone transfers, TSIG: REFUSED; EDNS version > 0: BADVERS;
// - the cluster zone is ours (AA): a missing name is NXDOMAIN, a name without the type NODATA,
//   both with the zone's SOA in the authority section (its minimum = TTL, RFC 2308);
// - pod names `a-b-c-d.<ns>.pod.<zone>` answer the address they spell (CoreDNS `pods insecure`);
// - PTR names we hold are answered; every other name is forwarded.
#include "dns/answer.h"

#include <cstring>

namespace podnet::dns {

namespace {

constexpr int kMaxCnameChain = 8;

std::string_view view(const knot_dname_t* d) {
  return {reinterpret_cast<const char*>(d), knot_dname_size(d)};
}

}  // namespace

Responder::Responder(const RecordStore& store) : store_(store) {
  knot_edns_init(&opt_, kMaxUdpPayload, 0, 0, nullptr);
}

Responder::~Responder() {
  knot_rrset_clear(&opt_, nullptr);
}

size_t Responder::error_reply(std::span<const uint8_t> q, uint8_t rcode, uint8_t* out) {
  if (q.size() < KNOT_WIRE_HEADER_SIZE) return 0;
  size_t len = KNOT_WIRE_HEADER_SIZE;
  std::memcpy(out, q.data(), KNOT_WIRE_HEADER_SIZE);
  uint16_t qd = 0;
  if (knot_wire_get_qdcount(q.data()) == 1) {
    int n = knot_dname_wire_check(q.data() + len, q.data() + q.size(), nullptr);
    if (n > 0 && static_cast<size_t>(n) + 4 <= q.size() - len) {
      std::memcpy(out + len, q.data() + len, n + 4);
      len += n + 4;
      qd = 1;
    }
  }
  uint8_t f1 = knot_wire_get_flags1(q.data());
  out[2] = static_cast<uint8_t>(0x80 | (f1 & 0x79));     // QR, opcode, RD kept
  out[3] = static_cast<uint8_t>(0x80 | (rcode & 0x0f));  // RA
  knot_wire_set_qdcount(out, qd);
  knot_wire_set_ancount(out, 0);
  knot_wire_set_nscount(out, 0);
  knot_wire_set_arcount(out, 0);
  return len;
}

Answered Responder::answer(std::span<const uint8_t> wire, bool tcp, uint8_t* out) {
  Answered a;
  if (wire.size() < KNOT_WIRE_HEADER_SIZE || wire.size() > kMaxMessage) return a;
  const uint8_t* h = wire.data();
  if (knot_wire_get_qr(h)) return a;  // a response: never answer one (reflection loops)
  auto fail = [&](uint8_t rcode) {
    a.verdict = Verdict::kAnswer;
    a.rcode = rcode;
    a.size = error_reply(wire, rcode, out);
    return a;
  };
  if (knot_wire_get_opcode(h) != KNOT_OPCODE_QUERY) return fail(KNOT_RCODE_NOTIMPL);
  if (knot_wire_get_qdcount(h) != 1 || knot_wire_get_ancount(h) != 0 || knot_wire_get_nscount(h) != 0 ||
      knot_wire_get_arcount(h) > 2)
    return fail(KNOT_RCODE_FORMERR);

  arena_.reset();
  // libknot reads the query in place and never writes it.
  knot_pkt_t* q =
      knot_pkt_new(const_cast<uint8_t*>(wire.data()), static_cast<uint16_t>(wire.size()), arena_.mm());
  if (!q || knot_pkt_parse(q, 0) != KNOT_EOK) return fail(KNOT_RCODE_FORMERR);
  if (knot_pkt_has_tsig(q)) return fail(KNOT_RCODE_REFUSED);

  Question& qs = a.question;
  qs.name = view(knot_pkt_qname(q));  // no copy: answering must not allocate
  qs.type = knot_pkt_qtype(q);
  qs.klass = knot_pkt_qclass(q);
  qs.edns = knot_pkt_has_edns(q);
  if (qs.edns) qs.udp_size = std::max<uint16_t>(512, knot_edns_get_payload(q->opt_rr));

  size_t max = tcp ? kMaxMessage : qs.edns ? std::min<size_t>(qs.udp_size, kMaxUdpPayload) : 512;
  knot_pkt_t* r = knot_pkt_new(out, static_cast<uint16_t>(max), arena_.mm());
  if (!r || knot_pkt_init_response(r, q) != KNOT_EOK) return fail(KNOT_RCODE_SERVFAIL);
  knot_wire_set_ra(r->wire);
  auto finish = [&](uint16_t rcode) {
    a.verdict = Verdict::kAnswer;
    a.rcode = rcode;
    knot_wire_set_rcode(r->wire, rcode & 0x0f);
    if (qs.edns) {
      knot_pkt_reclaim(r, r->reserved);
      knot_edns_set_ext_rcode(&opt_, static_cast<uint8_t>(rcode >> 4));
      knot_pkt_begin(r, KNOT_ADDITIONAL);
      knot_pkt_put(r, KNOT_COMPR_HINT_NONE, &opt_, 0);
      knot_edns_set_ext_rcode(&opt_, 0);
    }
    a.size = knot_pkt_size(r);
    return a;
  };
  if (qs.edns) {
    if (knot_pkt_reserve(r, static_cast<uint16_t>(knot_edns_wire_size(&opt_))) != KNOT_EOK)
      return fail(KNOT_RCODE_SERVFAIL);
    if (knot_edns_get_version(q->opt_rr) != 0) return finish(KNOT_RCODE_BADVERS);
  }
  if (qs.klass != KNOT_CLASS_IN) return finish(KNOT_RCODE_REFUSED);
  if (qs.type == KNOT_RRTYPE_AXFR || qs.type == KNOT_RRTYPE_IXFR) return finish(KNOT_RCODE_REFUSED);
  if (qs.type == KNOT_RRTYPE_OPT) return finish(KNOT_RCODE_FORMERR);

  const WireName& zone = store_.zone();
  const bool ours = in_zone(qs.name, zone);
  auto reader = store_.read();
  std::string_view name = qs.name;
  const Node* node = reader.find(name);
  if (!ours) {
    // Reverse names of services and endpoints; everything else belongs upstream.
    knot_rrset_t rr;
    if (!node || !node->rrset(qs.type, store_.ttl(), rr)) {
      a.verdict = Verdict::kForward;
      return a;
    }
    knot_wire_set_aa(r->wire);
    a.authoritative = true;
    knot_pkt_begin(r, KNOT_ANSWER);
    knot_pkt_put(r, KNOT_COMPR_HINT_QNAME, &rr, 0);
    return finish(KNOT_RCODE_NOERROR);
  }

  knot_wire_set_aa(r->wire);
  a.authoritative = true;
  knot_pkt_begin(r, KNOT_ANSWER);
  uint16_t hint = KNOT_COMPR_HINT_QNAME;
  knot_rrset_t synthesized;
  for (int hop = 0;; ++hop) {
    if (!node) {
      // `a-b-c-d.<ns>.pod.<zone>`: the owner is exactly three labels below the zone, under "pod".
      std::string_view pod_zone = parent(parent(name));
      auto ip = label_count(name) == label_count(zone) + 3 && pod_zone.size() > 4 &&
                        pod_zone.substr(0, 4) == std::string_view("\3pod", 4) && parent(pod_zone) == zone
                    ? undashed(name.substr(1, static_cast<uint8_t>(name[0])))
                    : std::nullopt;
      if (!ip) {
        if (hop > 0) break;  // a CNAME into the zone that leads nowhere: the CNAME is the answer
        knot_pkt_begin(r, KNOT_AUTHORITY);
        knot_pkt_put(r, KNOT_COMPR_HINT_NONE, store_.soa(), KNOT_PF_SOAMINTTL);
        return finish(KNOT_RCODE_NXDOMAIN);
      }
      uint16_t type = ip->is_v4() ? KNOT_RRTYPE_A : KNOT_RRTYPE_AAAA;
      if (qs.type == type || qs.type == KNOT_RRTYPE_ANY) {
        knot_rrset_init(&synthesized,
                        const_cast<knot_dname_t*>(reinterpret_cast<const knot_dname_t*>(name.data())), type,
                        KNOT_CLASS_IN, store_.ttl());
        if (ip->is_v4()) {
          auto b = ip->to_v4().to_bytes();
          knot_rrset_add_rdata(&synthesized, b.data(), 4, arena_.mm());
        } else {
          auto b = ip->to_v6().to_bytes();
          knot_rrset_add_rdata(&synthesized, b.data(), 16, arena_.mm());
        }
        knot_pkt_put(r, hint, &synthesized, 0);
        return finish(KNOT_RCODE_NOERROR);
      }
      break;  // NODATA
    }
    if (qs.type == KNOT_RRTYPE_ANY) {
      node->each_rrset(store_.ttl(), [&](const knot_rrset_t& rr) { knot_pkt_put(r, hint, &rr, 0); });
      if (node->has_data()) return finish(KNOT_RCODE_NOERROR);
      break;
    }
    knot_rrset_t rr;
    if (node->rrset(qs.type, store_.ttl(), rr)) {
      knot_pkt_put(r, hint, &rr, 0);
      return finish(KNOT_RCODE_NOERROR);
    }
    knot_rrset_t cname;
    if (!node->rrset(KNOT_RRTYPE_CNAME, store_.ttl(), cname)) break;
    if (knot_pkt_put(r, hint, &cname, 0) != KNOT_EOK) return finish(KNOT_RCODE_NOERROR);  // truncated
    // Follow the chain while it stays in the zone; outside, the client's resolver follows it.
    std::string_view target(reinterpret_cast<const char*>(cname.rrs.rdata->data), cname.rrs.rdata->len);
    if (!in_zone(target, zone) || hop + 1 >= kMaxCnameChain) return finish(KNOT_RCODE_NOERROR);
    name = target;
    node = reader.find(name);
    hint = KNOT_COMPR_HINT_NONE;
  }
  // NODATA (or a CNAME chain ending in it).
  knot_pkt_begin(r, KNOT_AUTHORITY);
  knot_pkt_put(r, KNOT_COMPR_HINT_NONE, store_.soa(), KNOT_PF_SOAMINTTL);
  return finish(KNOT_RCODE_NOERROR);
}

}  // namespace podnet::dns
