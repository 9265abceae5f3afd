// Joins the API to the Enforcer (the agent's NetworkPolicy engine): informer handlers for pods,
// namespaces and networkpolicies (cluster-wide), and run(), which syncs on one thread. Nothing is
// written before all three informers have delivered a complete list: a restarted agent keeps the
// table it finds until it can replace it with a whole view (no open window while it resyncs).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "client/informer.h"
#include "policy/enforcer.h"
#include "policy/nflog.h"

namespace podnet::policy {

class PolicyFeed {
 public:
  explicit PolicyFeed(Enforcer& e) : e_(e), pods_(*this, 0), namespaces_(*this, 1), policies_(*this, 2) {}

  client::InformerHandler& pods() { return pods_; }
  client::InformerHandler& namespaces() { return namespaces_; }
  client::InformerHandler& policies() { return policies_; }

  // The pod runner hands over a local pod it is starting (its API object and its addresses from
  // CNI ADD) and waits, before the pod's first container starts, until a sync that includes it is
  // in the kernel (and the fast path's flags are set), at most `timeout`: so the pod's first
  // packet meets its own policy, not the pending-pod drop. An error on timeout, on stop() or for
  // a bad object (the pod then starts pending: its packets are dropped until a sync holds it).
  // Batched: a caller only queues its pod (it never waits for the sync thread's lock); the sync
  // thread takes every pod queued when it is free, puts them all into the enforcer and writes
  // them in one sync, so pods starting together share syncs instead of taking one each.
  Status admit_local_pod(const boost::json::value& pod, const std::vector<std::string>& ips,
                         std::chrono::milliseconds timeout);

  // The denied-connection log: each packet a deny rule logged to `reader`'s group (the rule
  // limits the rate) becomes one warning naming the direction, protocol, addresses and ports, the
  // local pod with the policies selecting it, and the peer pod when it is one. Until stop().
  void run_denial_log(NflogReader& reader);
  std::string describe(const DeniedPacket& d) const;  // that log line (takes the lock)
  // Also called for each logged packet, with the policies selecting its local pod (`podnet flows`).
  // Set before run_denial_log starts.
  void set_denial_observer(std::function<void(const DeniedPacket&, const std::string& policies)> fn) {
    denial_observer_ = std::move(fn);
  }

  // This node's pod ranges (from its Node's podCIDRs); thread-safe.
  void set_own_ranges(std::vector<IpPrefix> ranges);
  // Called on the feed's thread after every sync that wrote something (the fast path's flags).
  void set_after_sync(std::function<void(const TableState&)> fn);
  void run();
  void stop();

  // Metrics for /metrics (copies under the lock).
  EnforcerMetrics metrics() const;
  AdmitMetrics admit_metrics() const;
  // The per-rule counters' names -> their rules (TableState::counters).
  std::map<std::string, RuleRef> counters() const;
  bool synced_once() const;
  // The policies selecting a local pod address, for denial logs.
  std::string selected_by(const std::string& ip) const;

 private:
  class Handler : public client::InformerHandler {
   public:
    Handler(PolicyFeed& feed, int kind) : feed_(feed), kind_(kind) {}
    void on_upsert(const boost::json::value& object) override;
    void on_delete(const boost::json::value& last_known) override;
    void on_synced() override;

   private:
    PolicyFeed& feed_;
    int kind_;
  };

  Enforcer& e_;
  Handler pods_, namespaces_, policies_;
  std::function<void(const TableState&)> after_sync_;
  std::function<void(const DeniedPacket&, const std::string&)> denial_observer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool synced_[3] = {false, false, false};
  bool ranges_known_ = false, stop_ = false, synced_once_ = false;
  uint64_t syncs_done_ = 0;  // successful syncs (after their after_sync_)

  // One admit_local_pod call: queued by the caller, put into the enforcer and completed by run().
  struct Admission {
    boost::json::value pod;
    std::vector<IpAddress> ips;
    bool done = false;  // a sync holding the pod is in the kernel, or `error` is set
    std::string error;
  };
  void take_admissions();  // run(), under mu_: queued_ -> the enforcer and held_
  void complete_held();    // run(), under mu_, once held_ is in the kernel

  std::vector<std::shared_ptr<Admission>> held_;  // in the enforcer, not yet written (under mu_)
  mutable std::mutex amu_;                        // queued_, admits_, astop_; never held with mu_ waited for
  std::condition_variable acv_;                   // admissions completed
  std::vector<std::shared_ptr<Admission>> queued_;
  bool astop_ = false;
  AdmitMetrics admits_;
};

}  // namespace podnet::policy
