// /readyz as kube-apiserver answers it: named checks, "ok" when all pass, otherwise 500 and one line
// per check ("[+]ping ok", "[-]controllers failed: reason withheld") and "readyz check failed".
// Checks may be added while the server is serving (the controllers register theirs after it starts).
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace podnet::apiserver {

class Readiness {
 public:
  Readiness();
  void add(std::string name, std::function<bool()> check);

  struct Answer {
    bool ok = true;
    std::string body;
  };
  // `verbose` lists every check on success too; `excluded` checks are skipped (kube's ?exclude=).
  Answer check(bool verbose, const std::set<std::string>& excluded = {}) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::function<bool()>>> checks_;
};

}  // namespace podnet::apiserver
