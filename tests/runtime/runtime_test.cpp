// podnet-cni under real container runtimes: podman 4 (CNI backend) and containerd (`ctr run --cni`)
// start two containers from an image built here out of busybox-static, the containers reach each
// other through the plugin's bridge, and removing them releases their addresses.
//
// Isolation: each test owns a temporary directory (/tmp/pn-rt-<hex>-XXXXXX) holding every file the
// runtimes write (storage, state, runc root, sockets, CNI config, plugin state), a private "node"
// network namespace in which the runtime client runs (so the plugin's bridge, its address and the
// forwarding sysctl are made there, never in the root namespace), unique names (bridge and network
// pnrt<hex>, ctr namespace and cgroup parent pnrt-<hex>), and it removes all of it on success and
// on failure. Host directories the runtimes create at fixed paths (/var/lib/cni, /run/containerd/s)
// are removed again when they did not exist before and are empty.
//
// podman: CONTAINERS_CONF selects the CNI backend, our plugin and conflist directories, runc (through
// a wrapper giving it a private state root), file locks and no event log; CONTAINERS_STORAGE_CONF a
// private vfs store. containerd: a private daemon (own root, state, sockets; CRI disabled); ctr's
// --cni always reads /etc/cni/net.d and /opt/cni/bin, so ctr runs in a private mount namespace
// where our directories are mounted over those paths.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/scoped_netns.h"

namespace podnet::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- small process helpers ---------------------------------------------------------------------

struct Cmd {
  int status = -1;
  std::string out;  // stdout and stderr
};

// Runs `sh -c cmd` and returns its exit status and output (stderr folded into stdout).
Cmd run(const std::string& cmd) {
  Cmd r;
  FILE* p = ::popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return r;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool have(const std::string& tool) {
  return run("command -v " + tool + " >/dev/null").status == 0;
}

void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path, std::ios::trunc) << text;
  ::chmod(path.c_str(), mode);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string random_hex(int digits) {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < digits; ++i) s += "0123456789abcdef"[rd() % 16];
  return s;
}

// A command started in the background in its own process group: output is collected through a
// pipe, and the group is killed (by the pid we got from fork) if it is still running at the end.
class Background {
 public:
  explicit Background(const std::string& cmd) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(p[1], 1);
      ::dup2(p[1], 2);
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(p[1]);
    fd_ = p[0];
    if (pid_ < 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Background() {
    if (pid_ > 0 && !exited_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return out_; }

  // Reads output until `re` matches it or the timeout; returns the first capture group ("" if none).
  std::string wait_for(const std::regex& re, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::smatch m;
      if (std::regex_search(out_, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      if (!read_some(deadline)) return "";
    }
  }
  // Waits for exit; returns the exit status, or -1 after the timeout (the process is left running).
  int wait(std::chrono::milliseconds timeout) {
    if (exited_) return status_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(deadline)) {
    }
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(20ms);
    }
  }

 private:
  // Appends what is readable before the deadline; false at EOF or timeout.
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    if (fd_ < 0) return false;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    out_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  int status_ = -1;
  std::string out_;
};

// Polls `pred` until it holds or the timeout passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

// ---- host clean-up helpers ---------------------------------------------------------------------

// Detaches every mount at or below `dir` (deepest first), so removing the tree cannot reach into
// a mounted file system.
void unmount_below(const std::string& dir) {
  std::vector<std::string> points;
  std::ifstream mi("/proc/self/mountinfo");
  for (std::string line; std::getline(mi, line);) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, point;
    ls >> id >> parent >> devno >> root >> point;
    if (point == dir || point.starts_with(dir + "/")) points.push_back(point);
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& p : points) ::umount2(p.c_str(), MNT_DETACH);
}

