// Deferred teardown for DEL. Deleting a veth makes the kernel wait for RCU grace periods (20-40 ms
// here), and so does closing an nftables socket after a transaction that deleted elements: most of
// a DEL's time. DEL does everything that matters for correctness itself (rules, addresses), then a
// detached process deletes the link and, holding inherited copies of the caller's descriptors, pays
// for the socket release off the runtime's path. A marker file per (namespace, interface) lets a
// later ADD of the same interface wait until the old link is really gone.
#pragma once

#include <chrono>
#include <string>

#include "common/error.h"
#include "netlink/netns.h"

namespace podnet::cni {

class LinkReaper {
 public:
  explicit LinkReaper(std::string marker_dir) : dir_(std::move(marker_dir)) {}

  // Index of `ifname` in `ns`, 0 when it does not exist.
  Result<int> find(const netlink::NetNs& ns, const std::string& ifname) const;
  // Starts a detached grandchild that deletes link `index` of `ns` (when ns && index), and returns
  // at once. The child does not keep the caller's stdout, so a runtime reading it is not held up.
  Status teardown_detached(const netlink::NetNs* ns, const std::string& ifname, int index) const;
  // Returns when no deletion of `ifname` in `ns` is pending (or `limit` passed); false when none
  // was pending to begin with.
  bool wait_pending(const netlink::NetNs& ns, const std::string& ifname,
                    std::chrono::milliseconds limit) const;

 private:
  std::string marker_prefix(const netlink::NetNs& ns, const std::string& ifname) const;
  std::string dir_;
};

}  // namespace podnet::cni
