#include "nft/portmap.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "common/fd.h"
#include "common/files.h"
#include "nft/ruleset.h"
#include "nft/state.h"

namespace podnet::nft {
namespace {

using detail::Element;
using detail::State;

Status check_store(const PortmapStore& store) {
  if (!detail::valid_table_name(store.table))
    return fail("invalid nftables table name \"" + store.table + "\"", EINVAL);
  if (store.state_dir.empty()) return fail("empty portmap state directory", EINVAL);
  return {};
}

std::string who_text(const AttachmentKey& who) {
  return who.container_id + "/" + who.ifname;
}

bool is_missing(const Error& e) {
  return e.code == ENOENT || e.context.find("No such file or directory") != std::string::npos;
}

// Locally generated connections to 127.0.0.1:hostPort leave through the bridge with a 127/8 source
// until postrouting masquerades them; the kernel only routes such packets with route_localnet.
Status enable_route_localnet(const std::string& bridge) {
  if (!detail::valid_ifname(bridge)) return fail("invalid bridge name \"" + bridge + "\"", EINVAL);
  std::string path = "/proc/sys/net/ipv4/conf/" + bridge + "/route_localnet";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("open " + path);
  if (::write(fd.get(), "1", 1) != 1) return fail("write " + path);
  return {};
}

// The comment of the element currently holding e's key, or "" when there is none.
std::string holder_of(Nft& nft, const std::string& table, const Element& e) {
  auto out = nft.query(detail::get_element(table, e), false);
  if (!out) return "";
  auto pos = out->find("comment \"");
  if (pos == std::string::npos) return "(unknown)";
  pos += 9;
  return out->substr(pos, out->find('"', pos) - pos);
}

// What an element's key stands for, in an error message.
std::string describe(const Element& e) {
  if (e.map == "hostports") return "host port " + e.key + " (every address)";
  if (e.map == "hostip-ports") return "host port " + e.key;
  if (detail::is_bridge_set(e.map)) return "macspoofchk of interface " + e.key;
  return "pod mapping " + e.key + " in " + e.map;
}

// Turns nft's "File exists" into which host port (or pod address, or bridge port) is taken, and
// by whom.
Error explain_conflict(Nft& nft, const std::string& table, const detail::Plan& plan, Error err) {
  for (const auto& e : plan.elements) {
    std::string holder = holder_of(nft, table, e);
    if (holder.empty()) continue;
    return Error{EEXIST, describe(e) + " is already used by " + holder};
  }
  return err;
}

// The recorded elements that still carry this attachment's comment. Slow: nft 1.0.6 loads the
// whole table to answer `get element`, so this only runs when the plain delete failed.
Result<std::vector<Element>> owned_elements(Nft& nft, const std::string& table, const State& st) {
  std::string ours = "comment \"" + detail::comment_for(st.who) + "\"";
  std::vector<Element> owned;
  for (const auto& e : st.elements) {
    auto out = nft.query(detail::get_element(table, e), false);
    if (!out) {
      if (is_missing(out.error())) continue;
      return std::unexpected(out.error());
    }
    if (out->find(ours) != std::string::npos) owned.push_back(e);
  }
  return owned;
}

// Deletes the recorded elements in one transaction. An attachment's elements are only ever
// created and deleted together, and at least one of them is keyed by something only this
// attachment has: its pod address (every port mapping has a hairpin element, every ipMasq address
// a masq element) or its host veth (macspoofchk); so if all of them still exist they are all its
// own. If the transaction fails, some are gone (a DEL retried after a crash between its commit and
// the record removal, or a hand edit) and a key may meanwhile belong to another pod: then only
// elements still carrying this attachment's comment are deleted.
Status delete_elements(Nft& nft, const std::string& table, const State& st) {
  if (st.elements.empty()) return {};
  if (nft.run(detail::delete_elements(table, st.elements))) return {};
  auto owned = owned_elements(nft, table, st);
  if (!owned) return std::unexpected(owned.error());
  if (owned->empty()) return {};
  return nft.run(detail::delete_elements(table, *owned));
}

Status remove_state_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("remove " + path);
  return {};
}

// A leftover "<name>.tmp-<pid>" of write_file_atomic whose writer is gone.
bool stale_temp(const std::string& name) {
  auto pos = name.rfind(".tmp-");
  if (pos == std::string::npos) return false;
  int pid = std::atoi(name.c_str() + pos + 5);
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

Status add_pod_rules(Nft& nft, const PortmapStore& store, const PodRules& rules) {
  if (auto r = check_store(store); !r) return r;
  if (auto r = detail::validate_key(rules.who); !r) return r;
  std::string ctx = "add nftables rules for " + who_text(rules.who);
  auto plan = detail::plan_pod(rules);
  if (!plan) return std::unexpected(wrap(plan.error(), ctx));
  // A repeated ADD replaces what the attachment had.
  if (has_pod_rules(store, rules.who)) {
    if (auto r = delete_pod_rules(nft, store, rules.who); !r) return std::unexpected(wrap(r.error(), ctx));
  }
  if (plan->elements.empty()) return {};
  if (plan->v4_port_mappings && !rules.bridge.empty()) {
    if (auto r = enable_route_localnet(rules.bridge); !r) return std::unexpected(wrap(r.error(), ctx));
  }

  // The record is written before the commit: a crash in between leaves a record of elements that
  // may not exist (DEL copes), never elements nobody knows about.
  std::string path = detail::state_path(store, rules.who);
  if (auto r = make_dirs(detail::table_dir(store), 0700); !r) return std::unexpected(wrap(r.error(), ctx));
  if (auto r = write_file_atomic(path, detail::encode(State{rules.who, plan->elements})); !r)
    return std::unexpected(wrap(r.error(), ctx));

  // Fast path: only "create element", which the kernel applies without any deferred cleanup.
  // When it fails for a missing table or subnet chain (first pod of a table or subnet), retry
  // with the full structure in front; a clash (EEXIST) would fail again, so it is reported as is.
  std::string elements = detail::create_elements(store.table, plan->elements, detail::comment_for(rules.who));
  auto r = nft.run(elements);
  if (!r && r.error().code != EEXIST) r = nft.run(detail::setup(store.table, *plan) + elements);
  if (!r) {
    Error err = r.error();
    if (err.code == EEXIST) err = explain_conflict(nft, store.table, *plan, err);
    (void)remove_state_file(path);
    return std::unexpected(wrap(err, ctx));
  }
  return {};
}

bool has_pod_rules(const PortmapStore& store, const AttachmentKey& who) {
  if (!check_store(store) || !detail::validate_key(who)) return false;
  auto st = detail::load(store, who);
  return !st || st->has_value();  // an unreadable record still needs a DEL to report it
}

Status delete_pod_rules(Nft& nft, const PortmapStore& store, const AttachmentKey& who) {
  if (auto r = check_store(store); !r) return r;
  if (auto r = detail::validate_key(who); !r) return r;
  std::string ctx = "delete nftables rules of " + who_text(who);
  auto st = detail::load(store, who);
  if (!st) return std::unexpected(wrap(st.error(), ctx));
  if (!st->has_value()) return {};
  if (auto r = delete_elements(nft, store.table, **st); !r) return std::unexpected(wrap(r.error(), ctx));
  if (auto r = remove_state_file(detail::state_path(store, who)); !r)
    return std::unexpected(wrap(r.error(), ctx));
  return {};
}

Status gc_pod_rules(Nft& nft, const PortmapStore& store, const std::set<AttachmentKey>& valid) {
  if (auto r = check_store(store); !r) return r;
  std::string dir = detail::table_dir(store);
  std::vector<std::pair<std::string, State>> stale;
  std::optional<Error> first_error;
  {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return {};
      return fail("gc nftables rules: open " + dir);
    }
    while (dirent* ent = ::readdir(d)) {
      std::string name = ent->d_name;
      if (name == "." || name == "..") continue;
      std::string path = dir + "/" + name;
      if (name.find(".tmp-") != std::string::npos) {
        if (stale_temp(name)) ::unlink(path.c_str());
        continue;
      }
      auto text = read_file(path);
      auto st = text ? detail::decode(*text, path) : std::unexpected(text.error());
      if (!st) {
        if (!first_error) first_error = st.error();
        continue;
      }
      if (!valid.contains(st->who)) stale.emplace_back(path, std::move(*st));
    }
    ::closedir(d);
  }

  // Common case: the elements of all stale attachments go in one transaction; if that fails,
  // each attachment is handled on its own (see delete_elements).
  std::string batch;
  for (const auto& [path, st] : stale) batch += detail::delete_elements(store.table, st.elements);
  bool batched = batch.empty() || nft.run(batch).has_value();
  for (const auto& [path, st] : stale) {
    Status r = batched ? Status{} : delete_elements(nft, store.table, st);
    if (r) r = remove_state_file(path);
    if (!r && !first_error) first_error = wrap(r.error(), "gc nftables rules of " + who_text(st.who));
  }
  if (first_error) return std::unexpected(*first_error);
  return {};
}

Status remove_all(Nft& nft, const PortmapStore& store) {
  if (auto r = check_store(store); !r) return r;
  if (auto r = nft.run(detail::remove_tables(store.table)); !r)
    return std::unexpected(wrap(r.error(), "remove table " + store.table));
  std::string dir = detail::table_dir(store);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return {};
    return fail("open " + dir);
  }
  while (dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return fail("remove " + dir);
  return {};
}

}  // namespace podnet::nft
