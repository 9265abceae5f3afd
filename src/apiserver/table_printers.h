// Per-kind Table columns and row cells (the part of Table conversion that knows object fields).
// table.h assembles Tables from these.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <vector>

#include "apiserver/resources.h"

namespace podnet::apiserver {

struct TableColumn {
  const char* name;
  const char* type;
  const char* format;
  int priority;  // 0: always shown; 1: with -o wide
  const char* description;
};

const std::vector<TableColumn>& table_columns(const ResourceType& type);
// One cell per column of table_columns(type); ages are relative to `now`.
boost::json::array table_cells(const ResourceType& type, const boost::json::value& object,
                               std::chrono::system_clock::time_point now);

}  // namespace podnet::apiserver
