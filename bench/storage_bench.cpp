// SQLite store benchmarks for the API server's targets: creates/s from 16 threads, LIST of 10,000
// ~1 KB objects, write -> 100 watchers delivery delay. Usage: storage_bench [dir] (default /var/tmp).
// Its store directory (DIR/pn-storage-bench-*) is removed at the end and at once on
// SIGINT/SIGTERM/SIGHUP (bench/stop_signal.h).
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "stop_signal.h"
#include "storage/sqlite_store.h"

namespace {

using namespace podnet::storage;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 16;
constexpr int kWatchers = 100;

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

const char* durability_name(Durability d) {
  return d == Durability::kPowerLoss ? "FULL (power loss)" : "NORMAL (process crash)";
}

// An object-sized value (~1 KB).
std::string value_of(int i) {
  std::string v =
      "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"obj-" + std::to_string(i) + "\"},\"data\":\"";
  v.append(1000 - v.size(), 'x');
  return v + "\"}";
}

class Bench {
 public:
  explicit Bench(std::string root) : root_(std::move(root)) {}

  std::unique_ptr<SqliteStore> fresh_store(const std::string& name, Durability durability,
                                           size_t max_batch = SqliteOptions{}.max_batch) {
    std::filesystem::remove_all(root_ + "/" + name);
    std::filesystem::create_directories(root_ + "/" + name);
    SqliteOptions o;
    o.path = root_ + "/" + name + "/db.sqlite";
    o.durability = durability;
    o.max_batch = max_batch;
    auto s = SqliteStore::open(o);
    if (!s) {
      std::fprintf(stderr, "open: %s\n", s.error().str().c_str());
      podnet::bench::StopSignal::fail_exit(1);
    }
    return std::move(*s);
  }

  // `total` creates spread over kClients threads; returns per-create latencies (ms).
  static std::vector<double> parallel_creates(Store& store, const std::string& prefix, int total,
                                              Clock::duration* wall) {
    std::vector<std::vector<double>> lat(kClients);
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t)
      threads.emplace_back([&, t] {
        for (int i = t; i < total; i += kClients) {
          auto t0 = Clock::now();
          auto r = store.create(prefix + std::to_string(i), value_of(i));
          if (!r) {
            std::fprintf(stderr, "create: %s\n", r.error().str().c_str());
            podnet::bench::StopSignal::fail_exit(1);
          }
          lat[t].push_back(ms(Clock::now() - t0));
        }
      });
    for (auto& th : threads) th.join();
    *wall = Clock::now() - start;
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    return all;
  }

  void creates(Durability durability, int total, size_t max_batch = SqliteOptions{}.max_batch) {
    auto store = fresh_store("creates", durability, max_batch);
    Clock::duration wall;
    auto lat = parallel_creates(*store, "/registry/configmaps/bench/", total, &wall);
    std::printf(
        "creates, %d clients, %s%s: %d in %.0f ms = %.0f creates/s (latency p50 %.2f ms, p99 %.2f ms)\n",
        kClients, durability_name(durability), max_batch == 1 ? ", no group commit" : "", total, ms(wall),
        total / (ms(wall) / 1000.0), percentile(lat, 50), percentile(lat, 99));
  }

  void list(int objects) {
    auto store = fresh_store("list", Durability::kProcessCrash);
    Clock::duration wall;
    parallel_creates(*store, "/registry/configmaps/bench/", objects, &wall);
    // Some noise around the prefix and some history, as a live server would have.
    for (int i = 0; i < 1000; ++i) (void)store->create("/registry/pods/bench/p" + std::to_string(i), "p");
    for (int i = 0; i < objects; i += 10)
      (void)store->update("/registry/configmaps/bench/" + std::to_string(i), value_of(i), 0);

    std::vector<double> full, paged;
    size_t count = 0;
    for (int run = 0; run < 10; ++run) {
      auto t0 = Clock::now();
      auto r = store->list("/registry/configmaps/bench/");
      full.push_back(ms(Clock::now() - t0));
      if (!r) podnet::bench::StopSignal::fail_exit(1);
      count = r->items.size();

      t0 = Clock::now();
      ListOptions opts{.limit = 500};
      size_t n = 0;
      for (;;) {
        auto p = store->list("/registry/configmaps/bench/", opts);
        if (!p) podnet::bench::StopSignal::fail_exit(1);
        n += p->items.size();
        if (p->continue_token.empty()) break;
        opts.continue_token = p->continue_token;
      }
      paged.push_back(ms(Clock::now() - t0));
      if (n != count) std::fprintf(stderr, "paged list saw %zu of %zu\n", n, count);
    }
    std::printf(
        "LIST %zu objects (~1 KB): one call p50 %.1f ms (min %.1f, max %.1f); in pages of 500: p50 %.1f ms\n",
        count, percentile(full, 50), percentile(full, 0), percentile(full, 100), percentile(paged, 50));
  }

