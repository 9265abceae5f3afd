// hostPort mappings (the CNI portMappings capability) and pod masquerade (ipMasq) in podnet-cni's
// own nftables tables `ip podnet-cni` and `ip6 podnet-cni`. Covers traffic arriving from outside
// (prerouting), from the node itself including 127.0.0.1/localhost (output), and hairpin (a pod
// reaching its own or a neighbour's hostPort). The bridge plugin's macspoofchk lives in `bridge
// podnet-cni`. Every element is tagged with its attachment so DEL and GC remove exactly what one
// container added, at a cost independent of the number of pods.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ip.h"
#include "nft/nft.h"

namespace podnet::nft {

struct PortMapping {
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  std::string protocol = "tcp";      // tcp, udp or sctp
  std::optional<IpAddress> host_ip;  // only this host address, else every local address
};

struct AttachmentKey {
  std::string container_id;
  std::string ifname;
  auto operator<=>(const AttachmentKey&) const = default;
};

// macspoofchk: frames entering the bridge from the pod's port must carry the pod's own MAC as
// their Ethernet source, so a pod cannot impersonate another one on the bridge.
struct MacSpoofCheck {
  std::string host_veth;  // the pod's bridge port (host end of its veth)
  std::string mac;        // the pod interface's MAC, e.g. "02:42:0a:58:00:02"
};

struct PodRules {
  AttachmentKey who;
  std::vector<IpPrefix> pod_ips;  // with their subnet prefix (used for hairpin and masquerade)
  std::vector<PortMapping> port_mappings;
  bool ip_masq = false;  // masquerade traffic from the pod leaving its subnet
  std::string bridge;    // host bridge name (route_localnet for localhost hostPorts)
  // macspoofchk on the pod's bridge port; none: the pod's frames are not checked.
  std::optional<MacSpoofCheck> mac_spoof_check;
};

// Where per-attachment state is kept so DEL can remove precisely its own elements.
struct PortmapStore {
  std::string state_dir = "/var/lib/cni/podnet/portmap";
  // nftables table name, used for `ip`, `ip6` and `bridge`; state lives in state_dir/<table>/.
  // Letters, digits, '_' and '-', starting with a letter (tests use unique names).
  std::string table = "podnet-cni";
};

// Adds the pod's rules in one transaction (creating the tables on first use).
Status add_pod_rules(Nft& nft, const PortmapStore& store, const PodRules& rules);
// Removes the attachment's rules; idempotent. Returns quickly (no nft context needed) when the
// attachment never had any: callers may check has_pod_rules first.
Status delete_pod_rules(Nft& nft, const PortmapStore& store, const AttachmentKey& who);
bool has_pod_rules(const PortmapStore& store, const AttachmentKey& who);
// Removes the rules of every attachment not in `valid`.
Status gc_pod_rules(Nft& nft, const PortmapStore& store, const std::set<AttachmentKey>& valid);
// Removes podnet-cni's tables and state altogether (tests, uninstall).
Status remove_all(Nft& nft, const PortmapStore& store);

}  // namespace podnet::nft
