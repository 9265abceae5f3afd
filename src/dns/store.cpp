#include "dns/store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

namespace podnet::dns {

namespace {

constexpr uint16_t kExists = 0;

std::string u16(uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}
std::string u32(uint32_t v) {
  return u16(static_cast<uint16_t>(v >> 16)) + u16(static_cast<uint16_t>(v));
}

std::string address_rdata(const IpAddress& ip) {
  if (ip.is_v4()) {
    auto b = ip.to_v4().to_bytes();
    return std::string(b.begin(), b.end());
  }
  auto b = ip.to_v6().to_bytes();
  return std::string(b.begin(), b.end());
}
uint16_t address_type(const IpAddress& ip) {
  return ip.is_v4() ? KNOT_RRTYPE_A : KNOT_RRTYPE_AAAA;
}

std::string srv_rdata(uint16_t weight, uint16_t port, const WireName& target) {
  return u16(0) + u16(weight) + u16(port) + target;
}

WireName prefixed(std::string_view label, std::string_view wire) {
  WireName out;
  out.push_back(static_cast<char>(label.size()));
  for (char c : label) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  out.append(wire);
  return out;
}

std::string proto_label(k8s::Protocol p) {
  return p == k8s::Protocol::kTcp ? "_tcp" : p == k8s::Protocol::kUdp ? "_udp" : "_sctp";
}

bool valid_label(std::string_view l) {
  return !l.empty() && l.size() <= 63 && to_wire(l).size() == l.size() + 2;
}

}  // namespace

RrSet::RrSet(std::string_view owner, uint16_t type, uint32_t ttl) {
  knot_dname_t* o = knot_dname_copy(reinterpret_cast<const knot_dname_t*>(owner.data()), nullptr);
  knot_rrset_init(&rr_, o, type, KNOT_CLASS_IN, ttl);
}
RrSet::RrSet(RrSet&& o) noexcept : rr_(o.rr_) {
  knot_rrset_init_empty(&o.rr_);
}
RrSet& RrSet::operator=(RrSet&& o) noexcept {
  if (this != &o) {
    knot_rrset_clear(&rr_, nullptr);
    rr_ = o.rr_;
    knot_rrset_init_empty(&o.rr_);
  }
  return *this;
}
RrSet::~RrSet() {
  knot_rrset_clear(&rr_, nullptr);
}
void RrSet::add(std::string_view rdata) {
  knot_rrset_add_rdata(&rr_, reinterpret_cast<const uint8_t*>(rdata.data()),
                       static_cast<uint16_t>(rdata.size()), nullptr);
}

ServiceFields service_fields(const k8s::Service& svc) {
  ServiceFields out;
  out.cluster_ips = svc.cluster_ips;
  out.ports.reserve(svc.ports.size());
  for (const auto& p : svc.ports)
    out.ports.push_back({.name = p.name, .protocol = p.protocol, .port = p.port});
  out.external_name = svc.external_name;
  out.type = svc.type;
  out.headless = svc.headless;
  out.publish_not_ready_addresses = svc.publish_not_ready_addresses;
  return out;
}

std::vector<Record> service_records(std::string_view namespace_, std::string_view name,
                                    const ServiceFields& svc,
                                    const std::vector<const k8s::EndpointSlice*>& slices,
                                    std::string_view zone_wire) {
  std::vector<Record> out;
  if (!valid_label(name) || !valid_label(namespace_)) return out;
  const WireName svc_zone = prefixed("svc", zone_wire);
  const WireName base = prefixed(name, prefixed(namespace_, svc_zone));
  out.push_back({base, kExists, {}});

  if (svc.type == k8s::ServiceType::kExternalName) {
    WireName target = to_wire(svc.external_name);
    if (!target.empty() && target.size() > 1) out.push_back({base, KNOT_RRTYPE_CNAME, target});
  } else if (!svc.headless) {
    for (const auto& ip : svc.cluster_ips) {
      out.push_back({base, address_type(ip), address_rdata(ip)});
      out.push_back({reverse_name(ip), KNOT_RRTYPE_PTR, base});
    }
    for (const auto& p : svc.ports)
      if (valid_label(p.name) && p.port > 0 && p.port < 65536)
        out.push_back({prefixed("_" + p.name, prefixed(proto_label(p.protocol), base)), KNOT_RRTYPE_SRV,
                       srv_rdata(100, static_cast<uint16_t>(p.port), base)});
  } else {
    // Headless: the endpoints' addresses, each also under its hostname (or its dashed address).
    std::vector<Record> srv;
    for (const auto* slice : slices) {
      if (slice->address_type == k8s::AddressType::kFQDN) continue;
      for (const auto& ep : slice->endpoints) {
        if (!ep.conditions.is_ready() && !svc.publish_not_ready_addresses) continue;
        for (const auto& text : ep.addresses) {
          auto ip = parse_ip(text);
          if (!ip) continue;
          std::string host = valid_label(ep.hostname) ? ep.hostname : dashed(*ip);
          WireName host_name = prefixed(host, base);
          out.push_back({base, address_type(*ip), address_rdata(*ip)});
          out.push_back({host_name, address_type(*ip), address_rdata(*ip)});
          out.push_back({reverse_name(*ip), KNOT_RRTYPE_PTR, host_name});
          for (const auto& p : slice->ports)
            if (valid_label(p.name) && p.port && *p.port > 0 && *p.port < 65536)
              srv.push_back({prefixed("_" + p.name, prefixed(proto_label(p.protocol), base)), KNOT_RRTYPE_SRV,
                             srv_rdata(0, static_cast<uint16_t>(*p.port), host_name)});
        }
      }
    }
    // CoreDNS's weights: the records of one SRV name share 100.
    std::map<WireName, size_t> per_name;
    for (const auto& r : srv) ++per_name[r.owner];
    for (auto& r : srv) {
      uint16_t w = static_cast<uint16_t>(std::max<size_t>(1, 100 / per_name[r.owner]));
      r.rdata[2] = static_cast<char>(w >> 8);
      r.rdata[3] = static_cast<char>(w & 0xff);
      out.push_back(std::move(r));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

struct GroupHeader {
  uint16_t type;
  uint16_t count;
  uint32_t bytes;
};
constexpr size_t kHeader = sizeof(GroupHeader);
static_assert(kHeader == 8);

GroupHeader header_at(const char* d, size_t pos) {
  GroupHeader h;
  std::memcpy(&h, d + pos, kHeader);
  return h;
}

// One record as the rebuild sees it: its rdata is a view into the old data or into a change.
struct Item {
  uint16_t type;
  std::string_view rdata;
  uint32_t refs;
  bool operator<(const Item& o) const { return type != o.type ? type < o.type : rdata < o.rdata; }
};

}  // namespace

Node::Node(std::string_view name)
    : buf_(std::make_unique_for_overwrite<char[]>(name.size())),
      name_len_(static_cast<uint16_t>(name.size())) {
  std::memcpy(buf_.get(), name.data(), name.size());
}

size_t Node::next_group(size_t pos) const {
  GroupHeader h = header_at(data(), pos);
  return pos + kHeader + h.bytes + 2 * size_t{h.count};
}

void Node::view(size_t pos, uint32_t ttl, knot_rrset_t& out) const {
  GroupHeader h = header_at(data(), pos);
  knot_rrset_init(&out, const_cast<knot_dname_t*>(reinterpret_cast<const knot_dname_t*>(buf_.get())), h.type,
                  KNOT_CLASS_IN, ttl);
  out.rrs.count = h.count;
  out.rrs.size = h.bytes;
  // knot reads entries' u16 lengths in place; memcpy-free reads need 2-alignment: the block is
  // malloc-aligned and the name, header, padded entries and counts are even-sized (see apply).
  out.rrs.rdata = reinterpret_cast<knot_rdata_t*>(const_cast<char*>(data() + pos + kHeader));
}

bool Node::rrset(uint16_t type, uint32_t ttl, knot_rrset_t& out) const {
  for (size_t pos = 0; pos < data_len_; pos = next_group(pos)) {
    uint16_t t = header_at(data(), pos).type;
    if (t == type) {
      view(pos, ttl, out);
      return true;
    }
    if (t > type) break;
  }
  return false;
}

void Node::apply(std::vector<Change> changes) {
  std::vector<Item> items;
  const char* d = data();
  for (size_t pos = 0; pos < data_len_; pos = next_group(pos)) {
    GroupHeader h = header_at(d, pos);
    const char* entry = d + pos + kHeader;
    const char* refs = entry + h.bytes;
    for (uint16_t i = 0; i < h.count; ++i) {
      uint16_t len, ref;
      std::memcpy(&len, entry, 2);
      std::memcpy(&ref, refs + 2 * i, 2);
      items.push_back({h.type, std::string_view(entry + 2, len), ref});
      entry += knot_rdata_size(len);
    }
  }
  // Items come out sorted; merge the sorted changes in.
  std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    return a.type != b.type ? a.type < b.type : a.rdata < b.rdata;
  });
  std::vector<Item> merged;
  merged.reserve(items.size() + changes.size());
  size_t i = 0;
  for (size_t c = 0; c < changes.size();) {
    Item key{changes[c].type, changes[c].rdata, 0};
    while (i < items.size() && items[i] < key) merged.push_back(items[i++]);
    bool found = i < items.size() && !(key < items[i]);
    Item cur = found ? items[i++] : key;
    for (; c < changes.size() && changes[c].type == key.type && changes[c].rdata == key.rdata; ++c) {
      if (changes[c].delta > 0)
        cur.refs = cur.refs < 0xffff ? cur.refs + 1 : cur.refs;  // saturated: kept
      else if (cur.refs > 0 && cur.refs < 0xffff)
        cur.refs--;
    }
    if (cur.refs > 0 && cur.rdata.size() <= KNOT_RDATA_MAXLEN) merged.push_back(cur);
  }
  while (i < items.size()) merged.push_back(items[i++]);

  // The name first, padded to even so the entries after it are 2-aligned.
  std::string out(name());
  if (out.size() & 1) out.push_back('\0');
  const size_t name_room = out.size();
  for (size_t b = 0; b < merged.size();) {
    size_t e = b;
    size_t bytes = 0;
    while (e < merged.size() && merged[e].type == merged[b].type && e - b < 0xffff)
      bytes += knot_rdata_size(static_cast<uint16_t>(merged[e++].rdata.size()));
    GroupHeader h{merged[b].type, static_cast<uint16_t>(e - b), static_cast<uint32_t>(bytes)};
    out.append(reinterpret_cast<const char*>(&h), kHeader);
    for (size_t k = b; k < e; ++k) {
      auto len = static_cast<uint16_t>(merged[k].rdata.size());
      out.append(reinterpret_cast<const char*>(&len), 2);
      out.append(merged[k].rdata);
      if (len & 1) out.push_back('\0');
    }
    for (size_t k = b; k < e; ++k) {
      auto ref = static_cast<uint16_t>(merged[k].refs);
      out.append(reinterpret_cast<const char*>(&ref), 2);
    }
    // A set over 65,535 records keeps the first ones: no DNS message could carry more anyway.
    while (e < merged.size() && merged[e].type == merged[b].type) ++e;
    b = e;
  }
  auto buf = std::make_unique_for_overwrite<char[]>(out.size());
  std::memcpy(buf.get(), out.data(), out.size());
  buf_ = std::move(buf);
  data_len_ = static_cast<uint32_t>(out.size() - name_room);
}

RecordStore::RecordStore(StoreOptions options)
    : opts_(std::move(options)),
      zone_(to_wire(opts_.zone)),
      soa_(zone_.empty() ? WireName(1, '\0') : zone_, 6, 0) {
  if (zone_.empty() || zone_.size() == 1) zone_ = to_wire("cluster.local");
  soa_ = RrSet(zone_, KNOT_RRTYPE_SOA, opts_.ttl);
  auto serial = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  // CoreDNS's SOA for the cluster zone: ns.dns.<zone> hostmaster.<zone>, negative TTL = ttl.
  std::string soa_rdata = prefixed("ns", prefixed("dns", zone_)) + prefixed("hostmaster", zone_) +
                          u32(serial) + u32(7200) + u32(1800) + u32(86400) + u32(opts_.ttl);
  soa_.add(soa_rdata);
  apply_locked({{zone_, KNOT_RRTYPE_SOA, soa_rdata},
                {zone_, KNOT_RRTYPE_NS, prefixed("ns", prefixed("dns", zone_))},
                {prefixed("ns", prefixed("dns", zone_)), kExists, {}},
                {prefixed("dns-version", zone_), KNOT_RRTYPE_TXT,
                 std::string("\x05"
                             "1.1.0")},
                {prefixed("pod", zone_), kExists, {}},
                {prefixed("svc", zone_), kExists, {}}},
               {});
}

Node& RecordStore::ensure_locked(std::string_view name) {
  auto it = nodes_.find(name);
  if (it != nodes_.end()) return it->second;
  if (name != zone_ && in_zone(name, zone_)) ensure_locked(parent(name)).children++;
  Node n(name);
  std::string_view key = n.name();
  return nodes_.emplace(key, std::move(n)).first->second;
}

void RecordStore::release_locked(std::string_view name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end() || !it->second.unused()) return;
  // `name` may view the node's own block: continue with the parent's view of the same bytes.
  bool below = name != zone_ && in_zone(name, zone_);
  std::string up(below ? parent(name) : std::string_view());
  nodes_.erase(it);
  if (below) {
    auto p = nodes_.find(up);
    if (p != nodes_.end() && p->second.children > 0) {
      p->second.children--;
      release_locked(up);
    }
  }
}

