// podnet-cni's network configuration: the reference bridge plugin's keys, the built-in IPAM's
// host-local keys, runtime capabilities (portMappings, ips, mac) and the previous result.
// Parsing checks everything up front so a bad config fails before any change is made.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cni/errors.h"
#include "common/ip.h"
#include "ipam/ipam.h"
#include "nft/portmap.h"

namespace podnet::cni {

struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;

  // The reference bridge plugin's keys.
  std::string bridge = "cni0";
  bool is_gateway = false;
  bool is_default_gateway = false;
  bool force_address = false;
  bool ip_masq = false;
  unsigned mtu = 0;
  bool hairpin_mode = false;
  bool promisc_mode = false;
  bool enable_dad = false;
  bool macspoofchk = false;  // drop frames from the pod whose source MAC is not the pod's
  // podnet's own: where hostPort state lives (tests point it at a temporary directory).
  std::string state_dir = "/var/lib/cni/podnet";
  // podnet's own: "fastPath": {"bpfDir": ...}, the bpffs directory where the agent pins the eBPF
  // fast path (pn_from_pod, pn_pods). Empty: off. Set but nothing pinned: pods use the normal path.
  std::string fastpath_bpf_dir;
  // "fastPath": {"policy": true}: NetworkPolicy is enforced on this node, so a new pod's pn_pods
  // entry starts PENDING (the fast path steps aside until the agent has programmed it).
  bool fastpath_policy = false;

  // IPAM: built in when ipam_type is "podnet", delegated through CNI_PATH otherwise, none when empty.
  std::string ipam_type;
  ipam::Config ipam;
  boost::json::value dns;  // passed through into the result

  // Runtime capabilities and args.
  std::vector<nft::PortMapping> port_mappings;
  std::vector<IpAddress> requested_ips;          // runtimeConfig.ips, args.cni.ips, CNI_ARGS IP=
  std::optional<std::string> mac;                // runtimeConfig.mac
  std::set<ipam::Attachment> valid_attachments;  // GC
  boost::json::value prev_result;                // CHECK

  std::string raw;  // the config exactly as received, for delegation
};

// Parses stdin. Errors: 6 for malformed JSON, 1 for an unsupported cniVersion, 7 for invalid values,
// 2 for supported-but-unimplemented fields set to a value we cannot honour (named).
CniResult<NetConf> parse_netconf(std::string_view stdin_json);

// Adds CNI_ARGS-supplied requests (IP=a,b) to the config.
CniStatus apply_cni_args(NetConf& conf, const std::string& cni_args);

}  // namespace podnet::cni
