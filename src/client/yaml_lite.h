// A strict parser for the block-style YAML subset kubeconfig files are written in (mappings,
// "- " sequences, plain and quoted scalars, comments, empty {} / []); anything else is an error.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace podnet::client {

// A parsed node with the line it started on, so decoders can say where a bad value is.
struct YamlNode {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  Kind kind = Kind::kNull;
  int line = 0;  // 1-based; 0 when the document was JSON (Boost.JSON keeps no positions)
  std::string scalar;
  std::vector<std::pair<std::string, YamlNode>> map;  // in file order, keys unique
  std::vector<YamlNode> seq;

  const YamlNode* find(std::string_view key) const;
};

// Parses YAML of the subset above, or JSON when the text starts with '{' (kubectl accepts both).
// Errors read "line 7: tab in indentation".
Result<YamlNode> parse_yaml_lite(std::string_view text);

}  // namespace podnet::client