// Removes empty cgroup directories named `name` (and the empty ones below them) in every hierarchy.
void remove_cgroups(const std::string& name) {
  std::error_code ec;
  for (const auto& hier : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    fs::path top = hier.path() / name;
    if (!fs::is_directory(top, ec)) continue;
    std::vector<fs::path> dirs{top};
    for (auto it = fs::recursive_directory_iterator(top, ec); it != fs::recursive_directory_iterator(); ++it)
      if (it->is_directory(ec)) dirs.push_back(it->path());
    std::sort(dirs.begin(), dirs.end(),
              [](const auto& a, const auto& b) { return a.native().size() > b.native().size(); });
    for (const auto& d : dirs) ::rmdir(d.c_str());
    if (fs::exists(top, ec)) ADD_FAILURE() << "cgroup " << top << " is still in use";
  }
}

// Pids whose command line mentions `needle` (our temporary directory): processes the runtimes
// started for this test only, e.g. a containerd shim left by a failed run.
std::vector<pid_t> pids_mentioning(const std::string& needle) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::string cmdline = read_file("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) pids.push_back(pid);
  }
  return pids;
}

// ---- the fixture ---------------------------------------------------------------------------------

class RuntimeTest : public ::testing::Test {
 protected:
  // Host paths the runtimes create at fixed locations whatever they are told; each one that this
  // test created is removed again at the end if it is empty (deepest first).
  static inline const std::vector<std::string> kFixedHostDirs = {
      "/var/lib/cni/results", "/var/lib/cni", "/run/containerd/s", "/run/containerd/runc",
      "/run/containerd",      "/run/runc",    "/run/libpod",       "/var/lib/containers/cache",
      "/var/lib/containers",
  };

  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "runtime tests need root";
    ASSERT_EQ(::access(plugin().c_str(), X_OK), 0) << plugin() << " is not built";
    ASSERT_EQ(::access("/bin/busybox", X_OK), 0) << "/bin/busybox missing: apt-get install busybox-static";
    for (const auto& d : kFixedHostDirs)
      if (!fs::exists(d)) created_if_seen_.push_back(d);

    tag_ = random_hex(4);
    name_ = "pnrt" + tag_;  // CNI network and bridge
    group_ = "pnrt-" + tag_;
    subnet_ = "10.213." + std::to_string(std::random_device{}() % 250 + 1);
    dir_ = "/tmp/pn-rt-" + tag_ + "-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    set_up_ = true;
    node_ = std::make_unique<ScopedNetns>();

