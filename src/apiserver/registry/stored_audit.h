// At start, before anything reads the store: every stored object must parse within the read limit
// and pass the write limits (limits.h). One that does not is repaired when only its annotations
// are at fault (values that are not strings are dropped) and quarantined otherwise: moved to
// /quarantine/<its key>, reported for the caller to log loudly, and out of every list, watch and controller's
// way. The original value is always kept under /quarantine/ for a person to inspect.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/error.h"
#include "storage/store.h"

namespace podnet::apiserver {

struct AuditReport {
  size_t checked = 0;
  size_t repaired = 0;
  size_t quarantined = 0;
  std::vector<std::string> findings;  // one line per object repaired, quarantined or over the size limit
};

inline constexpr const char* kQuarantinePrefix = "/quarantine";

Result<AuditReport> audit_stored_objects(storage::Store& store);

}  // namespace podnet::apiserver
