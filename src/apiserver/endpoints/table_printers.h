// Per-kind Table columns and row cells (the part of Table conversion that knows object fields).
// table.h assembles Tables from these.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <vector>

#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

struct TableColumn {
  const char* name;
  const char* type;
  const char* format;
  int priority;  // 0: always shown; 1: with -o wide
  const char* description;
};

// One kind's columns and the cells of one object's row; ages are relative to `now`.
struct TablePrinter {
  const std::vector<TableColumn>& (*columns)();
  boost::json::array (*cells)(const boost::json::value& object, std::chrono::system_clock::time_point now);
};

// kube's printers (pkg/printers/internalversion) for the kinds podnet serves, and Name/Age for the
// rest; the strategy table (strategy.h) names each kind's.
namespace printers {
extern const TablePrinter kPod, kService, kNode, kNamespace, kEndpointSlice, kNetworkPolicy, kEvent, kNameAge;
}  // namespace printers

// The columns of `type`'s printer (its strategy's).
const std::vector<TableColumn>& table_columns(const ResourceType& type);
// One cell per column of table_columns(type); ages are relative to `now`.
boost::json::array table_cells(const ResourceType& type, const boost::json::value& object,
                               std::chrono::system_clock::time_point now);

}  // namespace podnet::apiserver
