// Label and field selectors: parsed, then matched against a pod with labels and fields, so the
// matcher runs on every requirement the parser accepts. Input: the selector text; a first line
// starting with "field:" makes it a field selector.
#include "apiserver/registry/selectors.h"

#include <boost/json.hpp>

#include "fuzz_target.h"

namespace json = boost::json;
using namespace podnet::apiserver;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  static const json::value pod = json::parse(R"({
    "metadata": {"name": "web-0", "namespace": "default",
                 "labels": {"app": "web", "tier": "front", "example.com/role": "x", "empty": ""}},
    "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}})");
  std::string_view text = podnet::fuzz::as_text(data, size);
  if (text.starts_with("field:")) {
    auto fields = parse_field_selector(text.substr(6), {"spec.nodeName", "status.phase"});
    if (fields) {
      (void)fields->matches(pod);
      (void)fields->required_value("metadata.name");
      (void)fields->required_value("spec.nodeName");
    }
    return 0;
  }
  auto labels = parse_label_selector(text);
  if (labels) (void)labels->matches(pod);
  return 0;
}
