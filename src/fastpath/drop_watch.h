// The kernel's drops of one probe connection (`podnet trace --live`): drop_watch.bpf.c on the
// skb:kfree_skb tracepoint, filtered in the kernel on the probe's source address and fresh source
// port, reporting into a small ring buffer. Attached by start(), detached and freed by the
// destructor: nothing is pinned, so nothing outlives the watch (also when the agent dies).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace podnet::fastpath {

struct DropFilter {
  uint32_t saddr = 0;       // network order
  uint16_t sport = 0;       // host order
  uint8_t proto = 6;        // IPPROTO_TCP or IPPROTO_UDP
  uint16_t vxlan_port = 0;  // host order; 0: do not look inside VXLAN
};

struct DropEvent {
  uint64_t ts_ns = 0;       // CLOCK_MONOTONIC
  uint32_t reason = 0;      // enum skb_drop_reason
  std::string reason_name;  // "NETFILTER_DROP", ... (from the kernel's BTF); empty if unknown
  uint64_t location = 0;    // the freeing kernel address
  std::string function;     // its symbol (kallsyms), empty if hidden
  int ifindex = 0;
  std::string dev;
  uint32_t netns = 0;             // the device's network namespace inode; 0 unknown
  uint32_t saddr = 0, daddr = 0;  // network order
  uint16_t sport = 0, dport = 0;  // host order
  uint8_t proto = 0;
  bool reply = false;
  bool encapsulated = false;
};

class DropWatch {
 public:
  struct State;
  static Result<std::unique_ptr<DropWatch>> start(const DropFilter& filter);
  ~DropWatch();
  // The drops reported so far (at most `max`; the rest stay counted in lost()), names resolved.
  std::vector<DropEvent> take(size_t max = 64);
  uint64_t lost() const;
  // The kernel's id of the loaded program (bpftool prog show id N); 0 if unknown.
  uint32_t program_id() const;

 private:
  explicit DropWatch(std::unique_ptr<State> s);
  std::unique_ptr<State> state_;
};

// "SKB_DROP_REASON_NETFILTER_DROP" -> "NETFILTER_DROP", from the running kernel's BTF.
std::string drop_reason_name(uint32_t reason);
// The kernel symbol holding `addr` (/proc/kallsyms), empty when unknown or hidden.
std::string kernel_symbol(uint64_t addr);
// The same for several addresses in one pass over /proc/kallsyms (about 200,000 lines).
std::map<uint64_t, std::string> kernel_symbols(const std::vector<uint64_t>& addrs);

}  // namespace podnet::fastpath
