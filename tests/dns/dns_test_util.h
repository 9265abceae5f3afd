// Building queries and reading answers with libknot, for the DNS tests.
#pragma once

#include <string>
#include <vector>

#include "common/ip.h"
#include "dns/knot.h"
#include "k8s/model.h"

namespace podnet::dns::dnstest {

inline std::vector<uint8_t> make_query(const std::string& name, uint16_t type, uint16_t id = 0x1234,
                                       bool edns = false, uint16_t payload = 1232) {
  std::vector<uint8_t> buf(512);
  knot_pkt_t* p = knot_pkt_new(buf.data(), static_cast<uint16_t>(buf.size()), nullptr);
  knot_wire_set_id(p->wire, id);
  knot_wire_set_rd(p->wire);
  knot_dname_t* d = knot_dname_from_str_alloc(name.c_str());
  knot_pkt_put_question(p, d, KNOT_CLASS_IN, type);
  free(d);
  if (edns) {
    knot_rrset_t opt;
    knot_edns_init(&opt, payload, 0, 0, nullptr);
    knot_pkt_begin(p, KNOT_ADDITIONAL);
    knot_pkt_put(p, KNOT_COMPR_HINT_NONE, &opt, KNOT_PF_FREE);
  }
  buf.resize(p->size);
  knot_pkt_free(p);
  return buf;
}

struct Parsed {
  bool ok = false;
  uint16_t id = 0;
  int rcode = -1;
  bool aa = false, tc = false, edns = false;
  std::vector<std::string> answers;    // "name TTL TYPE rdata" as libknot prints them
  std::vector<std::string> authority;  // likewise
  std::vector<std::string> rdatas;     // answer rdata only ("10.96.0.10", "0 100 80 web.shop...")
};

inline Parsed parse(const uint8_t* data, size_t len) {
  Parsed r;
  std::vector<uint8_t> copy(data, data + len);
  knot_pkt_t* p = knot_pkt_new(copy.data(), static_cast<uint16_t>(copy.size()), nullptr);
  if (!p) return r;
  if (knot_pkt_parse(p, 0) != KNOT_EOK) {
    knot_pkt_free(p);
    return r;
  }
  r.ok = true;
  r.id = knot_wire_get_id(p->wire);
  r.rcode = knot_pkt_ext_rcode(p);
  r.aa = knot_wire_get_aa(p->wire);
  r.tc = knot_wire_get_tc(p->wire);
  r.edns = knot_pkt_has_edns(p);
  knot_dump_style_t style = KNOT_DUMP_STYLE_DEFAULT;
  style.wrap = false;
  style.show_class = false;
  for (int s : {KNOT_ANSWER, KNOT_AUTHORITY}) {
    const knot_pktsection_t* sec = knot_pkt_section(p, static_cast<knot_section_t>(s));
    for (uint16_t i = 0; i < sec->count; ++i) {
      const knot_rrset_t* rr = knot_pkt_rr(sec, i);
      for (uint16_t j = 0; j < rr->rrs.count; ++j) {
        knot_rrset_t one;
        knot_rrset_init(&one, rr->owner, rr->type, rr->rclass, rr->ttl);
        knot_rdata_t* rd = knot_rdataset_at(&rr->rrs, j);
        knot_rrset_add_rdata(&one, rd->data, rd->len, nullptr);
        size_t size = 4096;
        char* bufp = static_cast<char*>(malloc(size));
        int n = knot_rrset_txt_dump(&one, &bufp, &size, &style);
        std::string text = n > 0 ? std::string(bufp, static_cast<size_t>(n)) : "?";
        free(bufp);
        knot_rdataset_clear(&one.rrs, nullptr);
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        for (auto& c : text)
          if (c == '\t') c = ' ';
        for (size_t k; (k = text.find("  ")) != std::string::npos;) text.erase(k, 1);
        (s == KNOT_ANSWER ? r.answers : r.authority).push_back(text);
        if (s == KNOT_ANSWER) {
          size_t k = 0;
          for (int f = 0; f < 3 && k != std::string::npos; ++f) k = text.find(' ', k + (f ? 1 : 0));
          r.rdatas.push_back(k == std::string::npos ? text : text.substr(k + 1));
        }
      }
    }
  }
  knot_pkt_free(p);
  return r;
}

inline k8s::Service service(const std::string& ns, const std::string& name, std::vector<std::string> ips,
                            std::vector<k8s::ServicePort> ports = {}) {
  k8s::Service s;
  s.meta.namespace_ = ns;
  s.meta.name = name;
  for (const auto& ip : ips) {
    if (ip == "None")
      s.headless = true;
    else
      s.cluster_ips.push_back(*parse_ip(ip));
  }
  s.ports = std::move(ports);
  return s;
}

inline k8s::ServicePort port(const std::string& name, k8s::Protocol proto, int32_t number) {
  k8s::ServicePort p;
  p.name = name;
  p.protocol = proto;
  p.port = number;
  return p;
}

struct Ep {
  std::string ip;
  bool ready = true;
  std::string hostname;
};

inline k8s::EndpointSlice slice(const std::string& ns, const std::string& svc, const std::string& name,
                                std::vector<Ep> eps, std::vector<k8s::EndpointPort> ports = {},
                                k8s::AddressType type = k8s::AddressType::kIPv4) {
  k8s::EndpointSlice s;
  s.meta.namespace_ = ns;
  s.meta.name = name;
  s.meta.labels[k8s::kServiceNameLabel] = svc;
  s.address_type = type;
  for (const auto& e : eps) {
    k8s::Endpoint ep;
    ep.addresses = {e.ip};
    ep.conditions.ready = e.ready;
    ep.hostname = e.hostname;
    s.endpoints.push_back(ep);
  }
  s.ports = std::move(ports);
  return s;
}

}  // namespace podnet::dns::dnstest
