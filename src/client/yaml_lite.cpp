// The kubeconfig YAML subset: lines are split into (indent, content) first, then mappings and
// sequences are read by indentation. Strictness is the point: what we cannot read, we refuse.
#include "client/yaml_lite.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

namespace podnet::client {

const YamlNode* YamlNode::find(std::string_view key) const {
  for (const auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}

namespace {

struct Line {
  int number = 0;
  size_t indent = 0;
  std::string text;  // without indentation and trailing spaces
};

std::unexpected<Error> at(int line, const std::string& what) {
  return fail_msg("line " + std::to_string(line) + ": " + what);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Drops a " # comment" that is outside quotes.
std::string_view strip_comment(std::string_view s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && quote == '"')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      if (i == 0 || s[i - 1] == ' ') quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ')) {
      return trim(s.substr(0, i));
    }
  }
  return s;
}

Result<std::vector<Line>> split_lines(std::string_view text) {
  std::vector<Line> lines;
  int number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    size_t indent = 0;
    while (indent < raw.size() && raw[indent] == ' ') ++indent;
    std::string_view rest = strip_comment(trim(raw.substr(indent)));
    if (rest.empty() || rest == "---") continue;
    if (indent < raw.size() && raw[indent] == '\t') return at(number, "tab in indentation");
    if (rest == "...") break;
    lines.push_back({number, indent, std::string(rest)});
  }
  return lines;
}

Result<std::string> unquote_double(std::string_view s, int line) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return at(line, "dangling backslash in string");
    switch (s[i]) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      default:
        return at(line, std::string("unsupported escape \\") + s[i]);
    }
  }
  return out;
}

// A quoted scalar starting at s[0]: its value and what follows the closing quote.
Result<std::pair<std::string, std::string_view>> read_quoted(std::string_view s, int line) {
  char q = s[0];
  for (size_t i = 1; i < s.size(); ++i) {
    if (q == '"' && s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] != q) continue;
    if (q == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
      ++i;
      continue;
    }
    std::string_view body = s.substr(1, i - 1);
    std::string value;
    if (q == '"') {
      PODNET_TRY(v, unquote_double(body, line));
      value = std::move(v);
    } else {
      for (size_t j = 0; j < body.size(); ++j) {
        value += body[j];
        if (body[j] == '\'') ++j;  // '' is one quote
      }
    }
    return std::pair{std::move(value), trim(s.substr(i + 1))};
  }
  return at(line, "unterminated quoted string");
}

Result<YamlNode> parse_scalar(std::string_view s, int line) {
  YamlNode n;
  n.line = line;
  if (s.empty() || s == "~" || s == "null") return n;
  if (s == "{}") {
    n.kind = YamlNode::Kind::kMap;
    return n;
  }
  if (s == "[]") {
    n.kind = YamlNode::Kind::kSeq;
    return n;
  }
  n.kind = YamlNode::Kind::kScalar;
  if (s[0] == '"' || s[0] == '\'') {
    PODNET_TRY(q, read_quoted(s, line));
    if (!q.second.empty()) return at(line, "text after quoted string: " + std::string(q.second));
    n.scalar = std::move(q.first);
    return n;
  }
  if (std::string_view("{[&*!|>%@`").find(s[0]) != std::string_view::npos)
    return at(line, "unsupported YAML (flow collection, anchor, tag or block scalar): " + std::string(s));
  n.scalar = std::string(s);
  return n;
}

// "key: value" / "key:" outside quotes; nullopt when the text is not a mapping entry.
Result<std::optional<std::pair<std::string, std::string_view>>> split_key(std::string_view s, int line) {
  if (s[0] == '"' || s[0] == '\'') {
    PODNET_TRY(q, read_quoted(s, line));
    if (q.second.empty() || q.second[0] != ':')
      return std::optional<std::pair<std::string, std::string_view>>();
    return std::optional{std::pair{std::move(q.first), trim(q.second.substr(1))}};
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' '))
      return std::optional{std::pair{std::string(trim(s.substr(0, i))), trim(s.substr(i + 1))}};
  }
  return std::optional<std::pair<std::string, std::string_view>>();
}

bool is_seq_item(const Line& l) {
  return l.text == "-" || l.text.starts_with("- ");
}

class Parser {
 public:
  explicit Parser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  Result<YamlNode> document() {
    if (lines_.empty()) return YamlNode{};
    if (lines_[0].indent != 0) return at(lines_[0].number, "document does not start at column 1");
    PODNET_TRY(root, block(lines_[0].indent));
    if (i_ < lines_.size()) return at(lines_[i_].number, "unexpected indentation");
    return root;
  }

