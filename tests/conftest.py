"""Shared fixtures: the real local control plane and the SageMaker emulator, started once per session.

Set E2E_KUBECONFIG to run the e2e suite against an existing cluster (kind, k3d, EKS) instead of the
local control plane.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubemaker_dev.kubectl import KubectlError, run_kubectl

# How long a test's teardown waits for its objects' deletion (cleanup in SageMaker included).
LEFTOVER_DELETE_SECONDS = 30

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """The local control plane, or None when E2E_KUBECONFIG names an existing cluster."""
    if os.environ.get("E2E_KUBECONFIG"):
        yield None
        return
    from kubemaker_dev.controlplane import ControlPlaneError, LocalControlPlane

    local = LocalControlPlane(tmp_path_factory.mktemp("controlplane"))
    try:
        local.start()
    except ControlPlaneError as error:
        pytest.fail(f"local control plane did not start: {error}", pytrace=False)
    yield local
    local.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane) -> str:
    return os.environ.get("E2E_KUBECONFIG") or str(control_plane.kubeconfig_path)


def kubectl_for(kubeconfig: str):
    """kubectl(*args, input=None, check=True) with this kubeconfig, capturing text output; a failure
    is a test failure with kubectl's own message."""

    def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        try:
            return run_kubectl(kubeconfig, *args, input=input, check=check)
        except KubectlError as error:
            raise AssertionError(str(error)) from None

    return kubectl


@pytest.fixture(scope="session")
def kubectl(kubeconfig):
    """kubectl against the test cluster, as admin."""
    return kubectl_for(kubeconfig)


@pytest.fixture
def namespace(kubectl, request) -> Iterator[str]:
    # Without a controller-manager namespaces never finish deleting, so every test gets a new one.
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    # What a test leaves behind is deleted before the next test starts: left running, it would keep
    # the shared operator polling (every model package group is a listing per poll, every monitoring
    # schedule runs on the clock) and add its calls to the counts the next tests assert on.
    kubectl("delete", "sagemaker", "--all", "-n", name, "--wait=true", f"--timeout={LEFTOVER_DELETE_SECONDS}s",
            check=False)


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary, built once from its Go module like kube-apiserver: the chart tests render with it
    and the e2e operator runs under the RBAC it renders."""
    from kubemaker_dev.binaries import HELM, ensure_built

    return ensure_built(HELM)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    from kubemaker_emulator.process import start_emulator

    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    process = start_emulator(profile="fast", log_path=log_path)
    yield process
    process.stop()


def pytest_collection_modifyitems(items):
    e2e_dir = REPO_ROOT / "tests" / "e2e"
    for item in items:
        if e2e_dir in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
    # Scans of what the whole session left behind run after everything else.
    items.sort(key=lambda item: item.get_closest_marker("after_everything") is not None)