    // The plugin dir holds only "podnet" -> podnet-cni; the conflist is the bridge plugin's config
    // with type "podnet" and the built-in IPAM.
    fs::create_directories(dir_ + "/cni/bin");
    fs::create_directories(dir_ + "/cni/net.d");
    fs::create_symlink(plugin(), dir_ + "/cni/bin/podnet");
    write_file(dir_ + "/cni/net.d/10-" + name_ + ".conflist",
               R"({"cniVersion": "1.0.0", "name": ")" + name_ +
                   R"(", "plugins": [{"type": "podnet", "bridge": ")" + name_ +
                   R"(", "isGateway": true, "isDefaultGateway": true, "stateDir": ")" + dir_ +
                   R"(/cni/state", "ipam": {"type": "podnet", "dataDir": ")" + dir_ +
                   R"(/cni/ipam", "ranges": [[{"subnet": ")" + subnet_ + R"(.0/24"}]]}}]})" + "\n");

    // The image's single layer: busybox-static and the applets the containers use.
    std::string rootfs = dir_ + "/rootfs";
    for (auto d : {"bin", "etc", "proc", "sys", "dev", "tmp", "run"})
      fs::create_directories(rootfs + "/" + d);
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    for (auto a :
         {"sh", "ip", "ping", "nc", "httpd", "mkdir", "echo", "printf", "grep", "sleep", "cat", "ls"})
      fs::create_symlink("busybox", rootfs + "/bin/" + a);
    write_file(rootfs + "/etc/passwd", "root:x:0:0:root:/:/bin/sh\n");
    write_file(rootfs + "/etc/group", "root:x:0:\n");
    auto tar = run("tar --numeric-owner --owner=0 --group=0 -C " + rootfs + " -cf " + layer() + " .");
    ASSERT_EQ(tar.status, 0) << tar.out;
  }

  void TearDown() override {
    if (!set_up_) return;  // skipped before anything was made
    stop_runtime();
    for (pid_t pid : pids_mentioning(dir_)) {
      ADD_FAILURE() << "process " << pid << " of this test still running: killed";
      ::kill(pid, SIGKILL);
    }
    remove_cgroups(group_);
    // The plugin made every link in the node namespace; deleting it takes the bridge and veths.
    node_.reset();
    EXPECT_NE(run("ip link show " + name_).status, 0)
        << "bridge " << name_ << " appeared in the root namespace";

    // libcni caches results as /var/lib/cni/results/<network>-<container>-<ifname>.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/var/lib/cni/results", ec))
      if (e.path().filename().string().starts_with(name_ + "-")) fs::remove(e.path(), ec);
    for (const auto& d : created_if_seen_) ::rmdir(d.c_str());  // only if empty

    unmount_below(dir_);
    fs::remove_all(dir_, ec);
  }

  virtual void stop_runtime() {}

  static std::string plugin() { return std::string(PODNET_BINARY_DIR) + "/podnet-cni"; }
  std::string layer() const { return dir_ + "/layer.tar"; }
  std::string image() const { return "localhost/pnimg-" + tag_ + ":latest"; }

  // Addresses reserved by the plugin's IPAM: files named by the address in dataDir/<network>.
  std::vector<std::string> reservations() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ + "/cni/ipam/" + name_, ec)) {
      std::string f = e.path().filename();
      if (e.is_regular_file() && f.starts_with(subnet_ + ".")) out.push_back(f);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  bool reserved(const std::string& ip) const {
    auto r = reservations();
    return std::find(r.begin(), r.end(), ip) != r.end();
  }
  std::string node_veths() const {
    return run("ip netns exec " + node_->name() + " ip -o link show type veth").out;
  }

  // What container B runs to reach container A's web server (A may still be starting). HTTP by
  // hand through nc: busybox-static's wget crashes looking up the service name in an empty /etc.
  std::string probe(const std::string& ip) const {
    return "ip -o -4 addr show eth0; ping -c1 -W2 " + ip +
           " || exit 1; for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 " +
           ip + " 8080 | grep pn-hello && exit 0; sleep 0.3; done; exit 1";
  }
  static constexpr const char* kServe =
      "ip -o -4 addr show eth0; mkdir -p /tmp/www; echo pn-hello > /tmp/www/index.html; exec httpd -f -p "
      "8080 -h /tmp/www";

  std::string tag_, name_, group_, subnet_, dir_;
  std::unique_ptr<ScopedNetns> node_;
  std::vector<std::string> created_if_seen_;
  bool set_up_ = false;
};

const std::regex kInet(R"(inet (\d+\.\d+\.\d+\.\d+)/)");

// Checks that container B's output shows it reached A's web server; returns B's own address, or ""
// (with a failure recorded) when its output names none.
std::string reached_a_from(const Cmd& run_b, const std::string& ip_a) {
  EXPECT_EQ(run_b.status, 0) << run_b.out;
  EXPECT_NE(run_b.out.find("pn-hello"), std::string::npos) << run_b.out;
  std::smatch m;
  if (!std::regex_search(run_b.out, m, kInet)) {
    ADD_FAILURE() << "no address in B's output: " << run_b.out;
    return {};
  }
  std::string ip_b = m[1];
  EXPECT_NE(ip_b, ip_a);
  return ip_b;
}

// ---- podman --------------------------------------------------------------------------------------

