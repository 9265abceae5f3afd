// The part of a v1 Pod the node runs: containers (command, env, probes), restart policy, grace
// period, host networking. Decoded from the API's JSON; no process or network work here.
// The node trusts no object it reads: every field it acts on is checked here (kube's rules where
// the node depends on them), so a bad pod becomes an error naming the field, never a crash.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace podnet::runtime {

struct EnvVar {
  std::string name;
  std::string value;
  // valueFrom.fieldRef.fieldPath, resolved when the container starts: one of the paths
  // env_field_supported() accepts.
  std::string field_path;
};

struct Probe {
  enum class Kind { kTcp, kHttp, kExec };
  Kind kind = Kind::kTcp;
  std::string port_name;  // a named container port, resolved against `ports`
  int port = 0;
  std::string host;  // empty: the pod's IP (kube); we probe 127.0.0.1 inside the pod netns
  std::string path = "/";
  bool https = false;
  std::vector<std::string> command;  // exec
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 1;
  int success_threshold = 1;
  int failure_threshold = 3;
};

struct ContainerPort {
  std::string name;
  int container_port = 0;
  int host_port = 0;
  std::string protocol = "TCP";
};

struct ContainerSpec {
  std::string name;
  std::string image;                 // reported back in status; never pulled
  std::vector<std::string> command;  // entrypoint; with no image, command or args[0] is required
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::optional<Probe> readiness, liveness, startup;
  // stdin: the shim keeps the container's stdin open for attach (a pipe, or the terminal);
  // stdinOnce: the first attach that ends its input closes it; tty: a terminal the shim keeps.
  bool stdin = false, stdin_once = false, tty = false;
};

enum class RestartPolicy { kAlways, kOnFailure, kNever };

enum class DnsPolicy { kClusterFirst, kClusterFirstWithHostNet, kDefault, kNone };

struct DnsOption {
  std::string name;
  std::optional<std::string> value;
};

// spec.dnsConfig; every entry checked so it cannot break a line of resolv.conf.
struct PodDnsConfig {
  std::vector<std::string> nameservers;  // IP addresses
  std::vector<std::string> searches;
  std::vector<DnsOption> options;
};

// spec.hostAliases[]: lines of the pod's /etc/hosts.
struct HostAlias {
  std::string ip;
  std::vector<std::string> hostnames;
};

// Grace periods are capped here so that deadlines computed from them cannot overflow.
inline constexpr int64_t kMaxGraceSeconds = int64_t{1} << 30;

struct PodSpec {
  std::string uid, namespace_, name, node_name, service_account;
  std::map<std::string, std::string> labels, annotations;  // for fieldRef env vars
  bool host_network = false;
  std::string hostname, subdomain;  // spec.hostname, spec.subdomain (DNS labels)
  bool set_hostname_as_fqdn = false;
  DnsPolicy dns_policy = DnsPolicy::kClusterFirst;
  std::optional<PodDnsConfig> dns_config;
  std::vector<HostAlias> host_aliases;
  bool enable_service_links = true;
  RestartPolicy restart_policy = RestartPolicy::kAlways;
  int64_t grace_period_seconds = 30;              // terminationGracePeriodSeconds
  bool deleting = false;                          // metadata.deletionTimestamp is set
  std::optional<int64_t> deletion_grace_seconds;  // metadata.deletionGracePeriodSeconds
  std::vector<ContainerSpec> containers;
  std::vector<ContainerSpec> init_containers;

  std::string key() const { return namespace_ + "/" + name; }
};

// The whole pod, or the first field the node cannot act on:
// "spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: \"99999999999\": ...".
Result<PodSpec> decode_pod(const boost::json::value& pod);

// What the node can still read of a pod decode_pod refuses, to report why and to honour its
// deletion: uid, namespace, name, deletion fields and the containers whose names are valid (no
// command, ports or probes). Fails only without a usable uid or name.
Result<PodSpec> decode_pod_identity(const boost::json::value& pod);

struct PodDeletion {
  bool deleting = false;
  std::optional<int64_t> grace_seconds;  // within [0, kMaxGraceSeconds]
};
// metadata.deletionTimestamp and deletionGracePeriodSeconds; malformed values read as absent.
PodDeletion decode_deletion(const boost::json::value& pod);

// A uid the node may put in file and namespace names: 1-128 of [0-9A-Za-z-] (kube's are UUIDs).
bool valid_pod_uid(std::string_view uid);

// A probe's port, resolving a named port through the container's ports; 0 when unknown.
int probe_port(const Probe& probe, const ContainerSpec& container);

}  // namespace podnet::runtime
