#include "proxy/conntrack_events.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>

namespace podnet::proxy {
namespace {

// Large enough for a burst of ~10k events between two reads (an event is ~200-300 bytes).
constexpr int kReceiveBuffer = 4 << 20;

std::unexpected<Error> nl_fail(const std::string& what, int nle) {
  return fail_msg("conntrack events " + what + ": " + nl_geterror(nle));
}

std::optional<IpAddress> address(nl_addr* a) {
  if (!a) return std::nullopt;
  const auto* p = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  if (nl_addr_get_len(a) == 4) {
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), p, 4);
    return IpAddress(boost::asio::ip::address_v4(b));
  }
  if (nl_addr_get_len(a) == 16) {
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), p, 16);
    return IpAddress(boost::asio::ip::address_v6(b));
  }
  return std::nullopt;
}

std::optional<ConntrackTuple> tuple(const nfnl_ct* ct, int reply) {
  auto src = address(nfnl_ct_get_src(ct, reply));
  auto dst = address(nfnl_ct_get_dst(ct, reply));
  if (!src || !dst) return std::nullopt;
  ConntrackTuple t{*src, *dst};
  if (nfnl_ct_test_src_port(ct, reply)) t.sport = nfnl_ct_get_src_port(ct, reply);
  if (nfnl_ct_test_dst_port(ct, reply)) t.dport = nfnl_ct_get_dst_port(ct, reply);
  return t;
}

}  // namespace

struct ConntrackEvents::Sock {
  nl_sock* sock = nullptr;
  const std::function<void(const ConntrackEvent&)>* fn = nullptr;
  size_t messages = 0;
  ~Sock() {
    if (sock) nl_socket_free(sock);
  }
};

ConntrackEvents::ConntrackEvents(std::unique_ptr<Sock> s) : sock_(std::move(s)) {}
ConntrackEvents::ConntrackEvents(ConntrackEvents&&) noexcept = default;
ConntrackEvents& ConntrackEvents::operator=(ConntrackEvents&&) noexcept = default;
ConntrackEvents::~ConntrackEvents() = default;

Result<ConntrackEvents> ConntrackEvents::open() {
  auto s = std::make_unique<Sock>();
  s->sock = nl_socket_alloc();
  if (!s->sock) return fail("conntrack events socket", ENOMEM);
  nl_socket_disable_seq_check(s->sock);
  if (int err = nfnl_connect(s->sock); err < 0) return nl_fail("connect", err);
  // UPDATE is not subscribed: one event per state change would cost a message per TCP handshake
  // step; NEW and DESTROY bound a connection, and DESTROY carries its counters.
  if (int err = nl_socket_add_memberships(s->sock, NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY, 0);
      err < 0)
    return nl_fail("subscribe", err);
  (void)nl_socket_set_buffer_size(s->sock, kReceiveBuffer, 0);
  if (int err = nl_socket_set_nonblocking(s->sock); err < 0) return nl_fail("non-blocking", err);
  nl_socket_modify_cb(
      s->sock, NL_CB_VALID, NL_CB_CUSTOM,
      [](nl_msg* msg, void* arg) -> int {
        auto* self = static_cast<Sock*>(arg);
        ++self->messages;
        nlmsghdr* h = nlmsg_hdr(msg);
        uint8_t type = NFNL_MSG_TYPE(h->nlmsg_type);
        if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_CTNETLINK ||
            (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE))
          return NL_OK;
        nfnl_ct* ct = nullptr;
        if (nfnlmsg_ct_parse(h, &ct) < 0 || !ct) return NL_OK;
        auto orig = tuple(ct, 0), reply = tuple(ct, 1);
        if (orig && reply && self->fn) {
          ConntrackEvent e{.destroyed = type == IPCTNL_MSG_CT_DELETE,
                           .proto = nfnl_ct_get_proto(ct),
                           .original = *orig,
                           .reply = *reply};
          e.packets = nfnl_ct_get_packets(ct, 0);
          e.bytes = nfnl_ct_get_bytes(ct, 0);
          e.reply_packets = nfnl_ct_get_packets(ct, 1);
          e.reply_bytes = nfnl_ct_get_bytes(ct, 1);
          (*self->fn)(e);
        }
        nfnl_ct_put(ct);
        return NL_OK;
      },
      s.get());
  return ConntrackEvents(std::move(s));
}

int ConntrackEvents::fd() const {
  return nl_socket_get_fd(sock_->sock);
}

Result<size_t> ConntrackEvents::read(const std::function<void(const ConntrackEvent&)>& fn) {
  sock_->fn = &fn;
  sock_->messages = 0;
  for (;;) {
    int err = nl_recvmsgs_default(sock_->sock);
    if (err >= 0) continue;
    if (err == -NLE_AGAIN) break;
    if (err == -NLE_NOMEM) {  // ENOBUFS: the kernel dropped events; the socket is still good
      ++overruns_;
      continue;
    }
    sock_->fn = nullptr;
    return nl_fail("read", err);
  }
  sock_->fn = nullptr;
  return sock_->messages;
}

}  // namespace podnet::proxy
