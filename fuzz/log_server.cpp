// The agent's log server (:10250) request parsing: parse_log_request on the request target of a
// raw request (the request line's second word; the whole first line when it has none), then the
// parsed query rendered over a fixed CRI log, as the server would. The TLS and HTTP framing in
// front of it are OpenSSL's and Beast's.
#include "runtime/log_server.h"

#include <string>
#include <string_view>

#include "fuzz_target.h"

namespace {

std::string_view request_target(std::string_view raw) {
  std::string_view line = raw.substr(0, raw.find_first_of("\r\n"));
  size_t first = line.find(' ');
  if (first == std::string_view::npos) return line;
  std::string_view rest = line.substr(first + 1);
  return rest.substr(0, rest.find(' '));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  auto parsed = podnet::runtime::parse_log_request(request_target(podnet::fuzz::as_text(data, size)));
  if (!parsed) return 0;
  static const std::string log =
      "2026-01-01T00:00:00.000000001Z stdout F hello\n"
      "2026-01-01T00:00:01.5Z stderr P part\n"
      "2026-01-01T00:00:02Z stderr F ial\n";
  (void)podnet::runtime::render_cri_log(log, parsed->query);
  return 0;
}
