// PodManager against an in-process API server on a node namespace of its own: real CNI (podnet-cni),
// real processes, real probes, the real log endpoint. Needs root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "common/files.h"
#include "pod_fixture.h"

namespace podnet::runtime::testing {
namespace {

json::object container(const std::string& name, json::array command) {
  return json::object{{"name", name}, {"image", "none"}, {"command", std::move(command)}};
}

json::object tcp_readiness(int port) {
  return json::object{{"tcpSocket", {{"port", port}}}, {"periodSeconds", 1}};
}

}  // namespace

// As the API server asks: HTTPS from inside the node's namespace, with its kubelet client
// certificate. The body of a 200; otherwise "<status> <body>".
std::string PodTest::kubelet_get(const std::string& target) {
  namespace asio = boost::asio;
  namespace ssl = asio::ssl;
  namespace http = boost::beast::http;
  auto fd = node_.netns().run([]() -> Result<UniqueFd> {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return fail("socket");
    return s;
  });
  if (!fd) return "socket failed";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(manager_->log_port());
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return "connect failed";
  const std::string pki = server_->pki_dir();
  asio::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.add_certificate_authority(asio::buffer(read_file(pki + "/ca.crt").value_or("")));
  ctx.use_certificate_chain(asio::buffer(read_file(pki + "/apiserver-kubelet-client.crt").value_or("")));
  ctx.use_private_key(asio::buffer(read_file(pki + "/apiserver-kubelet-client.key").value_or("")),
                      ssl::context::pem);
  ctx.set_verify_mode(ssl::verify_peer);
  ssl::stream<asio::ip::tcp::socket> stream(ioc, ctx);
  boost::system::error_code ec;
  stream.next_layer().assign(asio::ip::tcp::v4(), fd->release(), ec);
  if (!ec) stream.handshake(ssl::stream_base::client, ec);
  if (ec) return "handshake: " + ec.message();
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "node1");
  http::write(stream, req, ec);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  if (ec) return "read: " + ec.message();
  if (res.result_int() != 200) return std::to_string(res.result_int()) + " " + res.body();
  return res.body();
}

TEST_F(PodTest, ContainersTalkOverLocalhostAndLogsAndCniDelReleasesIp) {
  start_manager();
  auto server = container("server", {tool(), "serve", "8080", "hello-from-server"});
  server["readinessProbe"] = tcp_readiness(8080);
  auto client = container(
      "client",
      {"/bin/sh", "-c", "until " + tool() + " fetch 127.0.0.1 8080; do sleep 0.1; done; exec sleep 1000"});
  client["env"] = json::array{json::object{{"name", "GREETING"}, {"value", "hi $(POD)"}}};
  make_pod("talk", {server, client});

  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("talk"), "Ready") == "True"; }))
      << json::serialize(pod);
  std::string ip = str(pod, {"status", "podIP"});
  EXPECT_TRUE(ip.starts_with("10.244.7.")) << ip;
  EXPECT_EQ(str(pod, {"status", "phase"}), "Running");
  EXPECT_EQ(str(pod, {"status", "hostIP"}), "192.0.2.10");
  // The IPAM holds the address while the pod lives.
  EXPECT_TRUE(std::filesystem::exists(ipam_dir() + "/podnet/" + ip)) << ip;

  // The client reached the server over 127.0.0.1: its log says what the server sent.
  std::string logs;
  EXPECT_TRUE(eventually([&] {
    logs = kubelet_get("/containerLogs/default/talk/client");
    return logs.find("fetched: hello-from-server") != std::string::npos;
  })) << logs;
  std::string stamped = kubelet_get("/containerLogs/default/talk/server?timestamps=true&tailLines=1");
  EXPECT_TRUE(stamped.find("Z serving on port 8080") != std::string::npos) << stamped;
  EXPECT_TRUE(kubelet_get("/containerLogs/default/nope/client").find("404") != std::string::npos);

  // Deleted outright (this server has no graceful deletion): containers stop, CNI DEL frees the IP.
  auto uid = str(pod, {"metadata", "uid"});
  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/talk").status, 200);
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(ipam_dir() + "/podnet/" + ip); }));
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(state_ + "/pods/" + uid); }));
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

