// What `podnet check` reads back from its probe pods' logs (a pod's log is whatever its process
// wrote, so untrusted) and the probe's own target arguments: every line as a result line, the
// input as a log, every line as a target.
#include <string_view>

#include "fuzz_target.h"
#include "troubleshoot/probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  std::string_view text = podnet::fuzz::as_text(data, size);
  auto results = podnet::troubleshoot::parse_results(text);
  for (const auto& r : results)
    if (auto again = podnet::troubleshoot::parse_result_line(podnet::troubleshoot::to_json_line(r)); !again)
      __builtin_trap();  // what was accepted must survive its own round trip
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (auto t = podnet::troubleshoot::parse_target(text.substr(0, nl)))
      if (!podnet::troubleshoot::parse_target(podnet::troubleshoot::format_target(*t))) __builtin_trap();
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return 0;
}
