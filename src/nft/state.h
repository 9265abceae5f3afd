// Internal: the per-attachment record of the elements ADD created, in
// <state_dir>/<table>/<containerID>_<ifname>. DEL deletes exactly these keys, so it never needs to
// list the (possibly large) maps; GC reads the directory to find attachments that are gone.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "nft/portmap.h"
#include "nft/ruleset.h"

namespace podnet::nft::detail {

struct State {
  AttachmentKey who;
  std::vector<Element> elements;
};

// Container IDs use the CNI alphabet and interface names are kernel names, so both are safe as
// parts of a file name and of an nft comment; anything else is refused.
Status validate_key(const AttachmentKey& who);
bool valid_ifname(const std::string& name);
std::string table_dir(const PortmapStore& store);
std::string state_path(const PortmapStore& store, const AttachmentKey& who);

std::string encode(const State& s);
Result<State> decode(const std::string& text, const std::string& path);

// Reads the state of `who`; nullopt when there is none. A file that belongs to a different key
// (the "_" in the name is ambiguous when IDs contain "_") also counts as none.
Result<std::optional<State>> load(const PortmapStore& store, const AttachmentKey& who);

}  // namespace podnet::nft::detail
