// Internal to podnet_ipam: which reservation files an attachment holds, via its index (fast path)
// or a directory scan (state without an index: host-local's, or a crash before the index was written).
#pragma once

#include <string>
#include <vector>

#include "ipam/store.h"

namespace podnet::ipam {

// The index's addresses whose reservation file still names its attachment; entries can be stale
// after a crash mid-release, and the address may have gone to someone else since.
Result<std::vector<std::string>> verified_owned(const Store& store, const IndexRecord& rec);

// Reservation files naming the attachment. Like host-local, files in the legacy form (container ID
// only) count when no file names the interface too.
Result<std::vector<std::string>> scan_owned(const Store& store, const Attachment& who);

}  // namespace podnet::ipam
