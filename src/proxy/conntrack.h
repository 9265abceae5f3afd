// Stale UDP conntrack entries: flows the kernel would keep sending to a backend that no longer
// serves their frontend. An interface so the Proxier is tested without root; ctnetlink is the real one.
#pragma once

#include <cstddef>
#include <span>

#include "common/c_ptr.h"
#include "common/error.h"
#include "proxy/types.h"

struct nl_sock;
extern "C" void nl_socket_free(nl_sock*);

namespace podnet::proxy {

class Conntrack {
 public:
  virtual ~Conntrack() = default;
  // Deletes every entry matching one of `flows` (see StaleFlow); returns how many were deleted.
  virtual Result<size_t> clear(std::span<const StaleFlow> flows) = 0;
};

// Through ctnetlink (libnl-nf): one dump of the table, one delete per matching entry. The socket
// lives in the network namespace of the thread that called open().
class NetlinkConntrack : public Conntrack {
 public:
  static Result<NetlinkConntrack> open();
  Result<size_t> clear(std::span<const StaleFlow> flows) override;

 private:
  using SocketPtr = CPtr<nl_sock, nl_socket_free>;
  explicit NetlinkConntrack(SocketPtr sock) : sock_(std::move(sock)) {}
  SocketPtr sock_;
};

}  // namespace podnet::proxy
