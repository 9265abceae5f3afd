// The part of a v1 Pod the node runs: containers (command, env, probes), restart policy, grace
// period, host networking. Decoded from the API's JSON; no process or network work here.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace podnet::runtime {

struct EnvVar {
  std::string name;
  std::string value;
  std::string field_path;  // valueFrom.fieldRef.fieldPath; resolved when the container starts
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
};

enum class RestartPolicy { kAlways, kOnFailure, kNever };

struct PodSpec {
  std::string uid, namespace_, name, node_name;
  bool host_network = false;
  RestartPolicy restart_policy = RestartPolicy::kAlways;
  int64_t grace_period_seconds = 30;  // terminationGracePeriodSeconds
  bool deleting = false;              // metadata.deletionTimestamp is set
  std::optional<int64_t> deletion_grace_seconds;  // metadata.deletionGracePeriodSeconds
  std::vector<ContainerSpec> containers;
  std::vector<ContainerSpec> init_containers;

  std::string key() const { return namespace_ + "/" + name; }
};

Result<PodSpec> decode_pod(const boost::json::value& pod);

// A probe's port, resolving a named port through the container's ports; 0 when unknown.
int probe_port(const Probe& probe, const ContainerSpec& container);

}  // namespace podnet::runtime
