// Deferred deletion of a pod's interface. Deleting a veth makes the kernel wait for RCU grace
// periods (20-40 ms here), nearly all of a DEL's time, so DEL resolves the link, hands the deletion
// to a detached process and returns. A marker file per (namespace, interface) lets a later ADD of
// the same interface wait until the old one is really gone, so DEL-then-ADD stays correct.
#pragma once

#include <chrono>
#include <string>

#include "common/error.h"
#include "netlink/netns.h"

namespace podnet::cni {

class LinkReaper {
 public:
  explicit LinkReaper(std::string marker_dir) : dir_(std::move(marker_dir)) {}

  // Deletes `ifname` in `ns` from a detached grandchild process. Succeeds at once when the link
  // does not exist. The caller's stdout/stderr are not inherited, so a runtime reading the
  // plugin's output is not held up.
  Status delete_detached(const netlink::NetNs& ns, const std::string& ifname) const;
  // Returns when no deletion of `ifname` in `ns` is pending (or `limit` passed).
  void wait_pending(const netlink::NetNs& ns, const std::string& ifname,
                    std::chrono::milliseconds limit) const;

 private:
  std::string marker(const netlink::NetNs& ns, const std::string& ifname) const;
  std::string dir_;
};

}  // namespace podnet::cni
