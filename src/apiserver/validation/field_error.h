// Field causes of a 422 Invalid in kube's wording ("spec.ports[0].port: Invalid value: 0: must be
// between 1 and 65535, inclusive"), with bad values printed as Go's %v / %q / %#v would print them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"

namespace podnet::apiserver::field {

StatusCause required(std::string path, const std::string& detail = "");
// `value`: already rendered (see quote / string_slice); `detail` may be empty.
StatusCause invalid(std::string path, const std::string& value, const std::string& detail);
StatusCause duplicate(std::string path, const std::string& value);
// `supported` unquoted; they are listed quoted in the given (kube: sorted) order.
StatusCause not_supported(std::string path, const std::string& value,
                          const std::vector<std::string>& supported);
StatusCause forbidden(std::string path, const std::string& detail);

// Go's %q of a string: "a\"b".
std::string quote(std::string_view s);
// Go's %#v of a string slice: []string{"a", "b"} (type_name e.g. "[]core.IPFamily").
std::string string_slice(const std::vector<std::string>& values, std::string_view type_name = "[]string");

// "spec.ports[1].name"
inline std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

}  // namespace podnet::apiserver::field
