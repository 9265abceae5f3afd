#include "nft/counters.h"

#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "common/fd.h"

namespace podnet::nft {

namespace {

struct ObjFree {
  void operator()(nftnl_obj* o) const { nftnl_obj_free(o); }
};
using ObjPtr = std::unique_ptr<nftnl_obj, ObjFree>;

// A table's objects number in the thousands at most; a dump the ruleset changes under is restarted
// (NLM_F_DUMP_INTR), a few times at most.
constexpr int kMaxAttempts = 4;
constexpr size_t kMaxCounters = 1 << 20;

enum class Dump { kDone, kInterrupted };

Result<Dump> dump_once(int sock, uint8_t family, const std::string& table, uint32_t seq,
                       std::map<std::string, NamedCounter>& out) {
  std::vector<char> buf(64 * 1024);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETOBJ, family, NLM_F_DUMP, seq);
  ObjPtr filter(nftnl_obj_alloc());
  if (!filter) return fail("nftnl_obj_alloc", ENOMEM);
  nftnl_obj_set_str(filter.get(), NFTNL_OBJ_TABLE, table.c_str());
  nftnl_obj_set_u32(filter.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
  nftnl_obj_nlmsg_build_payload(nlh, filter.get());
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock, nlh, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return fail("send the counter dump request", errno);
  bool interrupted = false;
  for (;;) {
    ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("read the counter dump", errno);
    }
    int len = static_cast<int>(n);
    for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(m, len); m = NLMSG_NEXT(m, len)) {
      if (m->nlmsg_seq != seq) continue;
      if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (m->nlmsg_type == NLMSG_DONE) return interrupted ? Dump::kInterrupted : Dump::kDone;
      if (m->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(m));
        if (err->error == -ENOENT) return Dump::kDone;  // no such table: no counters
        if (err->error == 0) continue;
        return fail("counter dump of table " + table, -err->error);
      }
      if (NFNL_SUBSYS_ID(m->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
          NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWOBJ)
        continue;
      ObjPtr o(nftnl_obj_alloc());
      if (!o || nftnl_obj_nlmsg_parse(m, o.get()) < 0) continue;
      // The kernel filters by table and type; checked again, it costs nothing.
      const char* t = nftnl_obj_get_str(o.get(), NFTNL_OBJ_TABLE);
      const char* name = nftnl_obj_get_str(o.get(), NFTNL_OBJ_NAME);
      if (!t || !name || table != t || nftnl_obj_get_u32(o.get(), NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
        continue;
      if (out.size() >= kMaxCounters) return fail_msg("table " + table + ": over a million counters");
      out[name] = {nftnl_obj_get_u64(o.get(), NFTNL_OBJ_CTR_PKTS),
                   nftnl_obj_get_u64(o.get(), NFTNL_OBJ_CTR_BYTES)};
    }
  }
}

}  // namespace

Result<std::map<std::string, NamedCounter>> read_counter_objects(uint8_t family, const std::string& table) {
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!sock.valid()) return fail("netlink socket (NETLINK_NETFILTER)", errno);
  timeval tv{5, 0};  // the kernel answers a dump at once; this only bounds a wedged one
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&self), sizeof self) != 0)
    return fail("bind the netlink socket", errno);
  for (int attempt = 1;; ++attempt) {
    std::map<std::string, NamedCounter> out;
    PODNET_TRY(result, dump_once(sock.get(), family, table, static_cast<uint32_t>(attempt), out));
    if (result == Dump::kDone || attempt == kMaxAttempts) return out;
  }
}

}  // namespace podnet::nft
