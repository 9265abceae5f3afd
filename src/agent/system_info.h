// What a node reports as status.nodeInfo, read where kubelet (through cAdvisor) reads it:
// /etc/machine-id, /sys/class/dmi/id/product_uuid, /proc/sys/kernel/random/boot_id, uname(2) and
// /etc/os-release. What cannot be read is reported empty, as kubelet does; nothing here fails.
#pragma once

#include <string>
#include <string_view>

#include "agent/node.h"

namespace podnet::agent {

// `root` prefixes every file read (tests point it at a tree of their own); `with_proxy`: this
// agent runs the service proxy, so it reports a kube-proxy version too.
NodeSystemInfo read_node_system_info(bool with_proxy, const std::string& root = "");

// PRETTY_NAME of an os-release(5) text, unquoted; "Linux" when it has none (cAdvisor's default).
std::string os_image_of(std::string_view os_release);

}  // namespace podnet::agent