TEST_F(PodTest, ReadinessProbeFlipsReadyCondition) {
  start_manager();
  std::string flag = dir_.path() + "/ready-flag";
  auto c = container("app", {"/bin/sh", "-c", "exec sleep 1000"});
  c["readinessProbe"] = json::object{{"exec", {{"command", json::array{"test", "-f", flag}}}},
                                     {"periodSeconds", 1},
                                     {"failureThreshold", 1}};
  make_pod("ready", {c});
  json::value pod;
  ASSERT_TRUE(eventually([&] {
    return str(pod = get_pod("ready"), {"status", "phase"}) == "Running";
  })) << json::serialize(pod);
  EXPECT_EQ(condition(pod, "Ready"), "False");
  write_file_atomic(flag, "1");
  EXPECT_TRUE(eventually([&] { return condition(pod = get_pod("ready"), "Ready") == "True"; }));
  std::filesystem::remove(flag);
  EXPECT_TRUE(eventually([&] { return condition(pod = get_pod("ready"), "Ready") == "False"; }));
  EXPECT_EQ(str(pod, {"status", "phase"}), "Running");
  admin().del("/api/v1/namespaces/default/pods/ready");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

// The node lifecycle controller sets the Ready condition of a silent node's pods to False; once the
// agent is heard again it must post its own readiness, or the pods stay out of their Services.
TEST_F(PodTest, ReadinessChangedByOthersIsPostedAgain) {
  start_manager();
  make_pod("marked", {container("app", {"/bin/sh", "-c", "exec sleep 1000"})});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("marked"), "Ready") == "True"; }))
      << json::serialize(pod);
  for (auto& c : pod.at("status").at("conditions").as_array())
    if (str(c, {"type"}) == "Ready") c.as_object()["status"] = "False";
  auto marked = request("PUT", "/api/v1/namespaces/default/pods/marked/status", pod);
  ASSERT_TRUE(marked) << marked.error().message();
  ASSERT_EQ(condition(*marked, "Ready"), "False");
  EXPECT_TRUE(eventually([&] { return condition(pod = get_pod("marked"), "Ready") == "True"; }))
      << json::serialize(pod);
  admin().del("/api/v1/namespaces/default/pods/marked");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

