// Paths, messages and the order of checks are kube v1.32's (pkg/apis/networking/validation and
// apimachinery's metav1 ValidateLabelSelector), since clients and people match on them. Values are
// printed as kube's field errors print Go values: strings quoted, int32 bare, named string slices
// as %#v.
#include "apiserver/validation/network_policy_validation.h"

#include <arpa/inet.h>

#include <array>
#include <boost/json.hpp>
#include <cstring>
#include <optional>

#include "apiserver/validation/field_error.h"
#include "apiserver/validation/service_spec.h"
#include "apiserver/validation/validation.h"

namespace podnet::apiserver {
namespace json = boost::json;

namespace {

// A JSON field Go would decode into a non-nil pointer (present and not null).
const json::value* present(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

const json::array* list(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

// An element of a list of structs: Go decodes null (or, past the type check, nothing else) as the
// zero struct.
const json::object& element(const json::value& v) {
  static const json::object kEmpty;
  const json::object* o = v.if_object();
  return o ? *o : kEmpty;
}

std::string string_value(const json::value& v) {
  const json::string* s = v.if_string();
  return s ? std::string(*s) : std::string();
}

// What Go's net.ParseCIDR (kube's sloppy variant: IPv4 octets may have leading zeros) makes of a
// CIDR: the masked network, whether it was written as IPv4 and its prefix length.
struct Cidr {
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
  bool v4 = false;
  int len = 0;
};

std::optional<std::array<uint8_t, 4>> parse_sloppy_v4(std::string_view s) {
  std::array<uint8_t, 4> out{};
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (s.empty() || s.front() != '.') return std::nullopt;
      s.remove_prefix(1);
    }
    size_t n = 0;
    unsigned value = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
      value = value * 10 + static_cast<unsigned>(s[n] - '0');
      if (value > 255) return std::nullopt;
      ++n;
    }
    if (n == 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(value);
    s.remove_prefix(n);
  }
  if (!s.empty()) return std::nullopt;
  return out;
}

void mask(std::array<uint8_t, 16>& bytes, int len, int total_bits) {
  for (int bit = len; bit < total_bits; ++bit) bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view addr = text.substr(0, slash), bits = text.substr(slash + 1);
  Cidr c;
  if (addr.find(':') == std::string_view::npos) {
    auto v4 = parse_sloppy_v4(addr);
    if (!v4) return std::nullopt;
    std::memcpy(c.bytes.data(), v4->data(), 4);
    c.v4 = true;
  } else {
    if (addr.size() > 45) return std::nullopt;
    std::string zero_terminated(addr);
    if (::inet_pton(AF_INET6, zero_terminated.c_str(), c.bytes.data()) != 1) return std::nullopt;
  }
  // Decimal, leading zeros allowed (Go's dtoi).
  if (bits.empty()) return std::nullopt;
  int len = 0;
  for (char ch : bits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    len = len * 10 + (ch - '0');
    if (len > 128) return std::nullopt;
  }
  if (len > (c.v4 ? 32 : 128)) return std::nullopt;
  c.len = len;
  mask(c.bytes, len, c.v4 ? 32 : 128);
  return c;
}

bool v4_mapped(const Cidr& c) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return !c.v4 && std::memcmp(c.bytes.data(), kPrefix, 12) == 0;
}

// Go's IPNet.Contains(ip) for `outer` and the network address of `inner`: an IPv4-mapped IPv6 value
// counts as IPv4 on either side, as Go's To4 makes it.
bool contains(const Cidr& outer, const Cidr& inner) {
  std::array<uint8_t, 16> net = outer.bytes, ip = inner.bytes;
  int len = outer.len, bits = 128;
  bool outer4 = outer.v4 || v4_mapped(outer), inner4 = inner.v4 || v4_mapped(inner);
  if (outer4 != inner4) return false;
  if (outer4) {
    if (!outer.v4) {
      std::memmove(net.data(), net.data() + 12, 4);
      len = len > 96 ? len - 96 : 0;
    }
    if (!inner.v4) std::memmove(ip.data(), ip.data() + 12, 4);
    bits = 32;
  }
  mask(ip, len, bits);
  return std::memcmp(net.data(), ip.data(), static_cast<size_t>(bits / 8)) == 0;
}

void validate_ip_block(const json::object& block, const std::string& path, std::vector<StatusCause>& out) {
  std::string cidr_text = string_value(block.contains("cidr") ? block.at("cidr") : json::value());
  if (cidr_text.empty()) {
    out.push_back(field::required(path + ".cidr"));
    return;
  }
  auto cidr = parse_cidr(cidr_text);
  if (!cidr) {
    out.push_back(field::invalid(path + ".cidr", field::quote(cidr_text), "not a valid CIDR"));
    return;
  }
  const json::array* excepts = list(block, "except");
  if (!excepts) return;
  for (size_t i = 0; i < excepts->size(); ++i) {
    std::string except_path = field::index(path + ".except", i);
    std::string text = string_value((*excepts)[i]);
    auto except = parse_cidr(text);
    if (!except) {
      // kube stops at the first except it cannot parse.
      out.push_back(field::invalid(except_path, field::quote(text), "not a valid CIDR"));
      return;
    }
    if (!contains(*cidr, *except) || cidr->len >= except->len)
      out.push_back(field::invalid(except_path, field::quote(text), "must be a strict subset of `cidr`"));
  }
}

void validate_port(const json::object& port, const std::string& path, std::vector<StatusCause>& out) {
  if (const json::value* protocol = present(port, "protocol")) {
    std::string p = string_value(*protocol);
    if (p != "TCP" && p != "UDP" && p != "SCTP")
      out.push_back(field::not_supported(path + ".protocol", field::quote(p), {"TCP", "UDP", "SCTP"}));
  }
  const json::value* port_value = present(port, "port");
  const json::value* end_value = present(port, "endPort");
  std::optional<int64_t> end = svc::as_int(end_value);
  std::string end_text = end ? std::to_string(*end) : (end_value ? json::serialize(*end_value) : "");
  if (!port_value) {
    if (end_value)
      out.push_back(
          field::invalid(path + ".endPort", end_text, "may not be specified when `port` is not specified"));
    return;
  }
  if (const json::string* name = port_value->if_string()) {
    if (end_value)
      out.push_back(
          field::invalid(path + ".endPort", end_text, "may not be specified when `port` is non-numeric"));
    for (const auto& msg : port_name_errors(*name))
      out.push_back(field::invalid(path + ".port", field::quote(*name), msg));
    return;
  }
  int64_t number = svc::as_int(port_value).value_or(0);
  if (!k8s::valid_port_number(number))
    out.push_back(
        field::invalid(path + ".port", std::to_string(number), k8s::inclusive_range_error(1, 65535)));
  if (end_value) {
    int64_t e = end.value_or(0);
    if (e < number)
      out.push_back(
          field::invalid(path + ".endPort", std::to_string(e), "must be greater than or equal to `port`"));
    if (!k8s::valid_port_number(e))
      out.push_back(
          field::invalid(path + ".endPort", std::to_string(e), k8s::inclusive_range_error(1, 65535)));
  }
}

void validate_peer(const json::object& peer, const std::string& path, bool allow_invalid_values,
                   std::vector<StatusCause>& out) {
  int peers = 0;
  if (const json::value* pods = present(peer, "podSelector")) {
    ++peers;
    validate_label_selector(pods, path + ".podSelector", allow_invalid_values, out);
  }
  if (const json::value* namespaces = present(peer, "namespaceSelector")) {
    ++peers;
    validate_label_selector(namespaces, path + ".namespaceSelector", allow_invalid_values, out);
  }
  const json::value* block = present(peer, "ipBlock");
  if (block) {
    ++peers;
    validate_ip_block(element(*block), path + ".ipBlock", out);
  }
  if (peers == 0)
    out.push_back(field::required(path, "must specify a peer"));
  else if (peers > 1 && block)
    out.push_back(field::forbidden(path, "may not specify both ipBlock and another peer"));
}

void validate_rules(const json::object& spec, std::string_view direction, std::string_view peers_key,
                    bool allow_invalid_values, std::vector<StatusCause>& out) {
  const json::array* rules = list(spec, direction);
  if (!rules) return;
  for (size_t i = 0; i < rules->size(); ++i) {
    const json::object& rule = element((*rules)[i]);
    std::string rule_path = field::index("spec." + std::string(direction), i);
    if (const json::array* ports = list(rule, "ports"))
      for (size_t j = 0; j < ports->size(); ++j)
        validate_port(element((*ports)[j]), field::index(rule_path + ".ports", j), out);
    if (const json::array* peers = list(rule, peers_key))
      for (size_t j = 0; j < peers->size(); ++j)
        validate_peer(element((*peers)[j]), field::index(rule_path + "." + std::string(peers_key), j),
                      allow_invalid_values, out);
  }
}

const json::object& spec_of(const json::object& np) {
  static const json::object kEmpty;
  const json::value* spec = np.if_contains("spec");
  return spec && spec->is_object() ? spec->get_object() : kEmpty;
}

}  // namespace

