// Shared by the ipam tests: a throw-away data directory (pn-ipam-XXXXXX) and small builders.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/files.h"
#include "ipam/ipam.h"
#include "support/temp_dir.h"

namespace podnet::ipam::testing {

inline IpAddress ip(const std::string& text) {
  auto a = parse_ip(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress());
}

inline Range range(const std::string& subnet, const char* start = nullptr, const char* end = nullptr,
                   const char* gateway = nullptr) {
  Range r;
  auto p = parse_prefix(subnet);
  EXPECT_TRUE(p) << subnet;
  r.subnet = p.value_or(IpPrefix{});
  if (start) r.range_start = ip(start);
  if (end) r.range_end = ip(end);
  if (gateway) r.gateway = ip(gateway);
  return r;
}

inline Attachment att(const std::string& id, const std::string& ifname = "eth0") {
  return {id, ifname};
}

class IpamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(root_.empty()); }

  Config config(std::vector<RangeSet> sets) const {
    Config c;
    c.network = "net1";
    c.ranges = std::move(sets);
    c.data_dir = root_;
    return c;
  }
  std::string net_dir() const { return root_ + "/net1"; }

  // Names of the files in the network directory that are reservations (named by an IP).
  std::vector<std::string> reservation_files() const { return files_in(net_dir(), true); }
  std::vector<std::string> index_files() const { return files_in(net_dir() + "/by-id", false); }

  std::string read(const std::string& rel) const {
    auto r = read_file(net_dir() + "/" + rel);
    EXPECT_TRUE(r) << rel;
    return r.value_or("");
  }
  void write(const std::string& rel, const std::string& content) const {
    ASSERT_TRUE(make_dirs(net_dir() + "/by-id"));
    ASSERT_TRUE(write_file_atomic(net_dir() + "/" + rel, content));
  }

  // allocate() expected to succeed; returns the addresses as strings ("10.1.0.2/24").
  std::vector<std::string> alloc(const Config& c, const Attachment& who,
                                 const std::vector<IpAddress>& req = {}) {
    auto r = allocate(c, who, req);
    EXPECT_TRUE(r) << (r ? "" : r.error().error.message());
    std::vector<std::string> out;
    if (r)
      for (const auto& a : *r) out.push_back(a.address.str());
    return out;
  }
  std::string alloc1(const Config& c, const Attachment& who, const std::vector<IpAddress>& req = {}) {
    auto v = alloc(c, who, req);
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? "" : v[0];
  }

  podnet::testing::TempDir tmp_{"pn-ipam"};
  std::string root_ = tmp_.path();

 private:
  static std::vector<std::string> files_in(const std::string& dir, bool ips_only) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (!e.is_regular_file()) continue;
      auto name = e.path().filename().string();
      if (!ips_only || parse_ip(name)) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace podnet::ipam::testing
