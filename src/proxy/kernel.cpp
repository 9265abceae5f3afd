// Applies proxy transactions: `before` text, the element batch, `after` text, each atomic, in an
// order where every intermediate state is consistent (chains exist before elements jump to them).
#include "proxy/kernel.h"

#include <boost/json/parse.hpp>

namespace podnet::proxy {

Result<NftProxyKernel> NftProxyKernel::open(RulesetConfig cfg) {
  PODNET_TRY(nft, nft::Nft::open());
  PODNET_TRY(writer, ElementBatchWriter::open());
  return NftProxyKernel(std::move(nft), std::move(writer), std::move(cfg));
}

Status NftProxyKernel::apply(const Transaction& tx) {
  if (!tx.before.empty())
    if (auto s = nft_.run(tx.before); !s) return std::unexpected(wrap(s.error(), "prepare proxy chains"));
  if (auto s = writer_.apply(tx, cfg_); !s) return std::unexpected(wrap(s.error(), "write proxy batch"));
  if (!tx.after.empty())
    if (auto s = nft_.run(tx.after); !s) return std::unexpected(wrap(s.error(), "remove stale proxy chains"));
  return {};
}

Result<std::map<Family, std::vector<std::string>>> NftProxyKernel::list_chains() {
  std::map<Family, std::vector<std::string>> out;
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
      if (table && name && table->is_string() && name->is_string() && table->get_string() == cfg_.table)
        out[f].emplace_back(name->get_string());
    }
  }
  return out;
}

}  // namespace podnet::proxy
