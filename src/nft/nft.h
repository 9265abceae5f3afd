// A libnftables context: runs nft command text (or JSON) as one atomic transaction and reads
// back listings. Every caller confines itself to its own tables; nothing here touches others.
#pragma once

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

 private:
  explicit Nft(nft_ctx* ctx) : ctx_(ctx) {}
  nft_ctx* ctx_ = nullptr;
};

}  // namespace podnet::nft