class PodmanTest : public RuntimeTest {
 protected:
  void SetUp() override {
    if (!have("podman") || !have("runc") || !have("nsenter"))
      GTEST_SKIP() << "podman, runc or nsenter not installed (scripts/install-deps.sh --runtime-tests)";
    RuntimeTest::SetUp();
    if (HasFatalFailure()) return;
    std::string p = dir_ + "/podman";
    for (auto d : {"root", "runroot", "tmp", "runc", "bin"}) fs::create_directories(p + "/" + d);
    // podman's cleanup process (run by conmon) gets none of our runtime flags, so runc's state
    // root is given through a wrapper that podman knows as its "runc".
    write_file(p + "/bin/runc", "#!/bin/sh\nexec runc --root " + p + "/runc \"$@\"\n", 0755);
    write_file(p + "/containers.conf",
               "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"" + dir_ +
                   "/cni/bin\"]\nnetwork_config_dir = \"" + dir_ + "/cni/net.d\"\ndefault_network = \"" +
                   name_ +
                   "\"\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n"
                   "events_logger = \"none\"\nlock_type = \"file\"\ntmp_dir = \"" +
                   p + "/tmp\"\nstatic_dir = \"" + p + "/root/libpod\"\nvolume_path = \"" + p +
                   "/root/volumes\"\n[engine.runtimes]\nrunc = [\"" + p + "/bin/runc\"]\n");
    write_file(p + "/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + p +
                                        "/root\"\nrunroot = \"" + p + "/runroot\"\n");
    // CONTAINERS_CONF also reaches the cleanup processes conmon starts (they get --root etc. as flags).
    env_ = "env CONTAINERS_CONF=" + p + "/containers.conf CONTAINERS_STORAGE_CONF=" + p +
           "/storage.conf TMPDIR=" + p + "/tmp ";
    podman_ = env_ + "timeout 40 nsenter --net=" + node_->path() + " podman ";

    // `podman import` records blobs in /var/lib/containers/cache whatever its storage is: it runs in a
    // private mount namespace with a throw-away /var/lib.
    auto imp = run(env_ + "timeout 40 unshare --mount --propagation private sh -c " +
                   quote("mount -t tmpfs pn-rt-varlib /var/lib && exec podman import --change CMD=/bin/sh " +
                         layer() + " " + image()));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }

  void stop_runtime() override {
    if (podman_.empty()) return;
    run(podman_ + "rm -a -f -t 0");
    run(podman_ + "rmi -a -f");
  }

  Cmd podman_run(const std::string& args) {
    return run(
        podman_ +
        "run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --pull never --network " +
        name_ + " --cgroup-parent /" + group_ + " " + args);
  }

  std::string env_, podman_;
};

TEST_F(PodmanTest, TwoContainersReachEachOtherAndRemovalReleasesAddresses) {
  auto net = run(podman_ + "network inspect " + name_ + " --format '{{.Driver}}'");
  ASSERT_EQ(net.status, 0) << net.out;
  EXPECT_EQ(net.out, "podnet\n") << "podman loaded our conflist";

  std::string a = "pnrt-a-" + tag_, b = "pnrt-b-" + tag_;
  auto run_a = podman_run("-d --name " + a + " " + image() + " sh -c " + quote(kServe));
  ASSERT_EQ(run_a.status, 0) << run_a.out;
  auto ip = run(podman_ + "inspect " + a + " --format '{{(index .NetworkSettings.Networks \"" + name_ +
                "\").IPAddress}}'");
  ASSERT_EQ(ip.status, 0) << ip.out;
  std::string ip_a = ip.out.substr(0, ip.out.find('\n'));
  ASSERT_TRUE(ip_a.starts_with(subnet_ + ".")) << ip.out;
  EXPECT_TRUE(reserved(ip_a));

  // B reaches A by ICMP and HTTP, then exits and is removed (--rm).
  auto run_b = podman_run("--rm --name " + b + " " + image() + " sh -c " + quote(probe(ip_a)));
  std::string ip_b = reached_a_from(run_b, ip_a);
  ASSERT_FALSE(ip_b.empty());
  EXPECT_TRUE(eventually([&] { return !reserved(ip_b); }))
      << "B's address still reserved after podman run --rm";
  EXPECT_TRUE(reserved(ip_a));

  // The node reaches A through the bridge's gateway address.
  EXPECT_EQ(run("ip netns exec " + node_->name() + " ping -c1 -W2 " + ip_a).status, 0);

  auto rm = run(podman_ + "rm -f -t 0 " + a);
  EXPECT_EQ(rm.status, 0) << rm.out;
  EXPECT_TRUE(eventually([&] { return reservations().empty(); }))
      << "reservations left: " << ::testing::PrintToString(reservations());
  EXPECT_TRUE(eventually([&] { return node_veths().empty(); })) << node_veths();
  EXPECT_EQ(run(podman_ + "ps -a -q").out, "");
}

