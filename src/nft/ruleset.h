// Internal: the nft text for podnet-cni's tables. Everything per pod is an element of a named map,
// so a packet costs one hash lookup per map and an ADD/DEL touches only that pod's elements; the
// rules themselves are fixed and only written when the table (or a new pod subnet) first appears.
//
//   map hostports     proto . port            : pod addr . port   (hostPort on every local address)
//   map hostip-ports  host ip . proto . port  : pod addr . port   (hostPort bound to one host IP)
//   map hairpin       proto . host port . pod addr . pod port : jump hp-<subnet>
//   map masq          pod addr                : jump masq-<subnet>   (ipMasq)
//
// and in `bridge <table>` (macspoofchk), one rule on the bridge's prerouting hook dropping frames
// from a checked port whose source MAC is not that port's pod's:
//
//   set macspoof-checked  host veth               (the ports that are checked)
//   set macspoof-allowed  host veth . pod MAC
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ip.h"
#include "nft/portmap.h"

namespace podnet::nft::detail {

// One element of one of our maps or sets, as nft text.
struct Element {
  bool v6 = false;    // ip6 rather than ip; always false for the bridge family's sets
  std::string map;    // hostports, hostip-ports, hairpin, masq, macspoof-checked or macspoof-allowed
  std::string key;    // e.g. "tcp . 8080"
  std::string value;  // e.g. "10.88.0.2 . 80" or "jump hp-10_88_0_0-24"; empty for set elements
  bool operator==(const Element&) const = default;
};

// The macspoof sets live in `bridge <table>`, everything else in `ip`/`ip6`: the map name decides.
bool is_bridge_set(const std::string& map);
// "ip", "ip6" or "bridge": the family of the table holding e.
const char* family_of(const Element& e);

// What one attachment adds: its elements and the per-subnet chains they jump to.
struct Plan {
  std::vector<Element> elements;
  std::set<std::pair<bool, std::string>> hairpin_nets;  // (v6, "10.88.0.0/24")
  std::set<std::pair<bool, std::string>> masq_nets;
  bool v4 = false, v6 = false;    // which tables are involved
  bool bridge = false;            // macspoofchk: the bridge table
  bool v4_port_mappings = false;  // needs route_localnet for 127.0.0.1
};

// Validates the mappings and turns them into elements (duplicates folded, clashes reported).
Result<Plan> plan_pod(const PodRules& rules);

// "create element" lines: fail with EEXIST when another attachment holds the same key.
std::string create_elements(const std::string& table, const std::vector<Element>& elems,
                            const std::string& comment);
std::string delete_elements(const std::string& table, const std::vector<Element>& elems);
// Query for one element (to find its owner's comment).
std::string get_element(const std::string& table, const Element& e);
// Tables, maps, base chains and rules, plus the plan's subnet chains. Idempotent: chains are
// flushed and refilled, so running it again never duplicates a rule.
std::string setup(const std::string& table, const Plan& plan);
// Deletes all three tables whether or not they exist ("add" first makes "delete" always valid).
std::string remove_tables(const std::string& table);

// Names must be plain nft identifiers: they are pasted into command text.
bool valid_table_name(const std::string& name);
// Comment stored on every element of an attachment; unique per attachment, at most 128 bytes.
std::string comment_for(const AttachmentKey& who);

}  // namespace podnet::nft::detail
