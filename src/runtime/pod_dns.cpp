#include "runtime/pod_dns.h"

#include <algorithm>
#include <sstream>

namespace podnet::runtime {
namespace {

constexpr size_t kMaxNameservers = 3;        // validation.MaxDNSNameservers
constexpr size_t kMaxSearchPaths = 32;       // validation.MaxDNSSearchPathsExpanded
constexpr size_t kMaxSearchChars = 2048;     // validation.MaxDNSSearchListCharsExpanded
constexpr size_t kMaxSearchDomainLen = 253;  // DNS1123SubdomainMaxLength

std::vector<std::string> fields(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) out.emplace_back(line.substr(start, i - start));
  }
  return out;
}

std::string option_name(const std::string& option) {
  return option.substr(0, option.find(':'));
}

// kubelet's appendOptions/mergeDNSOptions keep one option per name, the later value winning; they
// go through a Go map (random order), here the first appearance keeps its place.
void merge_option(std::vector<std::string>& options, const std::string& option) {
  std::string name = option_name(option);
  for (auto& o : options)
    if (option_name(o) == name) {
      o = option;
      return;
    }
  options.push_back(option);
}

// kubelet's omitDuplicates: first occurrence kept.
void append_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& s : from)
    if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

ResolvConf parse_resolv_conf(std::string_view text) {
  ResolvConf out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    auto f = fields(line);
    if (f.empty() || f[0].starts_with('#')) continue;
    if (f[0] == "nameserver" && f.size() >= 2) {
      out.nameservers.push_back(f[1]);
    } else if (f[0] == "search") {
      out.searches.clear();
      for (size_t i = 1; i < f.size(); ++i) {
        if (f[i] == ".") continue;
        std::string s = f[i];
        if (s.ends_with('.')) s.pop_back();
        out.searches.push_back(std::move(s));
      }
    } else if (f[0] == "options") {
      for (size_t i = 1; i < f.size(); ++i) merge_option(out.options, f[i]);
    }
  }
  return out;
}

PodResolv pod_resolv_conf(const PodSpec& pod, const NodeDns& node) {
  PodResolv out;
  ResolvConf& c = out.conf;
  c = node.host;
  DnsPolicy policy = pod.dns_policy;
  // kubelet's getPodDNSType: ClusterFirst on the host network means the node's resolver.
  if (policy == DnsPolicy::kClusterFirst && pod.host_network) policy = DnsPolicy::kDefault;
  if (policy == DnsPolicy::kClusterFirstWithHostNet) policy = DnsPolicy::kClusterFirst;
  if (policy == DnsPolicy::kClusterFirst && node.cluster_dns.empty()) {
    out.warnings.emplace_back(
        "MissingClusterDNS",
        "pod: \"" + pod.name + "_" + pod.namespace_ + "(" + pod.uid +
            ")\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"" +
            (pod.dns_policy == DnsPolicy::kClusterFirst ? "ClusterFirst" : "ClusterFirstWithHostNet") +
            "\" policy. Falling back to \"Default\" policy.");
    policy = DnsPolicy::kDefault;
  }
  switch (policy) {
    case DnsPolicy::kNone:
      c = ResolvConf{};
      break;
    case DnsPolicy::kClusterFirst: {
      c.nameservers = node.cluster_dns;
      if (!node.cluster_domain.empty()) {
        std::vector<std::string> searches{pod.namespace_ + ".svc." + node.cluster_domain,
                                          "svc." + node.cluster_domain, node.cluster_domain};
        append_unique(searches, node.host.searches);
        c.searches.clear();
        append_unique(c.searches, searches);
      }
      c.options = {"ndots:5"};
      break;
    }
    default:
      break;  // Default: the node's file as parsed
  }
  if (pod.dns_config) {
    std::vector<std::string> servers = c.nameservers, searches = c.searches;
    c.nameservers.clear();
    c.searches.clear();
    append_unique(servers, pod.dns_config->nameservers);
    append_unique(searches, pod.dns_config->searches);
    append_unique(c.nameservers, servers);
    append_unique(c.searches, searches);
    for (const auto& o : pod.dns_config->options)
      merge_option(c.options, o.value ? o.name + ":" + *o.value : o.name);
  }
  // kubelet's formDNSSearchFitsLimits and formDNSNameserversFitsLimits.
  bool cut = false;
  if (c.searches.size() > kMaxSearchPaths) {
    c.searches.resize(kMaxSearchPaths);
    cut = true;
  }
  auto too_long = [](const std::string& s) { return s.size() > kMaxSearchDomainLen; };
  if (std::any_of(c.searches.begin(), c.searches.end(), too_long)) {
    std::erase_if(c.searches, too_long);
    cut = true;
  }
  size_t line = join(c.searches, " ").size();
  if (line > kMaxSearchChars) {
    while (!c.searches.empty() && line > kMaxSearchChars) {
      line -= std::min(line, c.searches.back().size() + 1);
      c.searches.pop_back();
    }
    cut = true;
  }
  if (cut)
    out.warnings.emplace_back("DNSConfigForming",
                              "Search Line limits were exceeded, some search paths have been omitted, the "
                              "applied search line is: " +
                                  join(c.searches, " "));
  if (c.nameservers.size() > kMaxNameservers) {
    c.nameservers.resize(kMaxNameservers);
    out.warnings.emplace_back("DNSConfigForming",
                              "Nameserver limits were exceeded, some nameservers have been omitted, the "
                              "applied nameserver line is: " +
                                  join(c.nameservers, " "));
  }
  return out;
}

std::string format_resolv_conf(const ResolvConf& c) {
  std::string out;
  if (!c.searches.empty()) out += "search " + join(c.searches, " ") + "\n";
  for (const auto& ns : c.nameservers) out += "nameserver " + ns + "\n";
  if (!c.options.empty()) out += "options " + join(c.options, " ") + "\n";
  return out;
}

std::string pod_hostname(const PodSpec& pod) {
  std::string h = pod.hostname.empty() ? pod.name : pod.hostname;
  if (h.size() > 63) {
    h.resize(63);
    while (!h.empty() && (h.back() == '-' || h.back() == '.')) h.pop_back();
  }
  return h;
}

std::string pod_host_domain(const PodSpec& pod, const std::string& cluster_domain) {
  if (pod.subdomain.empty()) return "";
  return pod.subdomain + "." + pod.namespace_ + ".svc." + cluster_domain;
}

std::string pod_uts_hostname(const PodSpec& pod, const std::string& cluster_domain) {
  std::string h = pod_hostname(pod), domain = pod_host_domain(pod, cluster_domain);
  if (pod.set_hostname_as_fqdn && !domain.empty()) h += "." + domain;
  return h;
}

std::string pod_hosts_file(const PodSpec& pod, const std::vector<std::string>& pod_ips,
                           const std::string& cluster_domain, std::string_view node_hosts) {
  std::string out;
  if (pod.host_network) {
    out = "# Kubernetes-managed hosts file (host network).\n";
    out += node_hosts;
  } else {
    out =
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n";
    std::string host = pod_hostname(pod), domain = pod_host_domain(pod, cluster_domain);
    for (const auto& ip : pod_ips)
      out += domain.empty() ? ip + "\t" + host + "\n" : ip + "\t" + host + "." + domain + "\t" + host + "\n";
  }
  if (!pod.host_aliases.empty()) {
    out += "\n# Entries added by HostAliases.\n";
    for (const auto& a : pod.host_aliases) out += a.ip + "\t" + join(a.hostnames, "\t") + "\n";
  }
  return out;
}

}  // namespace podnet::runtime
