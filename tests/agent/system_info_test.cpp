// status.nodeInfo from a file tree of the test's own (os-release quoting, machine-id fallbacks,
// unreadable sources), and its place in the status patch the agent posts.
#include "agent/system_info.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <boost/json.hpp>
#include <filesystem>

#include "common/files.h"
#include "support/temp_dir.h"

namespace podnet::agent {
namespace {

void put(const std::string& root, const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(root + path).parent_path());
  ASSERT_TRUE(write_file_atomic(root + path, text));
}

TEST(SystemInfo, OsImageIsPrettyNameUnquoted) {
  struct Case {
    const char* os_release;
    const char* image;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
            "Debian GNU/Linux 12 (bookworm)"},
           {"PRETTY_NAME='Alpine Linux v3.19'\n", "Alpine Linux v3.19"},
           {"PRETTY_NAME=Arch\n", "Arch"},
           {"PRETTY_NAME=\"Say \\\"hi\\\" \\\\ \\$HOME\"\n", "Say \"hi\" \\ $HOME"},
           {"  PRETTY_NAME=\"Indented\"  \r\n", "Indented"},
           {"# PRETTY_NAME=\"comment\"\nNAME=x\n", "Linux"},
           {"PRETTY_NAME=\"\"\n", "Linux"},
           {"PRETTY_NAME=\"unterminated\n", "\"unterminated"},
           {"", "Linux"},
       })
    EXPECT_EQ(os_image_of(c.os_release), c.image) << c.os_release;
}

TEST(SystemInfo, ReadsTheNodesFiles) {
  podnet::testing::TempDir root("pn-sysinfo");
  put(root.path(), "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  put(root.path(), "/sys/class/dmi/id/product_uuid", "4c4c4544-0044-3010-8052-b4c04f4a4e32\n");
  put(root.path(), "/proc/sys/kernel/random/boot_id", "1b8a9c1e-5d6f-4a7b-9c8d-0e1f2a3b4c5d\n");
  put(root.path(), "/usr/lib/os-release", "PRETTY_NAME=\"Fallback OS\"\n");
  NodeSystemInfo info = read_node_system_info(true, root.path());
  EXPECT_EQ(info.machine_id, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(info.system_uuid, "4c4c4544-0044-3010-8052-b4c04f4a4e32");
  EXPECT_EQ(info.boot_id, "1b8a9c1e-5d6f-4a7b-9c8d-0e1f2a3b4c5d");
  EXPECT_EQ(info.os_image, "Fallback OS");  // /etc/os-release absent: /usr/lib/os-release
  struct utsname u {};
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_EQ(info.kernel_version, u.release);
  EXPECT_EQ(info.operating_system, "linux");
  EXPECT_EQ(info.container_runtime_version, "podnet://0.1.0");
  EXPECT_TRUE(info.kubelet_version.starts_with("v1.32.")) << info.kubelet_version;
  EXPECT_EQ(info.kube_proxy_version, info.kubelet_version);
  EXPECT_EQ(read_node_system_info(false, root.path()).kube_proxy_version, "");

  put(root.path(), "/etc/os-release", "PRETTY_NAME=\"Primary OS\"\n");
  std::filesystem::remove(root.path() + "/etc/machine-id");
  put(root.path(), "/var/lib/dbus/machine-id", "fedcba9876543210fedcba9876543210\n");
  info = read_node_system_info(true, root.path());
  EXPECT_EQ(info.os_image, "Primary OS");
  EXPECT_EQ(info.machine_id, "fedcba9876543210fedcba9876543210");
}

TEST(SystemInfo, WhatCannotBeReadIsEmpty) {
  podnet::testing::TempDir root("pn-sysinfo");
  NodeSystemInfo info = read_node_system_info(true, root.path());
  EXPECT_EQ(info.machine_id, "");
  EXPECT_EQ(info.system_uuid, "");
  EXPECT_EQ(info.boot_id, "");
  EXPECT_EQ(info.os_image, "Linux");
  EXPECT_FALSE(info.kernel_version.empty());
  EXPECT_FALSE(info.architecture.empty());
}

TEST(SystemInfo, StatusPatchCarriesNodeInfoWithEveryField) {
  LocalNode me{.name = "node1", .ip = *parse_ip("192.168.1.11")};
  auto now = std::chrono::system_clock::now();
  EXPECT_FALSE(status_patch(me, now, now, true).at("status").as_object().contains("nodeInfo"));
  me.system_info = NodeSystemInfo{
      "m", "s", "b", "6.1.0", "Debian", "podnet://0.1.0", "v1.32.0+podnet-0.1.0", "", "linux", "amd64"};
  auto info = status_patch(me, now, now, true).at("status").at("nodeInfo");
  EXPECT_EQ(info,
            boost::json::parse(R"({"machineID":"m","systemUUID":"s","bootID":"b","kernelVersion":"6.1.0",
      "osImage":"Debian","containerRuntimeVersion":"podnet://0.1.0","kubeletVersion":"v1.32.0+podnet-0.1.0",
      "kubeProxyVersion":"","operatingSystem":"linux","architecture":"amd64"})"));
}

}  // namespace
}  // namespace podnet::agent
