// What a pod's processes see of DNS and service discovery, read from inside the pod: its own
// /etc/resolv.conf and /etc/hosts through its mount namespace (every dnsPolicy, dnsConfig,
// hostAliases, hostname/subdomain, hostNetwork), exec probes in the same namespace, the node's own
// files untouched, and the service environment variables. Needs root.
#include <linux/magic.h>
#include <sys/vfs.h>

#include <boost/algorithm/string.hpp>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "k8s/decode.h"
#include "pod_fixture.h"
#include "runtime/pod_dns.h"
#include "runtime/pod_mounts.h"
#include "runtime/pod_state.h"

namespace podnet::runtime::testing {
namespace {

json::object shell(const std::string& name, const std::string& script) {
  return json::object{{"name", name}, {"image", "none"}, {"command", json::array{"/bin/sh", "-c", script}}};
}

// What the container wrote to stdout, from its CRI log file ("<time> stdout F <line>").
std::string output(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, out;
  while (std::getline(in, line)) {
    auto at = line.find(" stdout F ");
    if (at != std::string::npos) out += line.substr(at + 10) + "\n";
  }
  return out;
}

// The files as the pod sees them, then "END".
const char* kShowFiles =
    "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname; echo END; exec sleep 1000";

std::string node_resolv() {
  return read_file("/etc/resolv.conf").value_or("<missing>");
}

class PodDnsTest : public PodTest {
 protected:
  // Runs the pod, waits for its first container's output to end with END, returns the output.
  std::string run_and_read(const std::string& name, json::object extra,
                           const std::string& script = kShowFiles) {
    make_pod(name, {shell("c", script)}, std::move(extra));
    json::value pod;
    std::string out;
    bool done = eventually([&] {
      pod = get_pod(name);
      std::string uid = str(pod, {"metadata", "uid"});
      out = output(state_ + "/pods/" + uid + "/c.log");
      // The status (podIP) may be posted after the container has written everything.
      return out.ends_with("END\n") && !str(pod, {"status", "podIP"}).empty();
    });
    EXPECT_TRUE(done) << name << ": " << out << "\n" << json::serialize(pod);
    uids_[name] = str(pod, {"metadata", "uid"});
    ips_[name] = str(pod, {"status", "podIP"});
    return out;
  }

