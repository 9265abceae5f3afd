#!/usr/bin/python3
"""Debian's python3-kubernetes client against the real `podnet server` binary.

The basics a Python program does (list/get/create/patch/delete of namespaces, services, pods and
nodes, a watch through kubernetes.watch.Watch) and the refusals it must see as ApiException carrying
kube's Status body (403 for a node credential doing an admin's job, 422 for an invalid object, 404,
409).

Usage: python_client_test.py PODNET_BINARY   (run by ctest; exit code 77 = skipped)
Runs with Debian's /usr/bin/python3, where the python3-kubernetes package installs the module.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SKIP = 77

try:
    import kubernetes
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException
except ImportError as e:
    print(f"SKIPPED: the kubernetes Python module is missing ({e}); install Debian's python3-kubernetes "
          "(scripts/install-deps.sh --runtime-tests)")
    sys.exit(SKIP)

PODNET = None  # set from argv
SERVER = None  # the running ServerProcess


def die_with_parent():
    # The server must not outlive this script, even when ctest kills it on a timeout.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ServerProcess:
    """`podnet server --port 0` on a data directory of its own; the port comes from the kubeconfig."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pn-pyclient-", dir="/var/tmp")
        self.data = os.path.join(self.dir, "data")
        self.kubeconfig = os.path.join(self.data, "admin.kubeconfig")
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([PODNET, "server", "--data-dir", self.data, "--port", "0"],
                                     stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"podnet server exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with open(self.kubeconfig) as f:
                    if re.search(r"server: https://127\.0\.0\.1:\d+", f.read()):
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise RuntimeError("podnet server did not write its kubeconfig in 20 s:\n" + self.log_text())

    def node_kubeconfig(self, node):
        out = os.path.join(self.dir, node + ".kubeconfig")
        subprocess.run([PODNET, "server", "--data-dir", self.data, "--issue-node-credential", node, "--out", out],
                       check=True, capture_output=True, timeout=30)
        return out

    def log_text(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def api_client(kubeconfig):
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return client.ApiClient(cfg)


def close(api):
    api.close()
    api.rest_client.pool_manager.clear()  # ApiClient.close leaves urllib3's sockets open


def setUpModule():
    global SERVER
    SERVER = ServerProcess()


def tearDownModule():
    if SERVER:
        SERVER.stop()


def pod(name, labels=None):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]))