// ---- containerd ----------------------------------------------------------------------------------

class ContainerdTest : public RuntimeTest {
 protected:
  void SetUp() override {
    if (!have("containerd") || !have("ctr") || !have("runc"))
      GTEST_SKIP() << "containerd, ctr or runc not installed (scripts/install-deps.sh --runtime-tests)";
    // `ctr run --cni` reads /etc/cni/net.d and finds plugins in /opt/cni/bin (then /usr/lib/cni),
    // with no option to change either: ctr runs in a mount namespace where our directories are
    // mounted there. That needs the mount point /etc/cni/net.d, which the podman package ships.
    if (!fs::is_directory("/etc/cni/net.d")) GTEST_SKIP() << "/etc/cni/net.d does not exist";
    RuntimeTest::SetUp();
    if (HasFatalFailure()) return;
    std::string c = dir_ + "/containerd";
    fs::create_directories(c);
    sock_ = c + "/containerd.sock";
    write_file(
        c + "/config.toml",
        "version = 2\nroot = \"" + c + "/root\"\nstate = \"" + c +
            "/state\"\n"
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\", "
            "\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", "
            "\"io.containerd.snapshotter.v1.devmapper\"]\n[grpc]\n  address = \"" +
            sock_ + "\"\n[ttrpc]\n  address = \"" + c +
            "/ttrpc.sock\"\n"
            "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"" +
            c + "/opt\"\n");
    daemon_ = std::make_unique<Background>("exec containerd --config " + c + "/config.toml >" + c +
                                           "/containerd.log 2>&1");
    ASSERT_TRUE(daemon_->started());
    ctr_ = "timeout 40 ctr -a " + sock_ + " -n " + group_ + " ";
    ASSERT_TRUE(eventually([&] { return run(ctr_ + "version").status == 0; }, 15s))
        << "containerd did not start:\n"
        << read_file(c + "/containerd.log");

    ASSERT_NO_FATAL_FAILURE(build_oci_archive(dir_ + "/image.tar"));
    auto imp = run(ctr_ + "images import --snapshotter native " + dir_ + "/image.tar");
    ASSERT_EQ(imp.status, 0) << imp.out;

    // ctr's --cni: go-cni's fixed paths replaced in a mount namespace private to this ctr process
    // (ip netns exec makes one, slave to the host's), and ctr in the node network namespace.
    write_file(dir_ + "/ctr-run-cni",
               "#!/bin/sh\nset -e\nmount --bind " + dir_ + "/cni/net.d /etc/cni/net.d\n" +
                   "mount -t tmpfs pn-rt-opt /opt\nmkdir -p /opt/cni/bin\nmount --bind " + dir_ +
                   "/cni/bin /opt/cni/bin\nexec ctr -a " + sock_ + " -n " + group_ +
                   " run --rm --cni --snapshotter native --fifo-dir " + dir_ + "/fifo --runc-root " + dir_ +
                   "/runc \"$@\"\n",
               0755);
  }

