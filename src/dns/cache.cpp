#include "dns/cache.h"

#include <algorithm>
#include <cstring>

#include "dns/arena.h"
#include "dns/knot.h"

namespace podnet::dns {

std::string AnswerCache::key(std::string_view lower_qname, uint16_t qtype, uint16_t qclass, bool edns) {
  std::string k(lower_qname);
  k.push_back(static_cast<char>(qtype >> 8));
  k.push_back(static_cast<char>(qtype));
  k.push_back(static_cast<char>(qclass >> 8));
  k.push_back(static_cast<char>(qclass));
  k.push_back(edns ? 1 : 0);
  return k;
}

bool AnswerCache::put(const std::string& key, std::span<const uint8_t> reply, Clock::time_point now) {
  if (reply.size() < KNOT_WIRE_HEADER_SIZE || reply.size() > 65535) return false;
  uint8_t rcode = knot_wire_get_rcode(reply.data());
  if (knot_wire_get_tc(reply.data()) || (rcode != KNOT_RCODE_NOERROR && rcode != KNOT_RCODE_NXDOMAIN))
    return false;
  Entry e;
  e.wire.assign(reply.begin(), reply.end());
  Arena arena(16 * 1024);
  knot_pkt_t* p = knot_pkt_new(e.wire.data(), static_cast<uint16_t>(e.wire.size()), arena.mm());
  if (!p || knot_pkt_parse(p, KNOT_PF_NOCANON) != KNOT_EOK) return false;
  const knot_pktsection_t* answer = knot_pkt_section(p, KNOT_ANSWER);
  const knot_pktsection_t* authority = knot_pkt_section(p, KNOT_AUTHORITY);
  uint32_t ttl = UINT32_MAX;
  if (rcode == KNOT_RCODE_NOERROR && answer->count > 0) {
    for (uint16_t i = 0; i < answer->count; ++i) ttl = std::min(ttl, knot_pkt_rr(answer, i)->ttl);
    ttl = std::min(ttl, opts_.max_ttl);
  } else {
    e.denial = true;
    for (uint16_t i = 0; i < authority->count; ++i) {
      const knot_rrset_t* rr = knot_pkt_rr(authority, i);
      if (rr->type == KNOT_RRTYPE_SOA && rr->rrs.count > 0)
        ttl = std::min({ttl, rr->ttl, knot_soa_minimum(rr->rrs.rdata)});
    }
    if (ttl == UINT32_MAX) return false;  // no SOA: nothing says how long the denial holds
    ttl = std::min(ttl, opts_.max_denial_ttl);
  }
  if (ttl == 0) return false;
  for (int s = KNOT_ANSWER; s <= KNOT_ADDITIONAL; ++s) {
    const knot_pktsection_t* sec = knot_pkt_section(p, static_cast<knot_section_t>(s));
    for (uint16_t i = 0; i < sec->count; ++i) {
      const knot_rrset_t* rr = knot_pkt_rr(sec, i);
      if (rr->type == KNOT_RRTYPE_OPT) continue;
      uint16_t pos = knot_pkt_rr_offset(sec, i);
      int n = knot_dname_wire_check(e.wire.data() + pos, e.wire.data() + e.wire.size(), e.wire.data());
      if (n <= 0 || static_cast<size_t>(pos) + static_cast<size_t>(n) + 8 > e.wire.size()) return false;
      e.ttl_offsets.push_back(static_cast<uint16_t>(pos + n + 4));
      e.ttls.push_back(rr->ttl);
    }
  }
  e.stored = now;
  e.expires = now + std::chrono::seconds(ttl);
  lru_.put(key, std::move(e));
  return true;
}

size_t AnswerCache::get(const std::string& key, Clock::time_point now, uint8_t* out, bool& denial) {
  Entry* e = lru_.get(key);
  if (!e || now >= e->expires) return 0;
  std::memcpy(out, e->wire.data(), e->wire.size());
  auto age = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now - e->stored).count());
  auto remaining = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(e->expires - now + std::chrono::milliseconds(999))
          .count());
  for (size_t i = 0; i < e->ttl_offsets.size(); ++i) {
    // Never more than the cache itself keeps it: a client must come back when we would.
    uint32_t ttl = std::min(e->ttls[i] > age ? e->ttls[i] - age : 0, remaining);
    knot_wire_write_u32(out + e->ttl_offsets[i], ttl);
  }
  denial = e->denial;
  return e->wire.size();
}

}  // namespace podnet::dns