TEST_F(PodTest, LivenessFailureRestartsContainer) {
  start_manager();
  std::string flag = dir_.path() + "/alive-flag";
  // The first run has no flag and fails its liveness probe; it creates the flag on the way out
  // (SIGTERM), so the restarted container stays alive.
  auto c = container(
      "app", {"/bin/sh", "-c", "trap 'touch " + flag + "; exit 0' TERM; while :; do sleep 0.1; done"});
  c["livenessProbe"] = json::object{{"exec", {{"command", json::array{"test", "-f", flag}}}},
                                    {"periodSeconds", 1},
                                    {"failureThreshold", 2}};
  make_pod("live", {c});
  json::value pod;
  const json::value* cs = nullptr;
  ASSERT_TRUE(eventually([&] {
    pod = get_pod("live");
    cs = container_status(pod, "app");
    return cs && str(*cs, {"restartCount"}) == "1" && str(*cs, {"state", "running", "startedAt"}) != "";
  })) << json::serialize(pod);
  EXPECT_EQ(str(*cs, {"lastState", "terminated", "exitCode"}), "0");
  std::this_thread::sleep_for(2500ms);  // alive now: no further restarts
  pod = get_pod("live");
  EXPECT_EQ(str(*container_status(pod, "app"), {"restartCount"}), "1");
  admin().del("/api/v1/namespaces/default/pods/live");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

TEST_F(PodTest, GracefulDeleteMarksNotReadySendsSigtermAndRemovesPod) {
  start_manager();
  std::string marker = dir_.path() + "/term-marker";
  auto c = container("server", {tool(), "serve", "8080", "x", marker});
  c["readinessProbe"] = tcp_readiness(8080);
  auto pod = make_pod("graceful", {c});
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("graceful"), "Ready") == "True"; }));
  auto watch = admin().watch(
      "/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dgraceful&resourceVersion=" +
      str(pod, {"metadata", "resourceVersion"}));
  // Graceful deletion as kube-apiserver does it: deletionTimestamp and grace period on the object,
  // written straight to the store (this server deletes pods at once).
  auto& store = server_->store();
  auto list = store.list("/");
  ASSERT_TRUE(list);
  bool marked = false;
  for (const auto& kv : list->items) {
    auto v = json::parse(kv.value);
    if (str(v, {"metadata", "name"}) != "graceful" || str(v, {"kind"}) != "Pod") continue;
    v.as_object()["metadata"].as_object()["deletionTimestamp"] = "2030-01-01T00:00:00Z";
    v.as_object()["metadata"].as_object()["deletionGracePeriodSeconds"] = 5;
    ASSERT_TRUE(store.update(kv.key, json::serialize(v), kv.mod_revision));
    marked = true;
  }
  ASSERT_TRUE(marked);
  std::vector<std::string> seen;
  bool not_ready_before_delete = false, deleted = false;
  for (int i = 0; i < 20 && !deleted; ++i) {
    auto ev = watch->next(10s);
    if (!ev) break;
    std::string type = str(*ev, {"type"});
    if (type == "MODIFIED" && condition(ev->at("object"), "Ready") == "False") not_ready_before_delete = true;
    if (type == "DELETED") deleted = true;
  }
  EXPECT_TRUE(deleted);
  EXPECT_TRUE(not_ready_before_delete);
  EXPECT_TRUE(std::filesystem::exists(marker));  // the container got SIGTERM, not SIGKILL
  EXPECT_FALSE(pod_exists("graceful"));
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

// Rewrites the stored pod `name` (past the API server's validation, as a buggy or hostile
// writer could) with `edit`.
void edit_stored_pod(storage::Store& store, const std::string& name,
                     const std::function<void(json::object&)>& edit) {
  auto list = store.list("/");
  ASSERT_TRUE(list);
  for (const auto& kv : list->items) {
    auto v = json::parse(kv.value);
    if (PodTest::str(v, {"metadata", "name"}) != name || PodTest::str(v, {"kind"}) != "Pod") continue;
    edit(v.as_object());
    ASSERT_TRUE(store.update(kv.key, json::serialize(v), kv.mod_revision));
    return;
  }
  FAIL() << "no stored pod " << name;
}

// KEP-1669 as kubelet does it: a deleted pod keeps running its readiness probe through its grace
// period and stays Ready while the probe passes (its endpoints then read serving + terminating);
// once the probe fails it is not Ready; a shorter grace period from a second delete ends it.
TEST_F(PodTest, TerminatingPodStaysReadyWhileItsReadinessProbePasses) {
  start_manager();
  std::string flag = dir_.path() + "/ready-flag";
  write_file_atomic(flag, "1");
  // Ignores SIGTERM (and so does its sleep): it serves its whole grace period.
  auto c = container("app", {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"});
  c["readinessProbe"] = json::object{{"exec", {{"command", json::array{"test", "-f", flag}}}},
                                     {"periodSeconds", 1},
                                     {"failureThreshold", 1}};
  make_pod("draining", {c}, {{"terminationGracePeriodSeconds", 60}});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("draining"), "Ready") == "True"; }))
      << json::serialize(pod);
  PodStateStore store(state_);
  auto rec = store.load(str(pod, {"metadata", "uid"}));
  ASSERT_TRUE(rec);
  ProcessId pid = rec->containers.at("app").container;

  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/draining").status, 200);
  pod = get_pod("draining");
  ASSERT_FALSE(str(pod, {"metadata", "deletionTimestamp"}).empty()) << json::serialize(pod);
  // SIGTERM went out and was ignored: still running, still Ready, for as long as we look.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(500ms);
    pod = get_pod("draining");
    EXPECT_EQ(condition(pod, "Ready"), "True") << json::serialize(pod);
    EXPECT_TRUE(process_alive(pid));
  }
  const auto* cs = container_status(pod, "app");
  ASSERT_TRUE(cs);
  EXPECT_EQ(str(*cs, {"ready"}), "true");
  EXPECT_FALSE(str(*cs, {"state", "running", "startedAt"}).empty());

  // The readiness probe keeps running: its failure takes the pod out of Ready, still running.
  std::filesystem::remove(flag);
  EXPECT_TRUE(eventually([&] { return condition(pod = get_pod("draining"), "Ready") == "False"; }, 10s))
      << json::serialize(pod);
  EXPECT_TRUE(process_alive(pid));

  // A second delete with a shorter grace period: SIGKILL after it, then the pod goes.
  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/draining?gracePeriodSeconds=1").status, 200);
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 10s));
  EXPECT_TRUE(eventually([&] { return !pod_exists("draining"); }, 10s));
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

