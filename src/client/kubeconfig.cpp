// kubeconfig resolution: current-context -> context -> (cluster, user), as kubectl does for the
// fields a proxy or agent needs. Unknown fields are ignored (kubeconfigs carry many we do not use).
#include "client/kubeconfig.h"

#include <filesystem>

#include "client/yaml_lite.h"
#include "common/files.h"

namespace podnet::client {

Result<std::string> base64_decode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      padding = true;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return fail_msg("invalid base64");
    }
    if (padding) return fail_msg("invalid base64: data after padding");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return fail_msg("invalid base64: truncated");
  return out;
}

namespace {

std::string where(const std::string& field, const YamlNode& n) {
  return n.line > 0 ? field + " (line " + std::to_string(n.line) + ")" : field;
}

std::unexpected<Error> bad(const std::string& field, const YamlNode& n, const std::string& why) {
  return fail_msg(where(field, n) + ": " + why);
}

// A string field of a mapping; empty when absent or null.
Result<std::string> string_field(const YamlNode& map, const std::string& path, std::string_view key) {
  const YamlNode* n = map.find(key);
  if (!n || n->kind == YamlNode::Kind::kNull) return std::string();
  if (n->kind != YamlNode::Kind::kScalar) return bad(path + "." + std::string(key), *n, "must be a string");
  return n->scalar;
}

Result<bool> bool_field(const YamlNode& map, const std::string& path, std::string_view key) {
  PODNET_TRY(s, string_field(map, path, key));
  if (s.empty() || s == "false") return false;
  if (s == "true") return true;
  return bad(path + "." + std::string(key), *map.find(key), "must be true or false, got " + s);
}

// The `inner` mapping (cluster/user/context) of the list entry called `name` in clusters/users/contexts.
Result<std::pair<const YamlNode*, std::string>> named_entry(const YamlNode& root, std::string_view list,
                                                            std::string_view inner, const std::string& name) {
  const YamlNode* l = root.find(list);
  if (!l || l->kind == YamlNode::Kind::kNull)
    return fail_msg(std::string(list) + ": missing, needed for " + name);
  if (l->kind != YamlNode::Kind::kSeq) return bad(std::string(list), *l, "must be a list");
  for (size_t i = 0; i < l->seq.size(); ++i) {
    const YamlNode& e = l->seq[i];
    std::string path = std::string(list) + "[" + std::to_string(i) + "]";
    if (e.kind != YamlNode::Kind::kMap) return bad(path, e, "must be a mapping");
    PODNET_TRY(n, string_field(e, path, "name"));
    if (n != name) continue;
    const YamlNode* body = e.find(inner);
    if (!body || body->kind != YamlNode::Kind::kMap)
      return bad(path + "." + std::string(inner), body ? *body : e, "missing or not a mapping");
    return std::pair{body, path + "." + std::string(inner)};
  }
  return bad(std::string(list), *l, "no entry named \"" + name + "\"");
}

// `<key>-data` (base64) or `<key>` (a file path, relative to the kubeconfig's directory).
Result<std::string> data_or_file(const YamlNode& map, const std::string& path, const std::string& key,
                                 const std::string& base_dir) {
  PODNET_TRY(data, string_field(map, path, key + "-data"));
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) return bad(path + "." + key + "-data", *map.find(key + "-data"), decoded.error().context);
    return *decoded;
  }
  PODNET_TRY(file, string_field(map, path, key));
  if (file.empty()) return std::string();
  std::filesystem::path p(file);
  if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
  auto content = read_file(p.string());
  if (!content) return std::unexpected(wrap(content.error(), where(path + "." + key, *map.find(key))));
  return *content;
}

}  // namespace

Result<ClusterAccess> parse_kubeconfig(std::string_view text, const std::string& base_dir,
                                       const std::string& context) {
  PODNET_TRY(root, parse_yaml_lite(text));
  if (root.kind != YamlNode::Kind::kMap) return fail_msg("kubeconfig: not a mapping");
  ClusterAccess out;
  out.context = context;
  if (out.context.empty()) {
    PODNET_TRY(current, string_field(root, "", "current-context"));
    if (current.empty()) return fail_msg("current-context: missing (and no context given)");
    out.context = std::move(current);
  }
  PODNET_TRY(ctx, named_entry(root, "contexts", "context", out.context));
  PODNET_TRY(cluster_name, string_field(*ctx.first, ctx.second, "cluster"));
  PODNET_TRY(user_name, string_field(*ctx.first, ctx.second, "user"));
  if (cluster_name.empty()) return bad(ctx.second + ".cluster", *ctx.first, "missing");

  PODNET_TRY(cluster, named_entry(root, "clusters", "cluster", cluster_name));
  const YamlNode& c = *cluster.first;
  PODNET_TRY(server, string_field(c, cluster.second, "server"));
  if (server.empty()) return bad(cluster.second + ".server", c, "missing");
  if (!server.starts_with("https://") && !server.starts_with("http://"))
    return bad(cluster.second + ".server", *c.find("server"), "must be an http(s) URL, got " + server);
  out.server = std::move(server);
  PODNET_TRY(ca, data_or_file(c, cluster.second, "certificate-authority", base_dir));
  out.ca_pem = std::move(ca);
  PODNET_TRY(insecure, bool_field(c, cluster.second, "insecure-skip-tls-verify"));
  out.insecure_skip_tls_verify = insecure;

  if (!user_name.empty()) {
    PODNET_TRY(user, named_entry(root, "users", "user", user_name));
    const YamlNode& u = *user.first;
    PODNET_TRY(cert, data_or_file(u, user.second, "client-certificate", base_dir));
    PODNET_TRY(key, data_or_file(u, user.second, "client-key", base_dir));
    if (cert.empty() != key.empty())
      return bad(user.second, u, "client-certificate and client-key must be given together");
    out.client_cert_pem = std::move(cert);
    out.client_key_pem = std::move(key);
    PODNET_TRY(token, string_field(u, user.second, "token"));
    if (token.empty()) {
      PODNET_TRY(token_file, string_field(u, user.second, "tokenFile"));
      if (!token_file.empty()) {
        std::filesystem::path p(token_file);
        if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
        auto t = read_file(p.string());
        if (!t)
          return std::unexpected(wrap(t.error(), where(user.second + ".tokenFile", *u.find("tokenFile"))));
        token = std::move(*t);
        while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
      }
    }
    out.token = std::move(token);
    for (const char* unsupported : {"exec", "auth-provider"})
      if (const YamlNode* n = u.find(unsupported); n && n->kind != YamlNode::Kind::kNull)
        return bad(user.second + "." + unsupported, *n, "credential plugins are not supported");
  }
  return out;
}

Result<ClusterAccess> load_kubeconfig(const std::string& path, const std::string& context) {
  auto text = read_file(path);
  if (!text) return std::unexpected(wrap(text.error(), "kubeconfig"));
  auto access = parse_kubeconfig(*text, std::filesystem::path(path).parent_path().string(), context);
  if (!access) return std::unexpected(wrap(access.error(), "kubeconfig " + path));
  return access;
}

}  // namespace podnet::client
