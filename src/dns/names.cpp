#include "dns/names.h"

#include <algorithm>

namespace podnet::dns {

namespace {
bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}
}  // namespace

WireName to_wire(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  WireName out;
  if (text.empty()) return WireName(1, '\0');
  size_t start = 0;
  while (start <= text.size()) {
    size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    size_t len = dot - start;
    if (len == 0 || len > 63) return {};
    out.push_back(static_cast<char>(len));
    for (size_t i = start; i < dot; ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (!label_char(c)) return {};
      out.push_back(c);
    }
    start = dot + 1;
  }
  out.push_back('\0');
  if (out.size() > 255) return {};
  return out;
}

std::string to_text(std::string_view wire) {
  std::string out;
  size_t i = 0;
  while (i < wire.size() && wire[i] != 0) {
    size_t len = static_cast<uint8_t>(wire[i]);
    out.append(wire.substr(i + 1, len));
    out.push_back('.');
    i += len + 1;
  }
  return out.empty() ? "." : out;
}

int label_count(std::string_view wire) {
  int n = 0;
  for (size_t i = 0; i < wire.size() && wire[i] != 0; i += static_cast<uint8_t>(wire[i]) + 1) ++n;
  return n;
}

std::string_view parent(std::string_view wire) {
  if (wire.empty() || wire[0] == 0) return wire;
  size_t skip = static_cast<uint8_t>(wire[0]) + 1;
  return skip < wire.size() ? wire.substr(skip) : wire.substr(wire.size() - 1);
}

bool in_zone(std::string_view name, std::string_view suffix) {
  if (suffix.size() > name.size()) return false;
  // Walk the labels of `name`: the suffix must start at a label boundary.
  for (size_t i = 0; i < name.size();) {
    if (name.size() - i == suffix.size()) return name.substr(i) == suffix;
    if (name[i] == 0) break;
    i += static_cast<uint8_t>(name[i]) + 1;
  }
  return false;
}

WireName reverse_name(const IpAddress& ip) {
  std::string text;
  if (ip.is_v4()) {
    auto b = ip.to_v4().to_bytes();
    for (int i = 3; i >= 0; --i) text += std::to_string(b[i]) + ".";
    text += "in-addr.arpa";
  } else {
    auto b = ip.to_v6().to_bytes();
    static const char* hex = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
      text.push_back(hex[b[i] & 0xf]);
      text.push_back('.');
      text.push_back(hex[b[i] >> 4]);
      text.push_back('.');
    }
    text += "ip6.arpa";
  }
  return to_wire(text);
}

std::string dashed(const IpAddress& ip) {
  std::string s = ip.to_string();
  std::replace(s.begin(), s.end(), ip.is_v4() ? '.' : ':', '-');
  return s;
}

std::optional<IpAddress> undashed(std::string_view label) {
  if (label.empty() || label.size() > 45) return std::nullopt;
  std::string s(label);
  bool v6 = std::count(s.begin(), s.end(), '-') != 3 || s.find_first_of("abcdef") != std::string::npos;
  std::replace(s.begin(), s.end(), '-', v6 ? ':' : '.');
  auto ip = parse_ip(s);
  if (!ip) return std::nullopt;
  return *ip;
}

}  // namespace podnet::dns