void RecordStore::apply_locked(const std::vector<Record>& added, const std::vector<Record>& gone) {
  // By owner: the records of one name are applied in one rebuild.
  std::map<std::string_view, std::vector<Node::Change>> by_name;
  for (const auto& r : added) by_name[r.owner].push_back({r.type, r.rdata, 1});
  for (const auto& r : gone) by_name[r.owner].push_back({r.type, r.rdata, -1});
  for (auto& [name, changes] : by_name) {
    bool adds =
        std::any_of(changes.begin(), changes.end(), [](const Node::Change& c) { return c.delta > 0; });
    if (adds) ensure_locked(name);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) continue;
    Node& n = it->second;
    std::erase_if(changes, [&](const Node::Change& c) {
      if (c.type != kExists) return false;
      if (c.delta > 0)
        n.exists++;
      else if (n.exists > 0)
        n.exists--;
      return true;
    });
    if (!changes.empty()) {
      // The rebuild replaces the block the key views: re-key the node.
      Node moved = std::move(n);
      nodes_.erase(it);
      moved.apply(std::move(changes));
      std::string_view key = moved.name();
      nodes_.emplace(key, std::move(moved));
    }
    release_locked(name);
  }
}

namespace {

k8s::EndpointSlice slim_slice(const k8s::EndpointSlice& slice) {
  k8s::EndpointSlice out;
  out.address_type = slice.address_type;
  out.endpoints.reserve(slice.endpoints.size());
  for (const auto& ep : slice.endpoints)
    out.endpoints.push_back({.addresses = ep.addresses,
                             .conditions = {.ready = ep.conditions.ready},
                             .node_name = {},
                             .zone = {},
                             .hostname = ep.hostname});
  out.ports = slice.ports;
  return out;
}

bool slices_matter(const std::optional<ServiceFields>& svc) {
  return !svc || (svc->headless && svc->type != k8s::ServiceType::kExternalName);
}

}  // namespace

