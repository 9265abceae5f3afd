#include "policy/nflog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netlink/msg.h>
#include <netlink/netfilter/log.h>
#include <netlink/netfilter/log_msg.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace podnet::policy {
namespace {

constexpr uint32_t kCopyRange = 128;  // enough for an IPv6 header and the ports

std::unexpected<Error> nl_fail(const std::string& what, int nle) {
  return fail_msg("NFLOG " + what + ": " + nl_geterror(nle));
}

}  // namespace

struct NflogReader::Sock {
  nl_sock* sock = nullptr;
  nfnl_log* log = nullptr;
  const std::function<void(const DeniedPacket&)>* fn = nullptr;
  size_t messages = 0;
  ~Sock() {
    if (log) {
      if (sock) (void)nfnl_log_delete(sock, log);
      nfnl_log_put(log);
    }
    if (sock) nl_socket_free(sock);
  }
};

NflogReader::NflogReader(std::unique_ptr<Sock> s) : sock_(std::move(s)) {}
NflogReader::NflogReader(NflogReader&&) noexcept = default;
NflogReader& NflogReader::operator=(NflogReader&&) noexcept = default;
NflogReader::~NflogReader() = default;

Result<NflogReader> NflogReader::open(uint16_t group) {
  auto s = std::make_unique<Sock>();
  s->sock = nl_socket_alloc();
  if (!s->sock) return fail("NFLOG socket", ENOMEM);
  if (int err = nfnl_connect(s->sock); err < 0) return nl_fail("connect", err);
  // Old kernels want the family bound to nfnetlink_log first; newer ones ignore both calls.
  (void)nfnl_log_pf_unbind(s->sock, AF_INET);
  (void)nfnl_log_pf_bind(s->sock, AF_INET);
  (void)nfnl_log_pf_unbind(s->sock, AF_INET6);
  (void)nfnl_log_pf_bind(s->sock, AF_INET6);
  s->log = nfnl_log_alloc();
  if (!s->log) return fail("NFLOG instance", ENOMEM);
  nfnl_log_set_group(s->log, group);
  nfnl_log_set_copy_mode(s->log, NFNL_LOG_COPY_PACKET);
  nfnl_log_set_copy_range(s->log, kCopyRange);
  nfnl_log_set_flush_timeout(s->log, 10);  // 100 ms: a log line close to its packet
  if (int err = nfnl_log_create(s->sock, s->log); err < 0) {
    nfnl_log_put(s->log);
    s->log = nullptr;
    return nl_fail("bind group " + std::to_string(group), err);
  }
  nl_socket_disable_seq_check(s->sock);
  (void)nl_socket_set_buffer_size(s->sock, 1 << 20, 0);
  if (int err = nl_socket_set_nonblocking(s->sock); err < 0) return nl_fail("non-blocking", err);
  Sock* raw = s.get();
  nl_socket_modify_cb(
      s->sock, NL_CB_VALID, NL_CB_CUSTOM,
      [](nl_msg* msg, void* arg) -> int {
        auto* self = static_cast<Sock*>(arg);
        ++self->messages;
        nfnl_log_msg* m = nullptr;
        if (nfnlmsg_log_msg_parse(nlmsg_hdr(msg), &m) < 0 || !m) return NL_OK;
        int len = 0;
        const void* payload = nfnl_log_msg_get_payload(m, &len);
        const char* prefix = nfnl_log_msg_get_prefix(m);
        if (payload && len > 0 && prefix && self->fn)
          if (auto d =
                  decode_denied(prefix, {static_cast<const uint8_t*>(payload), static_cast<size_t>(len)}))
            (*self->fn)(*d);
        nfnl_log_msg_put(m);
        return NL_OK;
      },
      raw);
  return NflogReader(std::move(s));
}

int NflogReader::fd() const {
  return nl_socket_get_fd(sock_->sock);
}

Result<size_t> NflogReader::read(const std::function<void(const DeniedPacket&)>& fn) {
  sock_->fn = &fn;
  sock_->messages = 0;
  for (;;) {
    int err = nl_recvmsgs_default(sock_->sock);
    if (err >= 0) continue;
    if (err == -NLE_AGAIN) break;
    if (err == -NLE_NOMEM) {  // ENOBUFS: the kernel dropped messages; the socket is still good
      ++overruns_;
      continue;
    }
    sock_->fn = nullptr;
    return nl_fail("read", err);
  }
  sock_->fn = nullptr;
  return sock_->messages;
}

}  // namespace podnet::policy
