// What `podnet check`'s pods run (`podnet check-agent`): a TCP server that answers every
// connection with "<name> <peer address>", so the client learns who answered and whether its own
// address arrived unchanged (no NAT), and a prober that connects to a list of targets, retrying
// until a deadline, and prints one JSON line per target. Plain sockets, no API access: the check
// reads the lines from the pod's log.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace podnet::troubleshoot {

// "key=host:port" (host an IPv4 address or, with a "dns:" prefix, a name resolved through the
// pod's resolver) with an optional "!" after the port: the connection is expected to fail (a
// NetworkPolicy's deny), so the prober retries while it succeeds.
struct ProbeTarget {
  std::string key;
  std::string host;
  uint16_t port = 0;
  bool resolve = false;      // host is a DNS name
  bool expect_fail = false;  // "!"
};
Result<ProbeTarget> parse_target(std::string_view spec);
std::string format_target(const ProbeTarget& t);

struct ProbeResult {
  std::string key;
  bool ok = false;         // the expectation held: answered (or, with expect_fail, refused/dropped)
  std::string answer;      // the server's line, without the newline
  std::string address;     // the address connected to (after resolution)
  int64_t latency_us = 0;  // of the last attempt (the successful one when ok)
  int attempts = 0;
  std::string error;  // of the last failed attempt
};

struct ProbeTiming {
  std::chrono::milliseconds deadline{6000};  // per target, all attempts
  std::chrono::milliseconds attempt{1000};   // connect + answer, one attempt
  std::chrono::milliseconds pause{100};      // between attempts
};

// One target, attempts until the expectation holds or the deadline passes.
ProbeResult probe(const ProbeTarget& t, const ProbeTiming& timing);

// One line of JSON (no newline) and back. parse_result is for what the check reads from a pod's log:
// anything else than the line probe_main wrote is an error, never an exception.
std::string to_json_line(const ProbeResult& r);
Result<ProbeResult> parse_result_line(std::string_view line);
// Every result line of a log (lines that are not results are skipped; at most `max` results).
std::vector<ProbeResult> parse_results(std::string_view log, size_t max = 1000);

// Serves "<name> <peer>\n" on every connection to bind:port (each port given) until `stop` is set.
// A listener that cannot be made is an error at once.
Status serve(const std::string& name, const std::string& bind, const std::vector<uint16_t>& ports,
             const std::atomic<bool>& stop, std::function<void(uint16_t)> on_listening = nullptr);

// `podnet check-agent probe`: every target at once (one thread each), results to stdout.
int probe_main(const std::vector<std::string>& targets, const ProbeTiming& timing);

}  // namespace podnet::troubleshoot
