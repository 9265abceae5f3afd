// The cluster zone's records, kept incrementally from Services and EndpointSlices as the
// Kubernetes DNS specification (schema 1.1.0) derives them, ready to copy into answers: each name
// holds its records in libknot's rdata layout, so answering points at them and does not allocate.
// Thread-safe: one writer (the informer threads, serialised by the lock) and many readers.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/knot.h"
#include "dns/names.h"
#include "k8s/model.h"

namespace podnet::dns {

struct StoreOptions {
  std::string zone = "cluster.local";
  uint32_t ttl = 5;  // CoreDNS's kubernetes plugin default; also the SOA minimum (negative TTL)
};

// One resource record as a service contributes it. Type 0 marks a name that exists without data
// (a Service with no addresses yet answers NODATA, not NXDOMAIN).
struct Record {
  WireName owner;
  uint16_t type = 0;
  std::string rdata;
  auto operator<=>(const Record&) const = default;
};

// An owned knot_rrset_t (owner and rdata on the heap, freed with it).
class RrSet {
 public:
  RrSet(std::string_view owner, uint16_t type, uint32_t ttl);
  RrSet(RrSet&& o) noexcept;
  RrSet& operator=(RrSet&& o) noexcept;
  RrSet(const RrSet&) = delete;
  RrSet& operator=(const RrSet&) = delete;
  ~RrSet();
  void add(std::string_view rdata);
  const knot_rrset_t* get() const { return &rr_; }
  uint16_t type() const { return rr_.type; }

 private:
  knot_rrset_t rr_{};
};

// One name and its records in one heap block, the records in libknot's rdata layout so an answer
// points into them and copies nothing. The block: the wire name, then per type present, in
// ascending order, a header {u16 type, u16 count, u32 bytes}, `bytes` of knot_rdata_t entries in
// canonical order, and `count` u16 reference counts (a record two sources give is kept once).
class Node {
 public:
  explicit Node(std::string_view name);
  Node(Node&&) noexcept = default;
  Node& operator=(Node&&) noexcept = default;

  uint32_t children = 0;  // names directly below that exist
  uint32_t exists = 0;    // type-0 records: sources that make the name exist without data

  // The name, a view into the block: stable while the node lives, also when the node is moved.
  std::string_view name() const { return {buf_.get(), name_len_}; }
  // The RR set of `type` at this name; it points into the node, so it is valid while the reader
  // holds the store's lock.
  bool rrset(uint16_t type, uint32_t ttl, knot_rrset_t& out) const;
  // Every RR set of the name, in type order (an ANY query).
  template <class F>
  void each_rrset(uint32_t ttl, F&& f) const {
    for (size_t pos = 0; pos < data_len_; pos = next_group(pos)) {
      knot_rrset_t rr;
      view(pos, ttl, rr);
      f(rr);
    }
  }
  bool has_data() const { return data_len_ > 0; }
  bool unused() const { return children == 0 && exists == 0 && data_len_ == 0; }

  // One record added (delta 1) or withdrawn (delta -1) by one source.
  struct Change {
    uint16_t type;
    std::string_view rdata;
    int delta;
  };
  // Applies the changes in one rebuild (cost follows the name's size, not its size times the
  // changes). The block is replaced: name() moves (the store re-keys the node).
  void apply(std::vector<Change> changes);

 private:
  // The records start after the name, padded to an even offset.
  const char* data() const { return buf_.get() + name_len_ + (name_len_ & 1); }
  size_t next_group(size_t pos) const;
  void view(size_t pos, uint32_t ttl, knot_rrset_t& out) const;

  std::unique_ptr<char[]> buf_;
  uint16_t name_len_ = 0;
  uint32_t data_len_ = 0;
};

// The fields of a Service its DNS records derive from (the store keeps only these).
struct ServiceFields {
  struct Port {
    std::string name;
    k8s::Protocol protocol = k8s::Protocol::kTcp;
    int32_t port = 0;
  };
  std::vector<IpAddress> cluster_ips;
  std::vector<Port> ports;
  std::string external_name;
  k8s::ServiceType type = k8s::ServiceType::kClusterIP;
  bool headless = false;
  bool publish_not_ready_addresses = false;
};
ServiceFields service_fields(const k8s::Service& svc);

// The records of Service `name` in `namespace_`, given its EndpointSlices (all address types).
std::vector<Record> service_records(std::string_view namespace_, std::string_view name,
                                    const ServiceFields& svc,
                                    const std::vector<const k8s::EndpointSlice*>& slices,
                                    std::string_view zone_wire);

class RecordStore {
 public:
  explicit RecordStore(StoreOptions options = {});

  void upsert_service(const k8s::Service& svc);
  void delete_service(const std::string& namespace_, const std::string& name);
  void upsert_slice(const k8s::EndpointSlice& slice);
  // By namespace and name: a relist's delete may carry nothing else (the informer keeps no objects).
  void delete_slice(const std::string& namespace_, const std::string& name);
  void delete_slice(const k8s::EndpointSlice& slice) { delete_slice(slice.meta.namespace_, slice.meta.name); }

  const WireName& zone() const { return zone_; }
  uint32_t ttl() const { return opts_.ttl; }
  const knot_rrset_t* soa() const { return soa_.get(); }

  // Holds the read lock while the nodes it returns are used.
  class Reader {
   public:
    explicit Reader(const RecordStore& s) : s_(s), lock_(s.mu_) {}
    const Node* find(std::string_view wire_name) const {
      auto it = s_.nodes_.find(wire_name);
      return it == s_.nodes_.end() ? nullptr : &it->second;
    }

   private:
    const RecordStore& s_;
    std::shared_lock<std::shared_mutex> lock_;
  };
  Reader read() const { return Reader(*this); }

  size_t name_count() const;
  size_t service_count() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // What one Service's records derive from, slimmed to the fields the DNS specification reads. Slices
  // are kept only while they can matter: for a headless Service, or one not seen yet (a ClusterIP or
  // ExternalName Service's records do not depend on its endpoints, and kube's EndpointSlice controller
  // writes a Service's slices again when it becomes headless). The records themselves are not kept
  // here: a change computes them from the state before and after it.
  struct Entry {
    std::optional<ServiceFields> service;
    std::map<std::string, k8s::EndpointSlice> slices;  // by slice name
  };

  std::vector<Record> records_locked(std::string_view key, const Entry& e) const;
  // Moves the nodes from `before` (the entry's records before a change) to the entry's records now,
  // and drops the entry once it holds nothing.
  void republish_locked(std::map<std::string, Entry>::iterator it, const std::vector<Record>& before);
  // Adds `added` and withdraws `gone`, one rebuild per name they touch.
  void apply_locked(const std::vector<Record>& added, const std::vector<Record>& gone);
  Node& ensure_locked(std::string_view name);
  void delete_slice_locked(const std::string& namespace_, const std::string& name);
  void release_locked(std::string_view name);

  StoreOptions opts_;
  WireName zone_;
  RrSet soa_;
  mutable std::shared_mutex mu_;
  // Keyed by a view of each node's own name: one lookup touches the table and the node's block.
  boost::unordered_flat_map<std::string_view, Node, Hash, std::equal_to<>> nodes_;
  std::map<std::string, Entry> entries_;  // "ns/name"
  // "ns/slice name" -> the Service name its kept copy is filed under (kept slices only).
  std::unordered_map<std::string, std::string> slice_owner_;
};

}  // namespace podnet::dns