// A pod force-deleted from the API while terminating: kubelet's minimum grace (1 s), not the 60 s
// the pod asked for.
TEST_F(PodTest, ForceDeletedTerminatingPodIsKilledAtOnce) {
  start_manager();
  auto c = container("app", {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"});
  make_pod("stubborn", {c}, {{"terminationGracePeriodSeconds", 60}});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("stubborn"), "Ready") == "True"; }));
  auto uid = str(pod, {"metadata", "uid"});
  ProcessId pid = PodStateStore(state_).load(uid)->containers.at("app").container;
  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/stubborn").status, 200);
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(process_alive(pid)) << "SIGTERM is ignored: it runs into its grace period";
  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/stubborn?gracePeriodSeconds=0").status, 200);
  EXPECT_FALSE(pod_exists("stubborn"));
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(state_ + "/pods/" + uid); }));
}

// A pod the node cannot run (here written past the API server's validation) is reported on the pod
// as kubelet reports a bad container config, and nothing else suffers: the agent keeps running
// its other pods and starts new ones. Its deletion still completes.
TEST_F(PodTest, InvalidPodFromTheApiIsReportedAndTheNodeCarriesOn) {
  start_manager();
  make_pod("good", {container("app", {"/bin/sh", "-c", "exec sleep 1000"})});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("good"), "Ready") == "True"; }));

  // Bound elsewhere first, so this node sees it only once it is broken.
  make_pod("broken", {container("app", {"/bin/sh", "-c", "exec sleep 1000"})}, {{"nodeName", "elsewhere"}});
  edit_stored_pod(server_->store(), "broken", [](json::object& p) {
    auto& spec = p["spec"].as_object();
    spec["nodeName"] = "node1";
    spec["containers"].as_array()[0].as_object()["readinessProbe"] =
        json::object{{"tcpSocket", {{"port", "99999999999"}}}};
  });
  // And one whose uid would lead out of the state directory: not even reported, never run.
  make_pod("escape", {container("app", {"/bin/sh", "-c", "exec sleep 1000"})}, {{"nodeName", "elsewhere"}});
  edit_stored_pod(server_->store(), "escape", [](json::object& p) {
    p["metadata"].as_object()["uid"] = "../../escape";
    p["spec"].as_object()["nodeName"] = "node1";
  });

  const json::value* cs = nullptr;
  ASSERT_TRUE(eventually([&] {
    pod = get_pod("broken");
    cs = container_status(pod, "app");
    return cs && str(*cs, {"state", "waiting", "reason"}) == "CreateContainerConfigError";
  })) << json::serialize(pod);
  EXPECT_NE(str(*cs, {"state", "waiting", "message"})
                .find("spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: \"99999999999\""),
            std::string::npos)
      << json::serialize(pod);
  EXPECT_EQ(str(pod, {"status", "phase"}), "Pending");
  EXPECT_EQ(condition(pod, "Ready"), "False");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/escape"));

  // The node carries on: the good pod is untouched, a new one starts.
  EXPECT_EQ(condition(get_pod("good"), "Ready"), "True");
  make_pod("after", {container("app", {"/bin/sh", "-c", "exec sleep 1000"})});
  EXPECT_TRUE(eventually([&] { return condition(get_pod("after"), "Ready") == "True"; }));
  // The broken pod stays reported, not retried in a loop: its status does not move.
  auto rv = str(get_pod("broken"), {"metadata", "resourceVersion"});
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(str(get_pod("broken"), {"metadata", "resourceVersion"}), rv);

  // Graceful deletion of the broken pod completes (nothing runs, so nothing to wait for).
  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/broken").status, 200);
  EXPECT_TRUE(eventually([&] { return !pod_exists("broken"); }, 10s));
  for (const char* name : {"good", "after"})
    admin().del(std::string("/api/v1/namespaces/default/pods/") + name);
  edit_stored_pod(server_->store(), "escape",
                  [](json::object& p) { p["spec"].as_object()["nodeName"] = "gone"; });
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }, 20s));
}

