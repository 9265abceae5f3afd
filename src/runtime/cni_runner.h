// The runtime side of CNI for pods: loads a network config (.conf or .conflist), runs ADD through
// every plugin of the list with prevResult chaining, DEL in reverse with the cached result, and GC
// with the attachments still valid. Plugins are found as <bin_dir>/<type>; `podnet` maps to the
// configured podnet-cni binary, whatever its file name.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace podnet::runtime {

struct CniNetwork {
  std::string name;
  std::string cni_version;
  std::vector<boost::json::object> plugins;  // one for a .conf
};

// `path` a file, or a directory whose lexically first *.conflist/*.conf/*.json is used (as kubelet
// and containerd pick their network).
Result<CniNetwork> load_cni_network(const std::string& path);

struct CniAttachment {
  std::string container_id;  // the pod UID
  std::string netns;         // path; empty for DEL/GC of a namespace already gone
  std::string ifname = "eth0";
  std::string args;  // CNI_ARGS
  boost::json::object runtime_config;  // e.g. portMappings, for plugins whose capabilities ask
};

class CniRunner {
 public:
  // `podnet_cni`: the podnet-cni binary; other plugin types are looked up next to it.
  explicit CniRunner(std::string podnet_cni, int node_netns_fd = -1);

  // The final result (JSON), to be kept for DEL.
  Result<boost::json::value> add(const CniNetwork& net, const CniAttachment& att) const;
  Status del(const CniNetwork& net, const CniAttachment& att, const boost::json::value& prev_result) const;
  // CNI 1.1 GC; a no-op for older config versions.
  Status gc(const CniNetwork& net, const std::vector<CniAttachment>& valid) const;

 private:
  std::string binary_for(const std::string& type) const;
  Result<std::string> call(const std::string& command, const CniNetwork& net, const boost::json::object& plugin,
                           const CniAttachment& att, const boost::json::value* prev,
                           const boost::json::value* extra_key, const std::string& extra_name) const;
  std::string podnet_cni_, bin_dir_;
  int node_netns_fd_;
};

// "10.244.1.5" from a result's ips[].address ("10.244.1.5/24"), in order.
std::vector<std::string> result_ips(const boost::json::value& result);

}  // namespace podnet::runtime