  std::map<std::string, std::string> uids_, ips_;
};

TEST_F(PodDnsTest, EveryDnsPolicyAndHostAliasesAsThePodSeesThem) {
  const std::string node_resolv_before = node_resolv();
  const std::string node_hosts_before = read_file("/etc/hosts").value_or("<missing>");
  const std::string mountinfo_before = read_file("/proc/self/mountinfo").value_or("");
  start_manager();

  // ClusterFirst (the default), with hostname, subdomain and hostAliases.
  std::string cf = run_and_read(
      "cf",
      {{"hostname", "db"},
       {"subdomain", "backend"},
       {"hostAliases",
        json::array{json::object{{"ip", "127.0.0.1"}, {"hostnames", json::array{"foo.local", "bar.local"}}},
                    json::object{{"ip", "10.1.2.3"}, {"hostnames", json::array{"foo.remote"}}}}}});
  auto host = parse_resolv_conf(node_resolv_before);
  std::string node_search;
  for (const auto& s : host.searches) node_search += " " + s;
  EXPECT_EQ(cf, "search default.svc.cluster.local svc.cluster.local cluster.local" + node_search +
                    "\nnameserver 10.96.0.10\noptions ndots:5\n---\n"
                    "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                    "ip6-loopback\n"
                    "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-"
                    "allrouters\n" +
                    ips_["cf"] +
                    "\tdb.backend.default.svc.cluster.local\tdb\n\n# Entries added by HostAliases.\n"
                    "127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n---\ndb\nEND\n");

  // Default: the node's resolver, as kubelet re-writes it.
  std::string def = run_and_read("def", {{"dnsPolicy", "Default"}});
  EXPECT_TRUE(def.starts_with(format_resolv_conf(host) + "---\n")) << def;
  EXPECT_NE(def.find(ips_["def"] + "\tdef\n---\ndef\nEND\n"), std::string::npos) << def;

  // None with dnsConfig: the docs' example.
  std::string none = run_and_read(
      "none", {{"dnsPolicy", "None"},
               {"dnsConfig",
                {{"nameservers", json::array{"192.0.2.1"}},
                 {"searches", json::array{"ns1.svc.cluster-domain.example", "my.dns.search.suffix"}},
                 {"options", json::array{json::object{{"name", "ndots"}, {"value", "2"}},
                                         json::object{{"name", "edns0"}}}}}}});
  EXPECT_TRUE(
      none.starts_with("search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 192.0.2.1\n"
                       "options ndots:2 edns0\n---\n"))
      << none;

  // ClusterFirst plus dnsConfig: merged, dnsConfig's options win.
  std::string merged =
      run_and_read("merged", {{"dnsConfig",
                               {{"nameservers", json::array{"192.0.2.7"}},
                                {"searches", json::array{"extra.example"}},
                                {"options", json::array{json::object{{"name", "ndots"}, {"value", "1"}}}}}}});
  EXPECT_TRUE(merged.starts_with(
      "search default.svc.cluster.local svc.cluster.local cluster.local" + node_search +
      " extra.example\nnameserver 10.96.0.10\nnameserver 192.0.2.7\noptions ndots:1\n---\n"))
      << merged;

  // hostNetwork: ClusterFirst means Default, ClusterFirstWithHostNet the cluster's; the node's hosts
  // file with the aliases after it; the node's hostname.
  std::string hn = run_and_read(
      "hn", {{"hostNetwork", true},
             {"hostAliases",
              json::array{json::object{{"ip", "10.9.9.9"}, {"hostnames", json::array{"alias.example"}}}}}});
  EXPECT_TRUE(hn.starts_with(format_resolv_conf(host) +
                             "---\n# Kubernetes-managed hosts file (host network).\n" + node_hosts_before +
                             "\n# Entries added by HostAliases.\n10.9.9.9\talias.example\n---\n"))
      << hn;
  std::string hncf = run_and_read("hncf", {{"hostNetwork", true}, {"dnsPolicy", "ClusterFirstWithHostNet"}});
  EXPECT_TRUE(hncf.starts_with("search default.svc.cluster.local svc.cluster.local cluster.local" +
                               node_search + "\nnameserver 10.96.0.10\noptions ndots:5\n---\n"))
      << hncf;

  // Nothing of this reached the node: its files are as they were, no pod mount shows in its table.
  EXPECT_EQ(node_resolv(), node_resolv_before);
  EXPECT_EQ(read_file("/etc/hosts").value_or(""), node_hosts_before);
  std::string mountinfo = read_file("/proc/self/mountinfo").value_or("");
  EXPECT_EQ(mountinfo.find(" /etc/resolv.conf "), std::string::npos) << mountinfo;
  EXPECT_EQ(mountinfo.find(" /etc/hosts "), std::string::npos) << mountinfo;

  for (const auto& [name, uid] : uids_) admin().del("/api/v1/namespaces/default/pods/" + name);
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
  for (const auto& [name, uid] : uids_)
    EXPECT_FALSE(std::filesystem::exists(state_ + "/pods/" + uid)) << name;
  // Every pod's namespace file is unbound and gone; the node's files still byte for byte the same.
  size_t left = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(mntns_dir())) ++left;
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(node_resolv(), node_resolv_before);
  EXPECT_EQ(read_file("/etc/hosts").value_or(""), node_hosts_before);
  // No namespace file of this node's pods is still bound (only this node's: tests run in parallel,
  // and another test's node may have pods at this moment).
  std::string after = read_file("/proc/self/mountinfo").value_or("");
  EXPECT_EQ(after.find(" " + mntns_dir() + "/"), std::string::npos) << after;
  (void)mountinfo_before;
}

// With a run dir (the agent's --run-dir), what dies with the sandbox lives on a tmpfs: the pod's
// resolver files and its mount namespace's bind; its record and logs stay in the state dir. The
// pod sees the same files as without one, and deleting the pod removes its part of the run dir.
TEST_F(PodDnsTest, ResolverFilesAndMountNamespaceInTheRunDirTmpfs) {
  ASSERT_TRUE(ensure_tmpfs(run_dir(), 1 << 20));
  ASSERT_TRUE(ensure_tmpfs(run_dir(), 1 << 20));  // a tmpfs already: nothing mounted twice
  auto mounted = [&] {
    std::string info = read_file("/proc/self/mountinfo").value_or("");
    size_t n = 0;
    for (size_t at = 0; (at = info.find(" " + run_dir() + " ", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  EXPECT_EQ(mounted(), 1u);
  struct statfs fs {};
  ASSERT_EQ(::statfs(run_dir().c_str(), &fs), 0);
  EXPECT_EQ(fs.f_type, TMPFS_MAGIC);
  start_manager([&](PodManagerOptions& o) {
    o.run_dir = run_dir();
    o.mntns_dir = run_dir() + "/mntns";
  });
  std::string out = run_and_read("runfiles", {});
  EXPECT_NE(out.find("nameserver 10.96.0.10\n"), std::string::npos) << out;
  EXPECT_NE(out.find("runfiles\n"), std::string::npos) << out;
  const std::string uid = uids_["runfiles"];
  const std::string run_pod = run_dir() + "/pods/" + uid;
  EXPECT_EQ(read_file(run_pod + "/resolv.conf").value_or(""), out.substr(0, out.find("---\n")));
  EXPECT_TRUE(std::filesystem::exists(run_pod + "/hosts"));
  EXPECT_FALSE(std::filesystem::exists(state_ + "/pods/" + uid + "/resolv.conf"));
  EXPECT_TRUE(std::filesystem::exists(state_ + "/pods/" + uid + "/state.json"));
  auto rec = PodStateStore(state_, run_dir()).load(uid);
  ASSERT_TRUE(rec) << rec.error().message();
  EXPECT_TRUE(rec->mntns.starts_with(run_dir() + "/mntns/")) << rec->mntns;
  EXPECT_TRUE(open_pod_mount_ns(rec->mntns));

  admin().del("/api/v1/namespaces/default/pods/runfiles");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
  EXPECT_FALSE(std::filesystem::exists(run_pod));
  EXPECT_FALSE(std::filesystem::exists(state_ + "/pods/" + uid));
  EXPECT_FALSE(std::filesystem::exists(rec->mntns));
}

// All containers of a pod and its exec probes share one mount namespace, not the node's.
TEST_F(PodDnsTest, ContainersAndExecProbesJoinThePodsMountNamespace) {
  start_manager();
  std::string node_ns = std::filesystem::read_symlink("/proc/self/ns/mnt").string();
  // Container a also counts the pod netns and mount namespace binds it can see: none (the node's
  // are detached in the pod's copy of its mount table, so they neither pile up nor keep deleted
  // pods' namespaces alive).
  auto a = shell("a", "readlink /proc/self/ns/mnt; grep -cE \" (/var)?/run/netns/| " + mntns_dir() +
                          "/\" /proc/self/mountinfo; exec sleep 1000");
  auto b = shell("b", "readlink /proc/self/ns/mnt; exec sleep 1000");
  // Ready only if the probe reads the pod's resolv.conf (the node's has no 10.96.0.10).
  b["readinessProbe"] = json::object{
      {"exec", {{"command", json::array{"grep", "-q", "^nameserver 10.96.0.10$", "/etc/resolv.conf"}}}},
      {"periodSeconds", 1}};
  ASSERT_EQ(node_resolv().find("10.96.0.10"), std::string::npos) << "the node itself uses 10.96.0.10";
  // A pod made before: the node has its netns and mount namespace binds when "shared" is made.
  make_pod("early", {shell("e", "exec sleep 1000")});
  ASSERT_TRUE(eventually([&] { return condition(get_pod("early"), "Ready") == "True"; }));
  make_pod("shared", {a, b});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("shared"), "Ready") == "True"; }))
      << json::serialize(pod);
  std::string uid = str(pod, {"metadata", "uid"});
  std::string ns_a, ns_b;
  ASSERT_TRUE(eventually([&] {
    ns_a = output(state_ + "/pods/" + uid + "/a.log");
    ns_b = output(state_ + "/pods/" + uid + "/b.log");
    return !ns_a.empty() && !ns_b.empty();
  }));
  ASSERT_TRUE(eventually([&] {
    ns_a = output(state_ + "/pods/" + uid + "/a.log");
    return ns_a.find('\n') != ns_a.rfind('\n');
  })) << ns_a;
  EXPECT_EQ(ns_a.substr(ns_a.find('\n') + 1), "0\n") << ns_a;  // grep -c: no namespace binds in the pod
  ns_a.resize(ns_a.find('\n') + 1);
  EXPECT_EQ(ns_a, ns_b);
  EXPECT_TRUE(ns_a.starts_with("mnt:[")) << ns_a;
  EXPECT_NE(ns_a, node_ns + "\n");
  admin().del("/api/v1/namespaces/default/pods/shared");
  admin().del("/api/v1/namespaces/default/pods/early");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

// Service environment variables from the node's Services: names and values as kubelet gives them,
// the container's own variables win and may refer to them, enableServiceLinks: false drops all but
// the kubernetes Service's.
TEST_F(PodDnsTest, ServiceEnvironmentVariables) {
  auto svc = [&](const std::string& name, json::array ports) {
    json::object s{{"apiVersion", "v1"},
                   {"kind", "Service"},
                   {"metadata", {{"name", name}, {"namespace", "default"}}},
                   {"spec", {{"ports", std::move(ports)}}}};
    admin().post("/api/v1/namespaces/default/services", s);  // kubernetes may exist already
  };
  svc("kubernetes", json::array{json::object{{"name", "https"}, {"port", 443}}});
  svc("redis-primary", json::array{json::object{{"port", 6379}}});
  svc("web", json::array{json::object{{"name", "http"}, {"port", 80}},
                         json::object{{"name", "metrics"}, {"port", 9090}, {"protocol", "TCP"}}});
  auto ip_of = [&](const std::string& name) {
    return str(admin().get("/api/v1/namespaces/default/services/" + name).json(), {"spec", "clusterIP"});
  };
  std::string k8s_ip = ip_of("kubernetes"), redis_ip = ip_of("redis-primary"), web_ip = ip_of("web");
  ASSERT_FALSE(redis_ip.empty());
  int lists = 0;
  start_manager([&](PodManagerOptions& o) {
    o.services = [&](const std::string&) {
      ++lists;
      std::vector<k8s::Service> out;
      auto list = admin().get("/api/v1/services").json();
      for (const auto& item : list.at("items").as_array())
        if (auto s = k8s::decode_service(item)) out.push_back(std::move(*s));
      return out;
    };
  });
  json::object extra;
  auto c = shell("c", "env | sort; echo END; exec sleep 1000");
  c["env"] = json::array{
      json::object{{"name", "REDIS_PRIMARY_SERVICE_PORT"}, {"value", "override"}},
      json::object{{"name", "REDIS_URL"}, {"value", "redis://$(REDIS_PRIMARY_SERVICE_HOST):6379"}}};
  make_pod("links", {c});
  auto c2 = shell("c", "env | sort; echo END; exec sleep 1000");
  make_pod("nolinks", {c2}, {{"enableServiceLinks", false}});
  std::map<std::string, std::string> env_links, env_nolinks;
  for (auto [name, env] : {std::pair{"links", &env_links}, std::pair{"nolinks", &env_nolinks}}) {
    std::string out;
    ASSERT_TRUE(eventually([&] {
      out = output(state_ + "/pods/" + str(get_pod(name), {"metadata", "uid"}) + "/c.log");
      return out.ends_with("END\n");
    })) << out;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (auto eq = line.find('='); eq != std::string::npos) (*env)[line.substr(0, eq)] = line.substr(eq + 1);
  }
  std::map<std::string, std::string> want_k8s{{"KUBERNETES_SERVICE_HOST", k8s_ip},
                                              {"KUBERNETES_SERVICE_PORT", "443"},
                                              {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
                                              {"KUBERNETES_PORT", "tcp://" + k8s_ip + ":443"},
                                              {"KUBERNETES_PORT_443_TCP", "tcp://" + k8s_ip + ":443"},
                                              {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
                                              {"KUBERNETES_PORT_443_TCP_PORT", "443"},
                                              {"KUBERNETES_PORT_443_TCP_ADDR", k8s_ip}};
  std::map<std::string, std::string> want = want_k8s;
  want.insert({{"REDIS_PRIMARY_SERVICE_HOST", redis_ip},
               {"REDIS_PRIMARY_SERVICE_PORT", "override"},  // the container's own wins
               {"REDIS_PRIMARY_PORT", "tcp://" + redis_ip + ":6379"},
               {"REDIS_PRIMARY_PORT_6379_TCP", "tcp://" + redis_ip + ":6379"},
               {"REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp"},
               {"REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379"},
               {"REDIS_PRIMARY_PORT_6379_TCP_ADDR", redis_ip},
               {"REDIS_URL", "redis://" + redis_ip + ":6379"},
               {"WEB_SERVICE_HOST", web_ip},
               {"WEB_SERVICE_PORT", "80"},
               {"WEB_SERVICE_PORT_HTTP", "80"},
               {"WEB_SERVICE_PORT_METRICS", "9090"},
               {"WEB_PORT", "tcp://" + web_ip + ":80"},
               {"WEB_PORT_80_TCP", "tcp://" + web_ip + ":80"},
               {"WEB_PORT_80_TCP_PROTO", "tcp"},
               {"WEB_PORT_80_TCP_PORT", "80"},
               {"WEB_PORT_80_TCP_ADDR", web_ip},
               {"WEB_PORT_9090_TCP", "tcp://" + web_ip + ":9090"},
               {"WEB_PORT_9090_TCP_PROTO", "tcp"},
               {"WEB_PORT_9090_TCP_PORT", "9090"},
               {"WEB_PORT_9090_TCP_ADDR", web_ip}});
  // Only what services add (the shell adds PWD, SHLVL, ...; the node adds PATH and HOSTNAME).
  auto service_vars = [](const std::map<std::string, std::string>& env) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : env)
      if (k.starts_with("KUBERNETES_") || k.starts_with("REDIS_") || k.starts_with("WEB_")) out.emplace(k, v);
    return out;
  };
  EXPECT_EQ(service_vars(env_links), want);
  EXPECT_EQ(service_vars(env_nolinks), want_k8s);
  EXPECT_GE(lists, 2);
  admin().del("/api/v1/namespaces/default/pods/links");
  admin().del("/api/v1/namespaces/default/pods/nolinks");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

}  // namespace
}  // namespace podnet::runtime::testing
