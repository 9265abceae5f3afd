// A libnftables context: runs nft command text (or JSON) as one atomic transaction and reads
// back listings. Every caller confines itself to its own tables; nothing here touches others.
// Not thread-safe: one Nft per thread. The netlink socket belongs to the network namespace that
// was current when open() ran. Closing it (the destructor) after a transaction that deleted
// anything waits for the kernel's deferred nf_tables cleanup (an RCU grace period, ~10 ms).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

struct nft_ctx;

namespace podnet::nft {

class Nft {
 public:
  static Result<Nft> open();
  Nft(Nft&&) noexcept;
  Nft& operator=(Nft&&) noexcept;
  ~Nft();

  // Runs commands (nft syntax, several lines) as one transaction; the error carries nft's message.
  Status run(std::string_view commands);
  // Runs a command and returns its output (JSON when json=true), e.g. "list table ip podnet-cni".
  Result<std::string> query(std::string_view command, bool json = true);

  struct Api;  // libnftables' entry points, resolved at the first open()

 private:
  Nft(std::shared_ptr<const Api> api, nft_ctx* ctx) : api_(std::move(api)), ctx_(ctx) {}
  std::shared_ptr<const Api> api_;
  nft_ctx* ctx_ = nullptr;
};

}  // namespace podnet::nft
