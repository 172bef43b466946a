"""Every manifest in examples/, applied as a user would (`kubectl apply -f examples/`), reconciled by
the operator until each object is Ready: the examples are the documentation, so they must work."""

from __future__ import annotations

import json

import yaml

from tests.conftest import REPO_ROOT
from tests.e2e.helpers import wait_for


def unsettled(kubectl, namespace: str) -> list[str]:
    items = json.loads(kubectl("get", "sagemaker", "-n", namespace, "-o", "json").stdout)["items"]
    pending = []
    for item in items:
        conditions = {c["type"]: c for c in (item.get("status") or {}).get("conditions") or []}
        ready = conditions.get("Ready", {})
        if ready.get("status") != "True" or ready.get("observedGeneration") != item["metadata"]["generation"]:
            pending.append(f"{item['kind']}/{item['metadata']['name']}: {ready.get('reason')} {ready.get('message')}")
    return pending if items else ["nothing applied"]


def test_every_example_becomes_ready(operator, emulator, kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", str(REPO_ROOT / "examples"))
    applied = json.loads(kubectl("get", "sagemaker", "-n", namespace, "-o", "json").stdout)["items"]
    ours = [doc for path in sorted((REPO_ROOT / "examples").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc and doc["apiVersion"].startswith("sagemaker.")]
    assert len(applied) == len(ours)
    wait_for(lambda: not unsettled(kubectl, namespace), timeout=240, interval=2,
             what=lambda: unsettled(kubectl, namespace))
