#include "apiserver/validation/field_error.h"

#include <cstdio>

namespace podnet::apiserver::field {

StatusCause required(std::string path, const std::string& detail) {
  return {"FieldValueRequired", detail.empty() ? "Required value" : "Required value: " + detail,
          std::move(path)};
}

StatusCause invalid(std::string path, const std::string& value, const std::string& detail) {
  std::string msg = "Invalid value: " + value;
  if (!detail.empty()) msg += ": " + detail;
  return {"FieldValueInvalid", std::move(msg), std::move(path)};
}

StatusCause duplicate(std::string path, const std::string& value) {
  return {"FieldValueDuplicate", "Duplicate value: " + value, std::move(path)};
}

StatusCause not_supported(std::string path, const std::string& value,
                          const std::vector<std::string>& supported) {
  std::string msg = "Unsupported value: " + value;
  if (!supported.empty()) {
    msg += ": supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) msg += (i ? ", " : "") + quote(supported[i]);
  }
  return {"FieldValueNotSupported", std::move(msg), std::move(path)};
}

StatusCause forbidden(std::string path, const std::string& detail) {
  return {"FieldValueForbidden", detail.empty() ? "Forbidden" : "Forbidden: " + detail, std::move(path)};
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string string_slice(const std::vector<std::string>& values, std::string_view type_name) {
  std::string out(type_name);
  if (values.empty()) return out + "(nil)";
  out += "{";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + quote(values[i]);
  return out + "}";
}

}  // namespace podnet::apiserver::field