 private:
  Result<YamlNode> block(size_t indent) {
    const Line& l = lines_[i_];
    if (is_seq_item(l)) return sequence(indent);
    PODNET_TRY(kv, split_key(l.text, l.number));
    if (!kv) {  // a lone scalar is a whole block only as a document or sequence item
      ++i_;
      return parse_scalar(l.text, l.number);
    }
    return mapping(indent);
  }

  Result<YamlNode> mapping(size_t indent) {
    YamlNode n;
    n.kind = YamlNode::Kind::kMap;
    n.line = lines_[i_].number;
    while (i_ < lines_.size() && lines_[i_].indent == indent && !is_seq_item(lines_[i_])) {
      const Line& l = lines_[i_];
      PODNET_TRY(kv, split_key(l.text, l.number));
      if (!kv) return at(l.number, "expected \"key: value\", got: " + l.text);
      if (n.find(kv->first)) return at(l.number, "duplicate key " + kv->first);
      ++i_;
      YamlNode value;
      if (!kv->second.empty()) {
        PODNET_TRY(v, parse_scalar(kv->second, l.number));
        value = std::move(v);
      } else if (i_ < lines_.size() &&
                 (lines_[i_].indent > indent || (lines_[i_].indent == indent && is_seq_item(lines_[i_])))) {
        // kubectl writes a mapping's sequence at the key's own indentation ("clusters:\n- name:").
        PODNET_TRY(v, block(lines_[i_].indent));
        value = std::move(v);
      } else {
        value.line = l.number;
      }
      n.map.emplace_back(std::move(kv->first), std::move(value));
    }
    if (i_ < lines_.size() && lines_[i_].indent > indent)
      return at(lines_[i_].number, "unexpected indentation");
    return n;
  }

  Result<YamlNode> sequence(size_t indent) {
    YamlNode n;
    n.kind = YamlNode::Kind::kSeq;
    n.line = lines_[i_].number;
    while (i_ < lines_.size() && lines_[i_].indent == indent && is_seq_item(lines_[i_])) {
      Line& l = lines_[i_];
      if (l.text == "-") {
        ++i_;
        if (i_ < lines_.size() && lines_[i_].indent > indent) {
          PODNET_TRY(v, block(lines_[i_].indent));
          n.seq.push_back(std::move(v));
        } else {
          n.seq.push_back(YamlNode{.line = l.number});
        }
        continue;
      }
      // "- name: x" opens a mapping whose keys sit where "name" starts: re-read the line there.
      size_t skip = 2;
      while (skip < l.text.size() && l.text[skip] == ' ') ++skip;
      l.indent += skip;
      l.text.erase(0, skip);
      PODNET_TRY(v, block(l.indent));
      n.seq.push_back(std::move(v));
    }
    if (i_ < lines_.size() && lines_[i_].indent > indent)
      return at(lines_[i_].number, "unexpected indentation");
    return n;
  }

  std::vector<Line> lines_;
  size_t i_ = 0;
};

YamlNode from_json(const boost::json::value& v) {
  YamlNode n;
  switch (v.kind()) {
    case boost::json::kind::null:
      break;
    case boost::json::kind::object:
      n.kind = YamlNode::Kind::kMap;
      for (const auto& kv : v.get_object()) n.map.emplace_back(std::string(kv.key()), from_json(kv.value()));
      break;
    case boost::json::kind::array:
      n.kind = YamlNode::Kind::kSeq;
      for (const auto& e : v.get_array()) n.seq.push_back(from_json(e));
      break;
    case boost::json::kind::string:
      n.kind = YamlNode::Kind::kScalar;
      n.scalar = std::string(v.get_string());
      break;
    default:
      n.kind = YamlNode::Kind::kScalar;
      n.scalar = boost::json::serialize(v);
  }
  return n;
}

}  // namespace

Result<YamlNode> parse_yaml_lite(std::string_view text) {
  std::string_view t = trim(text);
  if (!t.empty() && t[0] == '{') {
    boost::system::error_code ec;
    auto v = boost::json::parse(t, ec);
    if (ec) return fail_msg("JSON: " + ec.message());
    return from_json(v);
  }
  PODNET_TRY(lines, split_lines(text));
  return Parser(std::move(lines)).document();
}

}  // namespace podnet::client
