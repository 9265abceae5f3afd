#include "apiserver/endpoints/readiness.h"

namespace podnet::apiserver {

Readiness::Readiness() {
  add("ping", [] { return true; });
}

void Readiness::add(std::string name, std::function<bool()> check) {
  std::lock_guard lock(mu_);
  checks_.emplace_back(std::move(name), std::move(check));
}

Readiness::Answer Readiness::check(bool verbose, const std::set<std::string>& excluded) const {
  std::vector<std::pair<std::string, std::function<bool()>>> checks;
  {
    std::lock_guard lock(mu_);
    checks = checks_;
  }
  Answer answer;
  std::string lines;
  for (const auto& [name, ok] : checks) {
    if (excluded.contains(name)) {
      lines += "[+]" + name + " excluded: ok\n";
      continue;
    }
    bool passed = ok();
    answer.ok = answer.ok && passed;
    lines += passed ? "[+]" + name + " ok\n" : "[-]" + name + " failed: reason withheld\n";
  }
  if (answer.ok && !verbose)
    answer.body = "ok";
  else
    answer.body = lines + (answer.ok ? "readyz check passed\n" : "readyz check failed\n");
  return answer;
}

}  // namespace podnet::apiserver
