// What a pod's /etc/resolv.conf and /etc/hosts say, as kubelet computes them (pkg/kubelet/network/dns
// and the managed hosts file of kubelet_pods.go): dnsPolicy ClusterFirst, ClusterFirstWithHostNet,
// Default and None, dnsConfig merged on top, kubelet's limits, the pod's hostname and domain, and
// hostAliases. Pure text in, text out; the mount namespace that shows the files is pod_mounts.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/pod_spec.h"

namespace podnet::runtime {

struct ResolvConf {
  std::vector<std::string> nameservers, searches, options;
  bool operator==(const ResolvConf&) const = default;
};

// kubelet's parseResolvConf: "nameserver" lines accumulate, the last "search" line wins (a
// trailing dot dropped, "." skipped), "options" merge by name (the later one wins); '#' comments.
ResolvConf parse_resolv_conf(std::string_view text);

// The node's side of the computation: kubelet's --cluster-dns, --cluster-domain and --resolv-conf.
struct NodeDns {
  std::vector<std::string> cluster_dns;  // empty: ClusterFirst falls back to Default
  std::string cluster_domain = "cluster.local";
  ResolvConf host;  // the node's resolv.conf, parsed
};

struct PodResolv {
  ResolvConf conf;
  // Events kubelet records about it: {reason, message} (MissingClusterDNS, DNSConfigForming).
  std::vector<std::pair<std::string, std::string>> warnings;
};

// kubelet's GetPodDNS: the policy's base, dnsConfig appended (nameservers and searches without
// duplicates, options merged by name), then cut to 3 nameservers and 32 search domains of at most
// 2048 characters (search domains longer than 253 characters are dropped).
PodResolv pod_resolv_conf(const PodSpec& pod, const NodeDns& node);

// The file as containerd writes it: "search ...", one "nameserver" line each, "options ...".
std::string format_resolv_conf(const ResolvConf& conf);

// kubelet's GeneratePodHostNameAndDomain: spec.hostname or the pod's name, cut to 63 characters
// without a trailing '-' or '.'; the domain "<subdomain>.<ns>.svc.<cluster domain>" when
// spec.subdomain is set, else empty.
std::string pod_hostname(const PodSpec& pod);
std::string pod_host_domain(const PodSpec& pod, const std::string& cluster_domain);
// The UTS hostname a container sees: pod_hostname, or hostname.domain with setHostnameAsFQDN.
std::string pod_uts_hostname(const PodSpec& pod, const std::string& cluster_domain);

// kubelet's managed /etc/hosts: localhost lines, each pod IP with "hostname.domain hostname" (or
// "hostname"), then the hostAliases. A hostNetwork pod gets the node's own file plus its aliases.
std::string pod_hosts_file(const PodSpec& pod, const std::vector<std::string>& pod_ips,
                           const std::string& cluster_domain, std::string_view node_hosts);

}  // namespace podnet::runtime
