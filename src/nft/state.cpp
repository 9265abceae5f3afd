#include "nft/state.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>

#include "common/files.h"

namespace podnet::nft::detail {
namespace {

constexpr const char* kMagic = "podnet-portmap 1";

// Splits on tabs: keys contain spaces ("tcp . 80") and colons (IPv6), never tabs.
std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

// Elements are pasted into nft commands on DEL: accept only what ADD itself writes. Quotes only
// enclose interface names (macspoofchk); without braces or semicolons nothing can end the element.
bool plausible(const Element& e) {
  static const char* ip_maps[] = {"hostports", "hostip-ports", "hairpin", "masq"};
  bool map_ok = is_bridge_set(e.map) || std::any_of(std::begin(ip_maps), std::end(ip_maps),
                                                    [&](const char* m) { return e.map == m; });
  auto text_ok = [](const std::string& t) {
    return std::all_of(t.begin(), t.end(), [](unsigned char c) {
      return std::isalnum(c) || c == ' ' || c == '.' || c == ':' || c == '_' || c == '-' || c == '"';
    });
  };
  // Set elements (the bridge family's) have no value; map elements always have one.
  bool value_ok = is_bridge_set(e.map) ? e.value.empty() : !e.value.empty() && text_ok(e.value);
  return map_ok && !e.key.empty() && text_ok(e.key) && value_ok;
}

// The family column: "ip", "ip6" or "bridge", which must agree with the map.
bool parse_family(const std::string& family, const std::string& map, bool& v6) {
  v6 = family == "ip6";
  if (family == "bridge") return is_bridge_set(map);
  return (family == "ip" || family == "ip6") && !is_bridge_set(map);
}

}  // namespace

Status validate_key(const AttachmentKey& who) {
  const auto& id = who.container_id;
  bool id_ok = !id.empty() && id.size() <= 256 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
  if (!id_ok) return fail("invalid container ID \"" + id + "\"", EINVAL);
  if (!valid_ifname(who.ifname)) return fail("invalid interface name \"" + who.ifname + "\"", EINVAL);
  return {};
}

bool valid_ifname(const std::string& n) {
  return !n.empty() && n.size() <= 15 && n != "." && n != ".." &&
         std::all_of(n.begin(), n.end(), [](unsigned char c) {
           return std::isgraph(c) && c != '/' && c != ':' && c != '"' && c != '\\';
         });
}

std::string table_dir(const PortmapStore& store) {
  return store.state_dir + "/" + store.table;
}

std::string state_path(const PortmapStore& store, const AttachmentKey& who) {
  return table_dir(store) + "/" + who.container_id + "_" + who.ifname;
}

std::string encode(const State& s) {
  std::string out =
      std::string(kMagic) + "\ncontainer\t" + s.who.container_id + "\nifname\t" + s.who.ifname + "\n";
  for (const auto& e : s.elements)
    out += std::string("element\t") + family_of(e) + "\t" + e.map + "\t" + e.key + "\t" + e.value + "\n";
  return out;
}

Result<State> decode(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMagic)
    return fail("bad state file " + path + ": unknown format", EINVAL);
  State s;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto f = split_tabs(line);
    if (f[0] == "container" && f.size() == 2) {
      s.who.container_id = f[1];
    } else if (f[0] == "ifname" && f.size() == 2) {
      s.who.ifname = f[1];
    } else if (f[0] == "element" && f.size() == 5) {
      Element e{false, f[2], f[3], f[4]};
      if (!parse_family(f[1], e.map, e.v6) || !plausible(e))
        return fail("bad state file " + path + ": bad element \"" + line + "\"", EINVAL);
      s.elements.push_back(std::move(e));
    } else {
      return fail("bad state file " + path + ": unexpected line \"" + line + "\"", EINVAL);
    }
  }
  // The key ends up in nft commands on DEL: the same checks as on ADD.
  if (auto r = validate_key(s.who); !r)
    return fail("bad state file " + path + ": " + r.error().context, EINVAL);
  return s;
}

Result<std::optional<State>> load(const PortmapStore& store, const AttachmentKey& who) {
  std::string path = state_path(store, who);
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ENOENT) return std::optional<State>{};
    return std::unexpected(text.error());
  }
  auto s = decode(*text, path);
  if (!s) return std::unexpected(s.error());
  if (s->who != who) return std::optional<State>{};
  return std::optional<State>{std::move(*s)};
}

}  // namespace podnet::nft::detail
