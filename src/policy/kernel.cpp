#include "policy/kernel.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>

namespace podnet::policy {
namespace {

Result<UniqueFd> current_netns() {
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("open /proc/thread-self/ns/net", errno);
  return fd;
}

bool same_file(int a, int b) {
  struct stat sa {
  }, sb{};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

Result<NftPolicyKernel> NftPolicyKernel::open() {
  PODNET_TRY(netns, current_netns());
  PODNET_TRY(nft, nft::Nft::open());
  return NftPolicyKernel(std::move(nft), std::move(netns));
}

// The context's netlink socket belongs to the namespace current when it is made: a fresh one is
// made only on a thread in open()'s namespace (every caller applies there).
Result<nft::Nft> NftPolicyKernel::open_in_namespace() const {
  PODNET_TRY(here, current_netns());
  if (!same_file(here.get(), netns_.get())) return fail_msg("this thread is in another network namespace");
  return nft::Nft::open();
}

Status NftPolicyKernel::apply(std::string_view nft_commands) {
  auto s = nft_.run(nft_commands);
  if (s && nft_commands.size() >= kFreshContextBytes) {
    if (auto fresh = open_in_namespace()) {
      nft_ = std::move(*fresh);
      ++fresh_contexts_;
    } else {
      spdlog::warn("network policy: keeping the nftables context: {}", fresh.error().message());
    }
  }
  return s;
}

}  // namespace podnet::policy