TEST_F(PodTest, RestartedManagerReadoptsRunningContainer) {
  start_manager();
  auto c = container("server", {tool(), "serve", "8080", "x"});
  c["readinessProbe"] = tcp_readiness(8080);
  auto pod = make_pod("adopt", {c});
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("adopt"), "Ready") == "True"; }));
  auto uid = str(pod, {"metadata", "uid"});
  PodStateStore store(state_);
  auto before = store.load(uid);
  ASSERT_TRUE(before);
  ProcessId pid = before->containers.at("server").container;
  ASSERT_TRUE(process_alive(pid));
  // The container lives in the pod's mount namespace, the one bound at the recorded path.
  auto inode = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : ino_t{0};
  };
  ASSERT_FALSE(before->mntns.empty());
  EXPECT_EQ(inode("/proc/" + std::to_string(pid.pid) + "/ns/mnt"), inode(before->mntns));

  manager_.reset();  // the agent goes away; its containers do not
  EXPECT_TRUE(process_alive(pid));
  start_manager();
  std::this_thread::sleep_for(1500ms);
  auto after = store.load(uid);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->containers.at("server").container, pid);
  EXPECT_EQ(after->mntns, before->mntns);  // re-opened, not made anew
  EXPECT_EQ(inode("/proc/" + std::to_string(pid.pid) + "/ns/mnt"), inode(after->mntns));
  EXPECT_TRUE(process_alive(pid));
  pod = get_pod("adopt");
  EXPECT_EQ(condition(pod, "Ready"), "True");
  EXPECT_EQ(str(*container_status(pod, "server"), {"restartCount"}), "0");

  // Removed while no manager runs: the next one cleans it up on start.
  manager_.reset();
  admin().del("/api/v1/namespaces/default/pods/adopt");
  start_manager();
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }));
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(state_ + "/pods/" + uid); }));
  EXPECT_FALSE(std::filesystem::exists(before->mntns));
}

TEST_F(PodTest, HostNetworkPodUsesNodeIp) {
  start_manager();
  make_pod("hostnet", {container("app", {"/bin/sh", "-c", "exec sleep 1000"})}, {{"hostNetwork", true}});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("hostnet"), "Ready") == "True"; }))
      << json::serialize(pod);
  EXPECT_EQ(str(pod, {"status", "podIP"}), "192.0.2.10");
  admin().del("/api/v1/namespaces/default/pods/hostnet");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

