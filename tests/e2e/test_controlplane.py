"""The local control plane is a real Kubernetes API server: CRDs, custom objects, watches, RBAC."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import yaml

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.controlplane.test.kubemaker.io"},
    "spec": {
        "group": "controlplane.test.kubemaker.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                                "x-kubernetes-validations": [
                                    {"rule": "self.size <= 10", "message": "size must be at most 10"}
                                ],
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def widget(namespace: str, size: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "controlplane.test.kubemaker.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": namespace},
            "spec": {"size": size},
        }
    )


def test_server_reports_the_pinned_version(kubectl):
    version = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert version["gitVersion"].startswith("v1.")
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_crd_object_and_watch(kubectl, kubeconfig, namespace):
    kubectl("apply", "-f", "-", input=yaml.safe_dump(WIDGET_CRD))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.controlplane.test.kubemaker.io")

    kubectl("apply", "-f", "-", input=widget(namespace, 2))

    watch = subprocess.Popen(
        ["kubectl", f"--kubeconfig={kubeconfig}", "-n", namespace, "get", "widgets", "--watch", "-o",
         "jsonpath={.spec.size}{\"\\n\"}"],
        stdout=subprocess.PIPE, text=True,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(line.strip() for line in watch.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while "2" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
        kubectl("apply", "-f", "-", input=widget(namespace, 5))
        while "5" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watch.terminate()
        watch.wait()
    assert seen[:1] == ["2"] and "5" in seen, seen

    refused = kubectl("apply", "-f", "-", input=widget(namespace, 11), check=False)
    assert refused.returncode != 0
    assert "size must be at most 10" in refused.stderr