  // An OCI image layout in a tar: one uncompressed layer, its config and manifest, and an index
  // naming it for containerd.
  void build_oci_archive(const std::string& out) {
    std::string oci = dir_ + "/oci", blobs = oci + "/blobs/sha256";
    fs::create_directories(blobs);
    auto add_blob = [&](const std::string& file) {
      auto sum = run("sha256sum " + file);
      std::string digest = sum.out.substr(0, 64);
      fs::copy_file(file, blobs + "/" + digest, fs::copy_options::overwrite_existing);
      return std::make_pair("sha256:" + digest, std::to_string(fs::file_size(file)));
    };
    std::string arch = run("uname -m").out;
    arch = arch.starts_with("aarch64")  ? "arm64"
           : arch.starts_with("x86_64") ? "amd64"
                                        : arch.substr(0, arch.size() - 1);
    auto [layer_digest, layer_size] = add_blob(layer());
    write_file(dir_ + "/config.json",
               R"({"architecture": ")" + arch +
                   R"(", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]}, )"
                   R"("rootfs": {"type": "layers", "diff_ids": [")" +
                   layer_digest + R"("]}})");
    auto [config_digest, config_size] = add_blob(dir_ + "/config.json");
    write_file(dir_ + "/manifest.json",
               R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", )"
               R"("config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ")" +
                   config_digest + R"(", "size": )" + config_size +
                   R"(}, "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ")" +
                   layer_digest + R"(", "size": )" + layer_size + "}]}");
    auto [manifest_digest, manifest_size] = add_blob(dir_ + "/manifest.json");
    write_file(
        oci + "/index.json",
        R"({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", )"
        R"("digest": ")" +
            manifest_digest + R"(", "size": )" + manifest_size +
            R"(, "annotations": {"io.containerd.image.name": ")" + image() +
            R"(", "org.opencontainers.image.ref.name": "latest"}}]})");
    write_file(oci + "/oci-layout", R"({"imageLayoutVersion": "1.0.0"})");
    auto tar = run("tar -C " + oci + " -cf " + out + " oci-layout index.json blobs");
    ASSERT_EQ(tar.status, 0) << tar.out;
  }

  std::string ctr_run_cni(const std::string& id, const std::string& script) const {
    return "timeout 50 ip netns exec " + node_->name() + " " + dir_ + "/ctr-run-cni " + image() + " " + id +
           " sh -c " + quote(script);
  }

  void stop_runtime() override {
    if (!daemon_) return;
    if (run(ctr_ + "version").status == 0) {
      auto each = [&](const std::string& list, const std::string& cmd) {
        std::istringstream ids(run(ctr_ + list).out);
        for (std::string id; ids >> id;) run(ctr_ + cmd + " " + id);
      };
      each("tasks ls -q", "tasks kill -a -s SIGKILL");
      for (auto& b : background_) b->wait(15s);  // their DEL runs as the tasks end
      each("tasks ls -q", "tasks rm -f");
      each("containers ls -q", "containers rm");
      run(ctr_ + "images rm " + image());
    }
    background_.clear();  // kills our ctr clients if they are still running
    ::kill(daemon_->pid(), SIGTERM);
    if (daemon_->wait(10s) < 0) ::kill(daemon_->pid(), SIGKILL);
    daemon_.reset();
  }

  std::string sock_, ctr_;
  std::unique_ptr<Background> daemon_;
  std::vector<std::unique_ptr<Background>> background_;
};

TEST_F(ContainerdTest, TwoContainersReachEachOtherAndRemovalReleasesAddresses) {
  std::string a = "pnrt-a-" + tag_, b = "pnrt-b-" + tag_;
  // A serves until it is killed; its ctr client stays attached and runs DEL when A exits.
  auto& ctr_a = *background_.emplace_back(std::make_unique<Background>(ctr_run_cni(a, kServe)));
  ASSERT_TRUE(ctr_a.started());
  std::string ip_a = ctr_a.wait_for(kInet, 30s);
  ASSERT_TRUE(ip_a.starts_with(subnet_ + ".")) << ctr_a.output();
  EXPECT_TRUE(reserved(ip_a));

  auto run_b = run(ctr_run_cni(b, probe(ip_a)));
  std::string ip_b = reached_a_from(run_b, ip_a);
  ASSERT_FALSE(ip_b.empty());
  EXPECT_FALSE(reserved(ip_b)) << "B's address still reserved after ctr run --rm returned";
  EXPECT_TRUE(reserved(ip_a));
  EXPECT_EQ(run("ip netns exec " + node_->name() + " ping -c1 -W2 " + ip_a).status, 0);

  auto kill = run(ctr_ + "tasks kill -s SIGKILL " + a);
  EXPECT_EQ(kill.status, 0) << kill.out;
  EXPECT_GE(ctr_a.wait(30s), 0) << "ctr run for A did not return:\n" << ctr_a.output();
  EXPECT_TRUE(reservations().empty()) << "reservations left: " << ::testing::PrintToString(reservations());
  EXPECT_TRUE(eventually([&] { return node_veths().empty(); })) << node_veths();
  EXPECT_EQ(run(ctr_ + "containers ls -q").out, "");
}

}  // namespace
}  // namespace podnet::testing