std::vector<Record> RecordStore::records_locked(std::string_view key, const Entry& e) const {
  if (!e.service) return {};
  std::vector<const k8s::EndpointSlice*> slices;
  for (const auto& [_, s] : e.slices) slices.push_back(&s);
  size_t slash = key.find('/');
  return service_records(key.substr(0, slash), key.substr(slash + 1), *e.service, slices, zone_);
}

void RecordStore::republish_locked(std::map<std::string, Entry>::iterator it,
                                   const std::vector<Record>& before) {
  Entry& e = it->second;
  std::vector<Record> now = records_locked(it->first, e);
  std::vector<Record> gone, added;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(), std::back_inserter(gone));
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(), std::back_inserter(added));
  apply_locked(added, gone);
  if (!e.service && e.slices.empty()) entries_.erase(it);
}

void RecordStore::upsert_service(const k8s::Service& svc) {
  std::unique_lock l(mu_);
  auto it = entries_.try_emplace(svc.meta.namespace_ + "/" + svc.meta.name).first;
  auto before = records_locked(it->first, it->second);
  it->second.service = service_fields(svc);
  if (!slices_matter(it->second.service)) {
    for (const auto& [name, _] : it->second.slices) slice_owner_.erase(svc.meta.namespace_ + "/" + name);
    it->second.slices.clear();
  }
  republish_locked(it, before);
}

