"""The local node: Ready under its own identity, and a Deployment's pods scheduled, run and replaced
by the real controllers, scheduler and kubelet."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from kubemaker_dev.node import CONTAINERD, LocalNode, NodeError, nth_node
from kubemaker_dev.pauseimage import pause_image_ref
from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.e2e


def test_nodes_are_ready_with_the_pinned_kubelet_and_containerd(nodes, node_kubectl):
    print(node_kubectl("get", "nodes", "-o", "wide").stdout)
    listed = json.loads(node_kubectl("get", "nodes", "-o", "json").stdout)["items"]
    items = {item["metadata"]["name"]: item for item in listed}
    assert set(items) == {node.name for node in nodes}
    go_mod = (CONTAINERD.source_dir / "go.mod").read_text()
    containerd_version = next(line.split()[-1] for line in go_mod.splitlines() if "containerd/containerd/v2 " in line)
    for node in nodes:
        item = items[node.name]
        ready = next(c for c in item["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready
        info = item["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.37.2"
        assert info["containerRuntimeVersion"].startswith(f"containerd://{containerd_version.lstrip('v')}")
        assert {"type": "InternalIP", "address": node.ip} in item["status"]["addresses"]


def test_kubelet_is_held_to_its_own_node(node, node_kubectl):
    kubelet = ["--kubeconfig", str(node.workdir / "kubelet.kubeconfig")]
    whoami = json.loads(node_kubectl(*kubelet, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["username"] == f"system:node:{node.name}"
    assert "system:nodes" in whoami["groups"]
    # The Node authorizer: Secrets only of pods bound to it, never a list of them.
    secrets = node_kubectl(*kubelet, "auth", "can-i", "list", "secrets", "--all-namespaces", check=False)
    assert secrets.stdout.startswith("no - node:"), secrets  # the Node authorizer's own reason
    # NodeRestriction: not even its own node may give itself a role label.
    label = node_kubectl(*kubelet, "label", "node", node.name, "node-role.kubernetes.io/control-plane=", check=False)
    assert label.returncode != 0 and "node-role.kubernetes.io" in label.stderr, label


def test_deployment_of_host_network_pods_becomes_available(nodes, node_kubectl):
    namespace = f"node-{uuid.uuid4().hex[:6]}"
    node_kubectl("create", "namespace", namespace)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pause", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "pause"}},
            "template": {
                "metadata": {"labels": {"app": "pause"}},
                "spec": {
                    "hostNetwork": True,
                    "containers": [{"name": "pause", "image": pause_image_ref(), "imagePullPolicy": "Never"}],
                },
            },
        },
    }
    node_kubectl("apply", "-f", "-", input=json.dumps(deployment))
    node_kubectl("-n", namespace, "wait", "deployment/pause", "--for=condition=Available", "--timeout=90s")

    pods = json.loads(node_kubectl("-n", namespace, "get", "pods", "-l", "app=pause", "-o", "json").stdout)["items"]
    assert len(pods) == 2
    addresses = {node.name: node.ip for node in nodes}
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"] == addresses[pod["spec"]["nodeName"]]  # the host's network
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    events = json.loads(node_kubectl("-n", namespace, "get", "events", "-o", "json").stdout)["items"]
    scheduled = [event for event in events if event["reason"] == "Scheduled"]
    scheduled_by = {event.get("reportingComponent") or event["source"].get("component") for event in scheduled}
    assert scheduled_by == {"default-scheduler"}, events
    # The API server reaches the kubelet (logs, exec): the pause container writes nothing.
    node_kubectl("-n", namespace, "logs", pods[0]["metadata"]["name"])

    # A deleted pod is replaced by its ReplicaSet; a deleted namespace finishes deleting.
    node_kubectl("-n", namespace, "delete", "pod", pods[0]["metadata"]["name"], "--wait=true")
    node_kubectl("-n", namespace, "wait", "deployment/pause", "--for=condition=Available", "--timeout=90s")

    def replaced() -> bool:
        names = node_kubectl("-n", namespace, "get", "pods", "-l", "app=pause", "-o", "name").stdout.split()
        return len(names) == 2 and f"pod/{pods[0]['metadata']['name']}" not in names

    wait_for(replaced, timeout=60)
    node_kubectl("delete", "namespace", namespace, "--timeout=90s")


class NodeWithoutRuntime(LocalNode):
    """A node whose kubelet is pointed at a socket nobody serves."""

    def _kubelet_config(self, serving, kubelet_dir):
        config = super()._kubelet_config(serving, kubelet_dir)
        return {**config, "containerRuntimeEndpoint": "unix:///nonexistent.sock"}


def test_a_node_that_cannot_start_fails_with_the_kubelets_own_log(nodes, tmp_path_factory):
    name, ip = nth_node(len(nodes))
    broken = NodeWithoutRuntime(nodes[0].control_plane, tmp_path_factory.mktemp("broken"), name=name, ip=ip)
    with pytest.raises(NodeError) as failure:
        broken.start()
    message = str(failure.value)
    assert "kubelet exited" in message
    # The kubelet's own last words, from its log.
    assert 'validate CRI v1 runtime API for endpoint \\"unix:///nonexistent.sock\\"' in message
    # Stopped on the way out: its address is no longer on lo.
    addresses = subprocess.run(["ip", "-o", "address", "show", "dev", "lo"], capture_output=True, text=True).stdout
    assert f" {ip}/" not in addresses