TEST_F(PodTest, NeverRestartPolicySucceeds) {
  start_manager();
  make_pod("job", {container("once", {"/bin/sh", "-c", "echo done"})}, {{"restartPolicy", "Never"}});
  json::value pod;
  ASSERT_TRUE(eventually([&] {
    return str(pod = get_pod("job"), {"status", "phase"}) == "Succeeded";
  })) << json::serialize(pod);
  EXPECT_EQ(str(*container_status(pod, "once"), {"state", "terminated", "reason"}), "Completed");
  EXPECT_EQ(kubelet_get("/containerLogs/default/job/once"), "done\n");
  admin().del("/api/v1/namespaces/default/pods/job");
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

// The node's events, as kubelet records them: Created and Started per container (fieldPath naming
// it), Unhealthy per failed probe, Killing on deletion (written before the pod goes), Failed for a
// container that cannot be made (without retrying in a busy loop), BackOff for a crash loop.
TEST_F(PodTest, EventsAsKubeletRecordsThem) {
  start_manager();
  auto events = [&](const std::string& pod) {
    std::map<std::string, json::value> by_reason;
    auto list =
        admin().get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D" + pod).json();
    for (const auto& e : list.at("items").as_array()) by_reason[str(e, {"reason"})] = e;
    return by_reason;
  };
  std::string flag = dir_.path() + "/ready-flag";
  write_file_atomic(flag, "1");
  auto c = container("app", {"/bin/sh", "-c", "exec sleep 1000"});
  c["readinessProbe"] = json::object{{"exec", {{"command", json::array{"test", "-f", flag}}}},
                                     {"periodSeconds", 1},
                                     {"failureThreshold", 1}};
  auto pod = make_pod("life", {c});
  std::map<std::string, json::value> seen;
  ASSERT_TRUE(eventually([&] { return (seen = events("life")).contains("Started"); }));
  ASSERT_TRUE(seen.contains("Created"));
  EXPECT_EQ(str(seen["Created"], {"message"}), "Created container: app");
  EXPECT_EQ(str(seen["Started"], {"message"}), "Started container app");
  EXPECT_EQ(str(seen["Started"], {"type"}), "Normal");
  EXPECT_EQ(str(seen["Started"], {"involvedObject", "fieldPath"}), "spec.containers{app}");
  EXPECT_EQ(str(seen["Started"], {"involvedObject", "uid"}), str(pod, {"metadata", "uid"}));
  EXPECT_EQ(str(seen["Started"], {"source", "component"}), "kubelet");
  EXPECT_EQ(str(seen["Started"], {"source", "host"}), "node1");
  EXPECT_FALSE(seen.contains("Unhealthy"));

  std::filesystem::remove(flag);
  ASSERT_TRUE(eventually([&] { return (seen = events("life")).contains("Unhealthy"); }));
  EXPECT_EQ(str(seen["Unhealthy"], {"message"}), "Readiness probe failed: command exited with 1");
  EXPECT_EQ(str(seen["Unhealthy"], {"type"}), "Warning");
  // A probe failing every second is one event counted up (PATCH), not an event a second.
  auto count = [](const json::value& e) {
    std::string n = str(e, {"count"});
    return n.empty() ? 0 : std::stoi(n);
  };
  ASSERT_TRUE(eventually([&] { return count(events("life")["Unhealthy"]) >= 3; }, 10s));
  EXPECT_EQ(events("life").size(), 3u);

  admin().del("/api/v1/namespaces/default/pods/life");
  ASSERT_TRUE(eventually([&] { return !pod_exists("life"); }));
  seen = events("life");  // written before the pod was removed, or refused
  ASSERT_TRUE(seen.contains("Killing"));
  EXPECT_EQ(str(seen["Killing"], {"message"}), "Stopping container app");

  make_pod("nocmd", {container("app", {"no-such-binary-pn"})});
  ASSERT_TRUE(eventually([&] { return (seen = events("nocmd")).contains("Failed"); }));
  EXPECT_EQ(str(seen["Failed"], {"message"}), "Error: executable no-such-binary-pn not found on the node");
  std::this_thread::sleep_for(1s);  // 200 ms between tries in this fixture: a few, not thousands
  EXPECT_LE(count(events("nocmd")["Failed"]), 8);

  auto crash = make_pod("crash", {container("app", {"/bin/sh", "-c", "exit 3"})});
  ASSERT_TRUE(eventually([&] { return (seen = events("crash")).contains("BackOff"); }));
  EXPECT_EQ(str(seen["BackOff"], {"message"}),
            "Back-off restarting failed container app in pod crash_default(" +
                str(crash, {"metadata", "uid"}) + ")");
  for (const char* p : {"nocmd", "crash"}) admin().del(std::string("/api/v1/namespaces/default/pods/") + p);
  EXPECT_TRUE(eventually([&] { return manager_->pod_count() == 0; }));
}

}  // namespace podnet::runtime::testing
