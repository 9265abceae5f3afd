#include "common/spdy_remote_command.h"

#include <algorithm>

#include "common/stream_frames.h"

namespace podnet::spdy {

namespace {
// stdin is cut into node messages of at most this much (the node's frames take up to 1 MiB).
constexpr size_t kStdinChunk = 256 * 1024;

std::string message(uint8_t channel, std::string_view payload) {
  std::string m;
  m.reserve(payload.size() + 1);
  m += static_cast<char>(channel);
  m += payload;
  return m;
}
}  // namespace

bool RemoteCommandStreams::feed(std::string_view bytes, Output& out) {
  if (ended_) return false;
  if (!decoder_.feed(bytes)) return session_error(out);
  while (auto f = decoder_.next()) {
    if (f->control) {
      if (!control(*f, out)) return false;
    } else {
      data(*f, out);
      if (ended_) return false;
    }
  }
  if (decoder_.bad()) return session_error(out);
  return true;
}

bool RemoteCommandStreams::complete() const {
  return error_id_ && (!wanted_.stdin || stdin_id_) && (!wanted_.stdout || stdout_id_) &&
         (!wanted_.stderr || wanted_.tty || stderr_id_) && (!wanted_.tty || resize_id_);
}

std::string RemoteCommandStreams::from_node(std::string_view m) const {
  if (m.size() < 2) return {};
  uint8_t channel = static_cast<uint8_t>(m[0]);
  uint32_t id = channel == streams::kStdout   ? stdout_id_
                : channel == streams::kStderr ? stderr_id_
                : channel == streams::kError  ? error_id_
                                              : 0;
  // With a tty the node writes the terminal's output as stdout only; a stderr message without a
  // stderr stream has nowhere to go, as with kubelet.
  if (id == 0) return {};
  return encode_data(id, 0, m.substr(1));
}

std::string RemoteCommandStreams::finish() const {
  std::string out;
  for (uint32_t id : {error_id_, stdout_id_, stderr_id_, stdin_id_, resize_id_})
    if (id != 0) out += encode_data(id, kFlagFin, {});
  return out;
}

bool RemoteCommandStreams::control(const Frame& f, Output& out) {
  switch (static_cast<ControlType>(f.type)) {
    case ControlType::kSynStream:
      return syn_stream(f, out);
    case ControlType::kPing:
      if (auto w = parse_words(f)) out.to_client += encode_ping(w->first);
      return true;
    case ControlType::kGoAway:
      ended_ = true;
      return false;
    case ControlType::kRstStream:
      // The client gave up on a stream the command needs: the session ends. (A reset of stdin
      // after its FIN, or of resize, changes nothing.)
      if (f.stream_id != 0 && (f.stream_id == error_id_ || f.stream_id == stdout_id_ ||
                               f.stream_id == stderr_id_ || (f.stream_id == stdin_id_ && !stdin_fin_))) {
        ended_ = true;
        return false;
      }
      return true;
    case ControlType::kHeaders:
      // Its block must be inflated: the compression context spans the session.
      if (f.payload.size() < 4 || !codec_.decode(std::string_view(f.payload).substr(4)))
        return session_error(out);
      return true;
    default:
      return true;  // SETTINGS, WINDOW_UPDATE (the Go client keeps no windows either)
  }
}

bool RemoteCommandStreams::syn_stream(const Frame& f, Output& out) {
  auto syn = parse_syn_stream(f);
  if (!syn) return session_error(out);
  // Inflated even for a stream refused below: the compression context spans the session.
  auto headers = codec_.decode(syn->header_block);
  if (!headers) return session_error(out);
  if (syn->stream_id % 2 == 0 || syn->stream_id <= last_stream_id_) return session_error(out);
  last_stream_id_ = syn->stream_id;
  std::string type = header_value(*headers, "streamtype");
  uint32_t* slot = type == "error"    ? &error_id_
                   : type == "stdin"  ? (wanted_.stdin ? &stdin_id_ : nullptr)
                   : type == "stdout" ? (wanted_.stdout ? &stdout_id_ : nullptr)
                   : type == "stderr" ? (wanted_.stderr && !wanted_.tty ? &stderr_id_ : nullptr)
                   : type == "resize" ? (wanted_.tty ? &resize_id_ : nullptr)
                                      : nullptr;
  if (!slot || *slot != 0) {
    out.to_client += encode_rst_stream(syn->stream_id, kProtocolError);
    return true;
  }
  *slot = syn->stream_id;
  out.to_client += encode_syn_reply(codec_, syn->stream_id, 0, {});
  return true;
}

void RemoteCommandStreams::data(const Frame& f, Output& out) {
  if (f.stream_id == 0) return;
  if (f.stream_id == stdin_id_ && !stdin_fin_) {
    std::string_view p = f.payload;
    for (size_t at = 0; at < p.size(); at += kStdinChunk)
      out.to_node.push_back(message(streams::kStdin, p.substr(at, kStdinChunk)));
    if (f.flags & kFlagFin) {
      // The client sends no more: the node closes the command's stdin (v5's close signal).
      stdin_fin_ = true;
      out.to_node.push_back(message(streams::kClose, std::string_view("\0", 1)));
    }
  } else if (f.stream_id == resize_id_) {
    std::string_view p = f.payload;
    while (!p.empty()) {
      size_t nl = p.find('\n');
      if (nl == std::string_view::npos) {
        resize_line_ += p;
        break;
      }
      resize_line_ += p.substr(0, nl);
      p.remove_prefix(nl + 1);
      if (!resize_line_.empty()) out.to_node.push_back(message(streams::kResize, resize_line_));
      resize_line_.clear();
    }
    if (resize_line_.size() > kMaxResizeLine) {
      out.to_client += encode_goaway(last_stream_id_, kProtocolError);
      ended_ = true;
    }
  }
  // Data on any other stream (stdout, error: the client's are read-only) is dropped.
}

bool RemoteCommandStreams::session_error(Output& out) {
  if (!ended_) out.to_client += encode_goaway(last_stream_id_, kProtocolError);
  ended_ = true;
  return false;
}

}  // namespace podnet::spdy
