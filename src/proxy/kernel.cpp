// Applies proxy transactions: `before` text, the element batch, `after` text, each atomic, in an
// order where every intermediate state is consistent (chains exist before elements jump to them).
#include "proxy/kernel.h"

#include <malloc.h>
#include <sys/stat.h>

#include <boost/json/parse.hpp>

namespace podnet::proxy {

namespace {

// The calling thread's network namespace, as an inode number (0 if unknown).
ino_t current_netns() {
  struct stat st {};
  return ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

}  // namespace

Result<NftProxyKernel> NftProxyKernel::open(RulesetConfig cfg) {
  PODNET_TRY(nft, nft::Nft::open());
  PODNET_TRY(writer, ElementBatchWriter::open());
  NftProxyKernel kernel(std::move(nft), std::move(writer), std::move(cfg));
  kernel.netns_ = current_netns();
  return kernel;
}

Status NftProxyKernel::apply(const Transaction& tx) {
  if (!tx.before.empty())
    if (auto s = nft_.run(tx.before); !s) return std::unexpected(wrap(s.error(), "prepare proxy chains"));
  if (auto s = writer_.apply(tx, cfg_); !s) return std::unexpected(wrap(s.error(), "write proxy batch"));
  if (!tx.after.empty())
    if (auto s = nft_.run(tx.after); !s) return std::unexpected(wrap(s.error(), "remove stale proxy chains"));
  if (!tx.before.empty() || !tx.after.empty()) drop_nft_cache();
  return {};
}

void NftProxyKernel::drop_nft_cache() {
  // libnftables keeps the ruleset cache it loaded in its context, with four 8192-bucket hash tables
  // per table (~0.5 MB each): 18 MB for the 34 tables of 16 shards, held until the context goes.
  // Text runs are rare (full syncs, new affinity groups), so a fresh context costs little.
  // A new context's socket is in the calling thread's namespace: only where the old one was.
  if (netns_ == 0 || current_netns() != netns_) return;
  auto fresh = nft::Nft::open();
  if (!fresh) return;  // keep the old one: memory, not correctness
  nft_ = std::move(*fresh);
  ::malloc_trim(0);
}

Result<ExistingChains> NftProxyKernel::list_chains() {
  ExistingChains out;
  for (Family f : kFamilies) {
    PODNET_TRY(text, nft_.query(std::string("list chains ") + nft_family(f)));
    boost::system::error_code ec;
    auto doc = boost::json::parse(text, ec);
    if (ec || !doc.is_object()) return fail_msg("list chains: unreadable nft JSON");
    const auto* items = doc.get_object().if_contains("nftables");
    if (!items || !items->is_array()) continue;
    for (const auto& item : items->get_array()) {
      const auto* chain = item.is_object() ? item.get_object().if_contains("chain") : nullptr;
      if (!chain || !chain->is_object()) continue;
      const auto& c = chain->get_object();
      const auto* table = c.if_contains("table");
      const auto* name = c.if_contains("name");
      if (!table || !name || !table->is_string() || !name->is_string()) continue;
      const std::string t(table->get_string());
      if (t == cfg_.table || parse_shard_table(t, cfg_)) out[f][t].emplace_back(name->get_string());
    }
  }
  return out;
}

Status remove_proxy_tables(nft::Nft& nft, const RulesetConfig& cfg) {
  // "add" first makes the delete of the base table succeed whether or not it exists.
  std::string cmds;
  for (Family f : kFamilies) {
    const std::string t = std::string(nft_family(f)) + " " + cfg.table;
    cmds += "add table " + t + "\ndelete table " + t + "\n";
  }
  PODNET_TRY(text, nft.query("list tables"));
  boost::system::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) return fail_msg("list tables: unreadable nft JSON");
  const auto* items = doc.get_object().if_contains("nftables");
  if (items && items->is_array())
    for (const auto& item : items->get_array()) {
      const auto* table = item.is_object() ? item.get_object().if_contains("table") : nullptr;
      if (!table || !table->is_object()) continue;
      const auto* family = table->get_object().if_contains("family");
      const auto* name = table->get_object().if_contains("name");
      if (!family || !name || !family->is_string() || !name->is_string()) continue;
      const std::string fam(family->get_string()), n(name->get_string());
      if ((fam == "ip" || fam == "ip6") && parse_shard_table(n, cfg))
        cmds += "delete table " + fam + " " + n + "\n";
    }
  return nft.run(cmds);
}

}  // namespace podnet::proxy
