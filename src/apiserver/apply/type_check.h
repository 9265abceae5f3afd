// JSON values whose type does not fit the kind's schema (schema.h), reported as kube-apiserver's
// decoder reports them (400): a string where an int32 belongs, a number that overflows int32, an
// object where a list belongs. Everything downstream (defaults, validation, the node) may then
// read the fields with the types the schema gives them.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>

namespace podnet::apiserver {

// The first misfit in document order, as Go's encoding/json words it ("json: cannot unmarshal
// string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32");
// nullopt when every value fits. `struct_name`: the schema's name of the root type ("Pod").
// Free-form fields, quantities and times are not checked.
std::optional<std::string> first_type_error(const boost::json::value& object, const std::string& struct_name);

}  // namespace podnet::apiserver
