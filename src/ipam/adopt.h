// Upgrading a node to the run-dir layout (agent --run-dir): an older build kept the IPAM leases and
// the CNI plugin's state under the state dir; they must follow into the run dir, or the new dir
// (empty) would hand out addresses the running pods still hold.
#pragma once

#include <string>

#include "common/error.h"

namespace podnet::ipam {

struct AdoptStats {
  size_t reservations = 0;  // leases moved
  size_t conflicts = 0;     // the same address already reserved in the new dir by another owner
};

// Makes `old_dir` (an IPAM dataDir, or any state tree) a symlink to `new_dir` and moves what it
// held into `new_dir`, so that a plugin still configured with the old path (the conflist is
// rewritten later) reserves in the new one. Steps, each safe to repeat after a crash: rename
// old_dir to old_dir.adopting, symlink old_dir -> new_dir, move old_dir.adopting's content in
// (files already present in new_dir stay; a lease held there by another owner is counted as a
// conflict), remove old_dir.adopting. Nothing to do when old_dir is missing or already the link.
// As an IPAM dataDir each network's lock is held while its leases move; reservations are created
// O_EXCL in the new dir, so a concurrent plugin can never get an address the move brings in.
Result<AdoptStats> adopt_dir(const std::string& old_dir, const std::string& new_dir);

}  // namespace podnet::ipam
