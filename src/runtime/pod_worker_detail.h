// Helpers the PodWorker's files share (pod_worker.cpp defines them); not for other users.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

namespace podnet::runtime::detail {

// metadata.<key> as a string, "" when absent.
std::string meta_str(const boost::json::value& pod, const char* key);
uint64_t rv_number(const boost::json::value& pod);
// The pod's Ready condition status as stored ("True"/"False"), "" when it has none.
std::string ready_status(const boost::json::value& pod);

}  // namespace podnet::runtime::detail
