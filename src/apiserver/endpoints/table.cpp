// Table assembly and Accept negotiation; the per-kind columns and cells are in table_printers.cpp.
#include "apiserver/endpoints/table.h"

#include <boost/json.hpp>
#include <ctime>

#include "apiserver/endpoints/table_printers.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

const json::value* metadata_of(const json::value& v) {
  const json::object* o = v.if_object();
  return o ? o->if_contains("metadata") : nullptr;
}

json::object row(const ResourceType& type, const json::value& obj, const TableContext& ctx) {
  json::object r{{"cells", table_cells(type, obj, ctx.now)}};
  switch (ctx.include) {
    case IncludeObject::kNone:
      break;
    case IncludeObject::kMetadata: {
      const json::value* meta = metadata_of(obj);
      r["object"] = json::object{{"kind", "PartialObjectMetadata"},
                                 {"apiVersion", "meta.k8s.io/v1"},
                                 {"metadata", meta ? *meta : json::object{}}};
      break;
    }
    case IncludeObject::kObject:
      r["object"] = obj;
      break;
  }
  return r;
}

json::object empty_table(const ResourceType& type, json::object list_meta) {
  json::array defs;
  for (const auto& c : table_columns(type))
    defs.push_back({{"name", c.name},
                    {"type", c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", std::move(list_meta)},
          {"columnDefinitions", std::move(defs)},
          {"rows", json::array{}}};
}

}  // namespace

bool wants_table(std::string_view accept) {
  size_t start = 0;
  while (start <= accept.size()) {
    size_t comma = accept.find(',', start);
    std::string_view range =
        accept.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    bool json_type = range.find("application/json") != std::string_view::npos ||
                     range.find("*/*") != std::string_view::npos;
    if (json_type) {
      bool table = range.find("as=Table") != std::string_view::npos;
      bool v1 = range.find("v=v1;") != std::string_view::npos || range.ends_with("v=v1");
      bool meta = range.find("g=meta.k8s.io") != std::string_view::npos;
      if (!table) return false;  // plain JSON comes first: serve it
      if (v1 && meta) return true;
      // A Table version we do not serve (v1beta1): try the next media range.
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

IncludeObject parse_include_object(std::string_view value) {
  if (value == "None") return IncludeObject::kNone;
  if (value == "Object") return IncludeObject::kObject;
  return IncludeObject::kMetadata;
}

json::value list_to_table(const ResourceType& type, const json::value& list, const TableContext& ctx) {
  const json::value* meta = metadata_of(list);
  json::object table = empty_table(type, meta && meta->is_object() ? meta->get_object() : json::object{});
  json::array& rows = table["rows"].get_array();
  const json::object* list_obj = list.if_object();
  const json::value* items = list_obj ? list_obj->if_contains("items") : nullptr;
  if (items && items->is_array())
    for (const auto& item : items->get_array()) rows.push_back(row(type, item, ctx));
  return table;
}

json::value object_to_table(const ResourceType& type, const json::value& object, const TableContext& ctx) {
  json::object list_meta;
  const json::value* meta = metadata_of(object);
  const json::value* rv_value =
      meta && meta->is_object() ? meta->get_object().if_contains("resourceVersion") : nullptr;
  if (std::string rv = rv_value && rv_value->is_string() ? std::string(rv_value->get_string()) : "";
      !rv.empty())
    list_meta["resourceVersion"] = rv;
  json::object table = empty_table(type, std::move(list_meta));
  table["rows"].get_array().push_back(row(type, object, ctx));
  return table;
}

std::string human_duration(std::chrono::seconds d) {
  long long seconds = d.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return std::to_string(seconds) + "s";
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return std::to_string(minutes) + "m" + (s ? std::to_string(s) + "s" : "");
  }
  if (minutes < 180) return std::to_string(minutes) + "m";
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    return std::to_string(hours) + "h" + (m ? std::to_string(m) + "m" : "");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    long long h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h ? std::to_string(h) + "h" : "");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (dy ? std::to_string(dy) + "d" : "");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

}  // namespace podnet::apiserver