void validate_label_selector(const json::value* selector, const std::string& path, bool allow_invalid_values,
                             std::vector<StatusCause>& out) {
  if (!selector || !selector->is_object()) return;
  const json::object& s = selector->get_object();
  if (const json::value* labels = s.if_contains("matchLabels"); labels && labels->is_object()) {
    const std::string labels_path = path + ".matchLabels";
    for (const auto& [key, value] : labels->get_object()) {
      for (const auto& msg : qualified_name_errors(key))
        out.push_back(field::invalid(labels_path, field::quote(key), msg));
      std::string v = string_value(value);
      for (const auto& msg : label_value_errors(v))
        out.push_back(field::invalid(labels_path, field::quote(v), msg));
    }
  }
  const json::array* expressions = list(s, "matchExpressions");
  if (!expressions) return;
  for (size_t i = 0; i < expressions->size(); ++i) {
    const json::object& e = element((*expressions)[i]);
    std::string e_path = field::index(path + ".matchExpressions", i);
    std::string op = string_value(e.contains("operator") ? e.at("operator") : json::value());
    const json::array* values = list(e, "values");
    size_t n = values ? values->size() : 0;
    if (op == "In" || op == "NotIn") {
      if (n == 0)
        out.push_back(
            field::required(e_path + ".values", "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (n > 0)
        out.push_back(field::forbidden(e_path + ".values",
                                       "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else {
      out.push_back(field::invalid(e_path + ".operator", field::quote(op), "not a valid selector operator"));
    }
    std::string key = string_value(e.contains("key") ? e.at("key") : json::value());
    for (const auto& msg : qualified_name_errors(key))
      out.push_back(field::invalid(e_path + ".key", field::quote(key), msg));
    if (allow_invalid_values) continue;
    for (size_t j = 0; j < n; ++j) {
      std::string v = string_value((*values)[j]);
      for (const auto& msg : label_value_errors(v))
        out.push_back(field::invalid(field::index(e_path + ".values", j), field::quote(v), msg));
    }
  }
}

void default_network_policy(json::object& np) {
  json::value& spec_value = np["spec"];
  if (!spec_value.is_object()) spec_value = json::object{};
  json::object& spec = spec_value.get_object();
  for (std::string_view direction : {"ingress", "egress"}) {
    json::value* rules = spec.if_contains(direction);
    if (!rules || !rules->is_array()) continue;
    for (json::value& rule : rules->get_array()) {
      if (!rule.is_object()) continue;
      json::value* ports = rule.get_object().if_contains("ports");
      if (!ports || !ports->is_array()) continue;
      for (json::value& port : ports->get_array()) {
        if (port.is_null()) port = json::object{};
        if (!port.is_object()) continue;
        json::object& p = port.get_object();
        if (const json::value* protocol = p.if_contains("protocol"); !protocol || protocol->is_null())
          p["protocol"] = "TCP";
      }
    }
  }
  const json::array* types = list(spec, "policyTypes");
  if (!types || types->empty()) {
    json::array defaults{"Ingress"};
    if (const json::array* egress = list(spec, "egress"); egress && !egress->empty())
      defaults.push_back("Egress");
    spec["policyTypes"] = std::move(defaults);
  }
}

std::vector<StatusCause> validate_network_policy(const json::object& np, const json::object* old) {
  std::vector<StatusCause> out;
  const json::object& spec = spec_of(np);
  // ValidationOptionsForNetworking: a stored podSelector that is already invalid keeps label values
  // in selectors unchecked, so an old object can still be updated.
  bool allow_invalid_values = false;
  if (old) {
    std::vector<StatusCause> old_causes;
    validate_label_selector(spec_of(*old).if_contains("podSelector"), "", false, old_causes);
    allow_invalid_values = !old_causes.empty();
  }
  validate_label_selector(spec.if_contains("podSelector"), "spec.podSelector", allow_invalid_values, out);
  validate_rules(spec, "ingress", "from", allow_invalid_values, out);
  validate_rules(spec, "egress", "to", allow_invalid_values, out);
  const json::array* types = list(spec, "policyTypes");
  if (!types) return out;
  if (types->size() > 2) {
    std::vector<std::string> names;
    for (const auto& t : *types) names.push_back(string_value(t));
    out.push_back(field::invalid("spec.policyTypes", field::string_slice(names, "[]networking.PolicyType"),
                                 "may not specify more than two policyTypes"));
    return out;
  }
  for (size_t i = 0; i < types->size(); ++i) {
    std::string t = string_value((*types)[i]);
    if (t != "Ingress" && t != "Egress")
      out.push_back(
          field::not_supported(field::index("spec.policyTypes", i), field::quote(t), {"Ingress", "Egress"}));
  }
  return out;
}

ApiResult<std::unique_ptr<WriteTxn>> NetworkPolicyValidation::before_write(const json::object* old,
                                                                           json::object& obj) {
  default_network_policy(obj);
  if (auto causes = validate_network_policy(obj, old); !causes.empty()) {
    const json::object* meta = svc::object(obj, "metadata");
    return api_fail(invalid("networking.k8s.io", "NetworkPolicy", meta ? svc::str(*meta, "name") : "",
                            std::move(causes)));
  }
  return std::unique_ptr<WriteTxn>();
}

}  // namespace podnet::apiserver