  // Writes timed from the create() call (and from its acknowledgement) to each watcher's next().
  void watchers(int writes, Clock::duration pace, int writer_threads) {
    auto store = fresh_store("watch", Durability::kPowerLoss);
    std::vector<std::unique_ptr<Watch>> watches;
    for (int i = 0; i < kWatchers; ++i) {
      auto w = store->watch("/registry/pods/", 0);
      if (!w) podnet::bench::StopSignal::fail_exit(1);
      watches.push_back(std::move(*w));
    }
    // Indexed by revision (1..writes): the time create() started and returned.
    std::vector<Clock::time_point> started(writes + 1), acked(writes + 1);
    std::vector<std::vector<std::pair<Revision, Clock::time_point>>> received(kWatchers);
    std::vector<std::thread> readers;
    for (int i = 0; i < kWatchers; ++i)
      readers.emplace_back([&, i] {
        received[i].reserve(writes);
        while (received[i].size() < static_cast<size_t>(writes)) {
          auto r = watches[i]->next(std::chrono::seconds(5));
          auto now = Clock::now();
          if (!r || r->empty()) break;
          for (const auto& ev : *r) received[i].emplace_back(ev->revision(), now);
        }
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // watchers blocked in next()

    std::atomic<int> next_id{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < writer_threads; ++t)
      writers.emplace_back([&] {
        auto tick = Clock::now();
        for (int id; (id = next_id++) < writes;) {
          auto t0 = Clock::now();
          auto r = store->create("/registry/pods/bench/p" + std::to_string(id), value_of(id));
          auto t1 = Clock::now();
          if (!r) podnet::bench::StopSignal::fail_exit(1);
          started[r->mod_revision] = t0;
          acked[r->mod_revision] = t1;
          if (pace.count() > 0) std::this_thread::sleep_until(tick += pace);
        }
      });
    for (auto& th : writers) th.join();
    for (auto& th : readers) th.join();

    std::vector<double> from_start, from_ack;
    size_t missing = 0;
    for (const auto& rec : received) {
      missing += writes - rec.size();
      for (auto [rev, at] : rec) {
        from_start.push_back(ms(at - started[rev]));
        from_ack.push_back(std::max(0.0, ms(at - acked[rev])));
      }
    }
    std::printf(
        "write -> %d watchers, %d writes by %d writer(s)%s: from create() call p50 %.2f ms, p99 %.2f ms, "
        "max %.2f ms; from acknowledgement p50 %.2f ms, p99 %.2f ms%s\n",
        kWatchers, writes, writer_threads, pace.count() ? " paced 1 per 2 ms" : " flat out",
        percentile(from_start, 50), percentile(from_start, 99), percentile(from_start, 100),
        percentile(from_ack, 50), percentile(from_ack, 99), missing ? " (EVENTS MISSING)" : "");
  }

 private:
  std::string root_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/var/tmp";
  CLI::App app{
      "storage_bench: the SQLite store against the API server's targets: creates/s from 16 clients, LIST of "
      "10,000 objects, write -> 100 watchers delay"};
  app.add_option("dir", base, "Where the store directory is made")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Stores and watchers run on their own threads: a signal removes the directory at once.
  podnet::bench::StopSignal stop("storage_bench", std::chrono::milliseconds(0));
  std::string tmpl = base + "/pn-storage-bench-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  podnet::bench::StopSignal::track_path(tmpl);
  Bench bench(tmpl);
  bench.creates(Durability::kPowerLoss, 20000);
  bench.creates(Durability::kProcessCrash, 20000);
  bench.creates(Durability::kPowerLoss, 5000, 1);
  bench.list(10000);
  bench.watchers(1000, std::chrono::milliseconds(2), 1);
  bench.watchers(4000, Clock::duration::zero(), kClients);
  std::filesystem::remove_all(tmpl);
  podnet::bench::StopSignal::untrack_path(tmpl);
  return 0;
}
