// Turns one DNS query (wire format, untrusted) into an answer from the RecordStore, or says that
// it must be forwarded, or that it deserves no reply. libknot parses and writes the packets.
// One Responder per serving thread (it owns the per-query arena).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dns/arena.h"
#include "dns/store.h"

namespace podnet::dns {

// The largest UDP answer we send with EDNS0 (DNS flag day 2020), and without it, RFC 1035's.
inline constexpr size_t kMaxUdpPayload = 1232;
inline constexpr size_t kMaxMessage = 65535;

enum class Verdict { kAnswer, kForward, kDrop };

struct Question {
  // Lower-case wire format; points into the Responder's arena: valid until its next answer().
  std::string_view name;
  uint16_t type = 0, klass = 0;
  uint16_t udp_size = 512;  // what the client accepts over UDP
  bool edns = false;
};

struct Answered {
  Verdict verdict = Verdict::kDrop;
  size_t size = 0;     // kAnswer: bytes written to `out`
  uint16_t rcode = 0;  // kAnswer: extended rcode (for metrics)
  bool authoritative = false;
  Question question;  // kForward (and kAnswer when the question parsed)
};

class Responder {
 public:
  explicit Responder(const RecordStore& store);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // `out` must hold kMaxMessage bytes. `tcp` lifts the UDP size limit.
  Answered answer(std::span<const uint8_t> query, bool tcp, uint8_t* out);

  // An answer with only the header and question of `query` and `rcode` (SERVFAIL when forwarding
  // fails, REFUSED...); 0 when the query cannot carry one.
  static size_t error_reply(std::span<const uint8_t> query, uint8_t rcode, uint8_t* out);

 private:
  const RecordStore& store_;
  Arena arena_;
  knot_rrset_t opt_{};  // our OPT record (payload kMaxUdpPayload), built once
};

}  // namespace podnet::dns