void RecordStore::delete_service(const std::string& namespace_, const std::string& name) {
  std::unique_lock l(mu_);
  auto it = entries_.find(namespace_ + "/" + name);
  if (it == entries_.end()) return;
  auto before = records_locked(it->first, it->second);
  it->second.service.reset();
  republish_locked(it, before);
}

void RecordStore::upsert_slice(const k8s::EndpointSlice& slice) {
  std::string svc = slice.service_name();
  std::unique_lock l(mu_);
  if (auto owner = slice_owner_.find(slice.meta.namespace_ + "/" + slice.meta.name);
      owner != slice_owner_.end() && owner->second != svc)
    delete_slice_locked(slice.meta.namespace_, slice.meta.name);  // relabelled: leaves its old Service
  if (svc.empty()) return;
  auto it = entries_.try_emplace(slice.meta.namespace_ + "/" + svc).first;
  if (!slices_matter(it->second.service)) return;
  auto before = records_locked(it->first, it->second);
  it->second.slices[slice.meta.name] = slim_slice(slice);
  slice_owner_[slice.meta.namespace_ + "/" + slice.meta.name] = svc;
  republish_locked(it, before);
}

void RecordStore::delete_slice(const std::string& namespace_, const std::string& name) {
  std::unique_lock l(mu_);
  delete_slice_locked(namespace_, name);
}

void RecordStore::delete_slice_locked(const std::string& namespace_, const std::string& name) {
  auto owner = slice_owner_.find(namespace_ + "/" + name);
  if (owner == slice_owner_.end()) return;
  auto it = entries_.find(namespace_ + "/" + owner->second);
  slice_owner_.erase(owner);
  if (it == entries_.end()) return;
  auto s = it->second.slices.find(name);
  if (s == it->second.slices.end()) return;
  auto before = records_locked(it->first, it->second);
  it->second.slices.erase(s);
  republish_locked(it, before);
}

size_t RecordStore::name_count() const {
  std::shared_lock l(mu_);
  return nodes_.size();
}

size_t RecordStore::service_count() const {
  std::shared_lock l(mu_);
  return entries_.size();
}

}  // namespace podnet::dns
