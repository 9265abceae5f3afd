// The table format, one declaration per line ('#' starts a comment line):
//   Name full.openapi.Name [@group/version/Kind] | description          a struct type
//     field TYPE [attr...] | description                               one of its fields (indented)
// TYPE: string int32 int64 number boolean intstr quantity time any <StructName> []TYPE {}TYPE
// attrs: req, set, atomic, map=k1,k2 (list-map keys), merge=key (patch merge key, strategy merge),
//        strategy=S (patch strategy), default=JSON.
#include "apiserver/apply/schema.h"

#include <cctype>
#include <sstream>

namespace podnet::apiserver::schema {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

std::optional<Type> parse_type(const std::string& t) {
  Type out;
  if (t.starts_with("[]") || t.starts_with("{}")) {
    auto elem = parse_type(t.substr(2));
    if (!elem) return std::nullopt;
    out.kind = t[0] == '[' ? Kind::kArray : Kind::kMap;
    out.elem = std::make_shared<const Type>(std::move(*elem));
    return out;
  }
  static const std::map<std::string, std::pair<Kind, const char*>> scalars = {
      {"string", {Kind::kString, ""}},
      {"int32", {Kind::kInteger, "int32"}},
      {"int64", {Kind::kInteger, "int64"}},
      {"number", {Kind::kNumber, "double"}},
      {"boolean", {Kind::kBoolean, ""}},
      {"intstr", {Kind::kIntOrString, "int-or-string"}},
      {"quantity", {Kind::kQuantity, ""}},
      {"time", {Kind::kTime, "date-time"}},
      {"any", {Kind::kAny, ""}},
  };
  if (auto it = scalars.find(t); it != scalars.end()) {
    out.kind = it->second.first;
    out.format = it->second.second;
    return out;
  }
  if (t.empty() || !std::isupper(static_cast<unsigned char>(t[0]))) return std::nullopt;
  out.kind = Kind::kStruct;
  out.ref = t;
  return out;
}

bool parse_field(const std::string& decl, const std::string& description, Field& f, std::string& why) {
  auto words = split(decl, ' ');
  if (words.size() < 2) {
    why = "a field needs a name and a type";
    return false;
  }
  f.name = words[0];
  auto type = parse_type(words[1]);
  if (!type) {
    why = "unknown type " + words[1];
    return false;
  }
  f.type = std::move(*type);
  f.description = description;
  for (size_t i = 2; i < words.size(); ++i) {
    const std::string& a = words[i];
    std::string key = a.substr(0, a.find('='));
    std::string value = a.find('=') == std::string::npos ? "" : a.substr(a.find('=') + 1);
    if (key == "req") {
      f.required = true;
    } else if (key == "set") {
      f.list_type = "set";
    } else if (key == "atomic") {
      (f.type.kind == Kind::kArray ? f.list_type : f.map_type) = "atomic";
    } else if (key == "map") {
      f.list_type = "map";
      f.map_keys = split(value, ',');
    } else if (key == "merge") {
      f.patch_merge_key = value;
      if (f.patch_strategy.empty()) f.patch_strategy = "merge";
    } else if (key == "strategy") {
      f.patch_strategy = value;
    } else if (key == "default") {
      f.default_value = value;
    } else {
      why = "unknown attribute " + a;
      return false;
    }
  }
  if (f.type.kind == Kind::kArray && f.list_type.empty()) f.list_type = "atomic";
  return true;
}

}  // namespace

const Field* StructType::field(const std::string& n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

std::optional<Schema> Schema::parse(const std::string& text, std::string* error) {
  Schema s;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  auto fail = [&](const std::string& why) {
    if (error) *error = "schema line " + std::to_string(number) + ": " + why;
    return std::nullopt;
  };
  while (std::getline(in, line)) {
    ++number;
    std::string body = trim(line);
    if (body.empty() || body[0] == '#') continue;
    size_t bar = body.find(" | ");
    std::string decl = trim(bar == std::string::npos ? body : body.substr(0, bar));
    std::string description = bar == std::string::npos ? "" : trim(body.substr(bar + 3));
    if (line[0] != ' ') {
      auto words = split(decl, ' ');
      if (words.size() < 2) return fail("a type needs a short and a full name");
      StructType t{words[0],     words[1], description,
                   std::nullopt, {},       Type{Kind::kStruct, "", words[0], nullptr}};
      if (words.size() > 2) {
        auto parts = split(words[2].substr(1), '/');
        if (words[2][0] != '@' || parts.size() < 2) return fail("bad group/version/Kind " + words[2]);
        t.gvk = parts.size() == 2 ? GroupVersionKind{"", parts[0], parts[1]}
                                  : GroupVersionKind{parts[0], parts[1], parts[2]};
      }
      s.by_name_[t.name] = s.types_.size();
      s.types_.push_back(std::move(t));
      continue;
    }
    if (s.types_.empty()) return fail("a field before any type");
    Field f;
    std::string why;
    if (!parse_field(decl, description, f, why)) return fail(why);
    s.types_.back().fields.push_back(std::move(f));
  }
  // Every reference must resolve, so walkers never meet a dangling name.
  for (const auto& t : s.types_) {
    for (const auto& f : t.fields) {
      const Type* ty = &f.type;
      while (ty->elem) ty = ty->elem.get();
      if (ty->kind == Kind::kStruct && !s.by_name_.contains(ty->ref)) {
        if (error) *error = "schema: " + t.name + "." + f.name + " refers to unknown type " + ty->ref;
        return std::nullopt;
      }
    }
  }
  return s;
}

const StructType* Schema::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &types_[it->second];
}

const StructType* Schema::for_kind(const std::string& group, const std::string& version,
                                   const std::string& kind) const {
  for (const auto& t : types_)
    if (t.gvk && t.gvk->group == group && t.gvk->version == version && t.gvk->kind == kind) return &t;
  return nullptr;
}

}  // namespace podnet::apiserver::schema