class PythonClientTest(unittest.TestCase):

    def setUp(self):
        self.api = api_client(SERVER.kubeconfig)
        self.core = client.CoreV1Api(self.api)

    def tearDown(self):
        close(self.api)

    def namespace(self, name):
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def assertStatus(self, exc, code, reason):
        """An ApiException carrying kube's meta/v1 Status body."""
        self.assertEqual(exc.status, code, exc.body)
        body = json.loads(exc.body)
        self.assertEqual(body["kind"], "Status", exc.body)
        self.assertEqual(body["apiVersion"], "v1", exc.body)
        self.assertEqual(body["status"], "Failure", exc.body)
        self.assertEqual(body["code"], code, exc.body)
        self.assertEqual(body["reason"], reason, exc.body)
        self.assertTrue(body["message"], exc.body)
        return body

    def test_namespaces(self):
        self.namespace("py-ns")
        got = self.core.read_namespace("py-ns")
        self.assertEqual(got.metadata.name, "py-ns")
        self.assertEqual(got.status.phase, "Active")
        self.assertIn("py-ns", [n.metadata.name for n in self.core.list_namespace().items])
        patched = self.core.patch_namespace("py-ns", {"metadata": {"labels": {"team": "a"}}})
        self.assertEqual(patched.metadata.labels["team"], "a")
        listed = self.core.list_namespace(label_selector="team=a")
        self.assertEqual([n.metadata.name for n in listed.items], ["py-ns"])
        self.core.delete_namespace("py-ns")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                phase = self.core.read_namespace("py-ns").status.phase
                self.assertEqual(phase, "Terminating")
            except ApiException as e:
                self.assertStatus(e, 404, "NotFound")
                return
            time.sleep(0.1)
        self.fail("namespace py-ns was not removed within 15 s")

    def test_services(self):
        ns = self.namespace("py-svc")
        svc = client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(selector={"app": "web"},
                                      ports=[client.V1ServicePort(name="http", port=80, target_port=8080)]))
        created = self.core.create_namespaced_service(ns, svc)
        self.assertTrue(created.spec.cluster_ip)
        self.assertEqual(created.spec.ports[0].protocol, "TCP")
        self.assertEqual(created.spec.ports[0].target_port, 8080)
        got = self.core.read_namespaced_service("web", ns)
        self.assertEqual(got.spec.cluster_ip, created.spec.cluster_ip)
        # A dict body is sent as a strategic merge patch: ports merge by port (and with two ports,
        # each needs a name, as kube says).
        patched = self.core.patch_namespaced_service(
            "web", ns, {"spec": {"ports": [{"port": 443, "targetPort": 8443, "name": "https"}]}})
        self.assertEqual(sorted(p.port for p in patched.spec.ports), [80, 443], patched.spec.ports)
        self.assertEqual([s.metadata.name for s in self.core.list_namespaced_service(ns).items], ["web"])
        self.core.delete_namespaced_service("web", ns)
        with self.assertRaises(ApiException) as ctx:
            self.core.read_namespaced_service("web", ns)
        self.assertStatus(ctx.exception, 404, "NotFound")

    def test_pods(self):
        ns = self.namespace("py-pods")
        self.core.create_namespaced_pod(ns, pod("web-1", {"app": "web"}))
        self.core.create_namespaced_pod(ns, pod("db-1", {"app": "db"}))
        got = self.core.read_namespaced_pod("web-1", ns)
        self.assertEqual(got.spec.containers[0].image, "nginx")
        self.assertEqual(got.status.phase, "Pending")
        web = self.core.list_namespaced_pod(ns, label_selector="app=web")
        self.assertEqual([p.metadata.name for p in web.items], ["web-1"])
        everywhere = self.core.list_pod_for_all_namespaces(field_selector="metadata.namespace=" + ns)
        self.assertEqual(sorted(p.metadata.name for p in everywhere.items), ["db-1", "web-1"])
        patched = self.core.patch_namespaced_pod("web-1", ns, {"metadata": {"labels": {"tier": "fe"}}})
        self.assertEqual(patched.metadata.labels, {"app": "web", "tier": "fe"})
        self.core.delete_namespaced_pod("db-1", ns, grace_period_seconds=0)
        with self.assertRaises(ApiException) as ctx:
            self.core.read_namespaced_pod("db-1", ns)
        self.assertStatus(ctx.exception, 404, "NotFound")

    def test_nodes_with_node_info(self):
        self.core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="py-node1")))
        # The node's own credential posts its status, as an agent does.
        node_api = api_client(SERVER.node_kubeconfig("py-node1"))
        try:
            info = {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1.0",
                    "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "podnet://0.1.0",
                    "kubeletVersion": "v1.32.0+podnet-0.1.0", "kubeProxyVersion": "",
                    "operatingSystem": "linux", "architecture": "amd64"}
            client.CoreV1Api(node_api).patch_node_status("py-node1", {"status": {"nodeInfo": info}})
        finally:
            close(node_api)
        # Deserializing a Node checks every required nodeInfo field is present.
        nodes = {n.metadata.name: n for n in self.core.list_node().items}
        self.assertIn("py-node1", nodes)
        self.assertEqual(nodes["py-node1"].status.node_info.kubelet_version, "v1.32.0+podnet-0.1.0")
        self.assertEqual(self.core.read_node("py-node1").status.node_info.os_image, info["osImage"])
        patched = self.core.patch_node("py-node1", {"spec": {"unschedulable": True}})
        self.assertTrue(patched.spec.unschedulable)
        self.core.delete_node("py-node1")
        with self.assertRaises(ApiException) as ctx:
            self.core.read_node("py-node1")
        self.assertStatus(ctx.exception, 404, "NotFound")

    # Depends on kube's boolean query parsing: the client sends `watch=True`, which kube takes as
    # true (only absent, "0" and "false" in any case are false).
    def test_watch(self):
        ns = self.namespace("py-watch")
        rv = self.core.list_namespaced_pod(ns).metadata.resource_version
        errors = []

        def create_pods():
            try:
                for name in ("w1", "w2"):
                    self.core.create_namespaced_pod(ns, pod(name))
            except Exception as e:  # reported by the test, not lost in this thread
                errors.append(e)

        creator = threading.Timer(0.3, create_pods)
        creator.start()
        seen = []
        w = watch.Watch()
        try:
            for event in w.stream(self.core.list_namespaced_pod, namespace=ns, resource_version=rv,
                                  timeout_seconds=10):
                self.assertIsInstance(event["object"], client.V1Pod)
                seen.append((event["type"], event["object"].metadata.name))
                if ("ADDED", "w2") in seen:
                    w.stop()
        finally:
            creator.join()
        self.assertEqual(errors, [])
        self.assertTrue(seen, "no events: was watch=True answered with a plain list?")
        # Both creations in order; the scheduler may have updated w1 (MODIFIED) in between.
        self.assertEqual([name for kind, name in seen if kind == "ADDED"], ["w1", "w2"], seen)
        self.assertEqual({kind for kind, _ in seen} - {"ADDED", "MODIFIED"}, set(), seen)

    def test_node_credential_cannot_do_an_admins_job(self):
        node_api = api_client(SERVER.node_kubeconfig("py-node2"))
        try:
            with self.assertRaises(ApiException) as ctx:
                client.CoreV1Api(node_api).create_namespace(
                    client.V1Namespace(metadata=client.V1ObjectMeta(name="py-by-node")))
            body = self.assertStatus(ctx.exception, 403, "Forbidden")
            self.assertIn("system:node:py-node2", body["message"])
        finally:
            close(node_api)
        with self.assertRaises(ApiException):
            self.core.read_namespace("py-by-node")

    def test_invalid_objects_are_422(self):
        ns = self.namespace("py-invalid")
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_pod(ns, pod("Bad_Name"))
        body = self.assertStatus(ctx.exception, 422, "Invalid")
        self.assertEqual(body["details"]["kind"], "Pod")
        self.assertEqual(body["details"]["name"], "Bad_Name")
        self.assertTrue(any(c["field"] == "metadata.name" for c in body["details"]["causes"]), body)
        bad_port = client.V1Service(metadata=client.V1ObjectMeta(name="bad"),
                                    spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=70000)]))
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_service(ns, bad_port)
        self.assertStatus(ctx.exception, 422, "Invalid")

    def test_conflicts_are_409(self):
        ns = self.namespace("py-conflict")
        self.core.create_namespaced_pod(ns, pod("p"))
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_pod(ns, pod("p"))
        self.assertStatus(ctx.exception, 409, "AlreadyExists")


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: python_client_test.py PODNET_BINARY", file=sys.stderr)
        sys.exit(2)
    PODNET = sys.argv.pop(1)
    print(f"python3-kubernetes {kubernetes.__version__} on Python {sys.version.split()[0]}")
    unittest.main(verbosity=2)
