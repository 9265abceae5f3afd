// Denied-connection log: the deny rules of `table inet podnet-policy` send a rate-limited copy of
// the packets they drop to an NFLOG group (nft `log group N`); this reads that group through
// libnl-nf (already a dependency: the proxy's conntrack cleanup) and decodes each packet
// (denied_packet.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "policy/denied_packet.h"

namespace podnet::policy {

// One NFLOG group bound in the caller's network namespace. Reads are non-blocking.
class NflogReader {
 public:
  static Result<NflogReader> open(uint16_t group);
  NflogReader(NflogReader&&) noexcept;
  NflogReader& operator=(NflogReader&&) noexcept;
  ~NflogReader();

  int fd() const;
  // Everything queued now; `fn` for each packet decoded. Returns how many messages were read
  // (decoded or not). ENOBUFS (the kernel dropped log messages) is counted, not an error.
  Result<size_t> read(const std::function<void(const DeniedPacket&)>& fn);
  uint64_t overruns() const { return overruns_; }

 private:
  struct Sock;
  explicit NflogReader(std::unique_ptr<Sock> s);
  std::unique_ptr<Sock> sock_;
  uint64_t overruns_ = 0;
};

}  // namespace podnet::policy
