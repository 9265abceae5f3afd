// CRI log files as the log server renders them for `kubectl logs` (partial lines joined, tail,
// byte limit, timestamps, since): the file is written by the shim from what the container prints.
#include "fuzz_target.h"
#include "runtime/log_server.h"

using podnet::runtime::LogQuery;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  std::string text(podnet::fuzz::as_text(data, size));
  static const LogQuery queries[] = {
      {},
      {.timestamps = true},
      {.tail_lines = 1},
      {.tail_lines = 0, .limit_bytes = 3},
      {.limit_bytes = 7, .since_unix_ns = 1767225601000000000},
  };
  for (const auto& q : queries) (void)podnet::runtime::render_cri_log(text, q);
  return 0;
}
