// kube's ObjectMeta rules for writes, shared by the generic store (object_store) and deletion, so
// neither includes the other: finalizers, completing a deletion, metadata.generation.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

// An integer member (int64 or uint64), nullopt when absent or of another type.
std::optional<int64_t> meta_int(const boost::json::object& obj, std::string_view key);
// metadata.finalizers, the strings of it.
std::vector<std::string> finalizers_of(const boost::json::object& meta);

// Once deletion started, finalizers may only be removed, never added (422 otherwise):
std::optional<StatusCause> check_finalizers_update(const boost::json::object& old_meta,
                                                   const boost::json::object& new_meta);
// True when an update leaves a deleting object without finalizers and without a pending grace
// period: the update then deletes it.
bool deletion_completes(const boost::json::object& old_meta, const boost::json::object& new_meta);

// metadata.generation after an update: +1 when spec changed, else the old value; 1 for objects
// stored before generations existed.
void carry_generation(const boost::json::object& old_obj, boost::json::object& new_obj);

}  // namespace podnet::apiserver
