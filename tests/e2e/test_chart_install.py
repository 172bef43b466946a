"""The chart installed as a platform team would: its rendered manifests server-side applied to an empty
API server, then the operator started exactly as the Deployment starts it (`kubemaker run --config`
with the rendered ConfigMap's file) and with the chart's RBAC: it authenticates with a token of the
chart's ServiceAccount, not as admin. It must reconcile a TrainingJob to Ready with that alone.

A control plane of its own: the suite's operator watches every namespace of the shared one and
would race this one for the same objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from kubemaker_dev.controlplane import LocalControlPlane, terminate
from kubemaker_dev.ports import free_port
from tests.conftest import kubectl_for, run_kubectl
from tests.e2e.chart import permission_complaints, server_side_apply, service_account_kubeconfig
from tests.e2e.helpers import apply, condition, events_for, get, wait_for
from tests.e2e.test_trainingjob import training_job
from tests.unit.test_chart import one, render

RELEASE_NAMESPACE = "kubemaker-system"
TEST_ROLES = "arn:aws:iam::123456789012:role/SageMaker*"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    control_plane = LocalControlPlane(tmp_path_factory.mktemp("chart-cluster"))
    control_plane.start()
    yield control_plane
    control_plane.stop()


@pytest.fixture(scope="module")
def admin(cluster):
    kubectl = kubectl_for(str(cluster.kubeconfig_path))

    return kubectl


@pytest.fixture(scope="module")
def chart_crds(admin, helm) -> None:
    """What `helm install` does first: the chart's crds/, applied and established, once per cluster."""
    crds = [o for o in render(helm, include_crds=True) if o["kind"] == "CustomResourceDefinition"]
    server_side_apply(admin, crds)
    admin("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{crd['metadata']['name']}" for crd in crds])
    admin("create", "namespace", RELEASE_NAMESPACE)


def install(kubectl, helm, values: dict) -> list[dict]:
    """Then the templates (the caller holds `chart_crds`)."""
    objects = render(helm, values, namespace=RELEASE_NAMESPACE)
    for namespace in values.get("watchNamespaces", []):
        kubectl("create", "namespace", namespace, check=False)
    server_side_apply(kubectl, objects)
    return objects


class ChartOperator:
    """`kubemaker <the Deployment's args>`, with the rendered config file where the pod mounts it."""

    def __init__(self, objects: list[dict], workdir: Path, env: dict[str, str]):
        deployment = one(objects, "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        config_file = workdir / "config.yaml"
        config_file.write_text(one(objects, "ConfigMap")["data"]["config.yaml"])
        self.config = yaml.safe_load(config_file.read_text())
        mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
        self.args = [arg.replace(f"{mount}/config.yaml", str(config_file)) for arg in container["args"]]
        # The container's own environment, and nothing of ours that the operator would read as config.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBEMAKER_", "KUBECONFIG"))}
        # Literal values only: without a pod, the downward API's (POD_NAME) has nothing to name.
        literal = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        self.env = {**inherited, **literal, **env}
        self.log_path = workdir / "operator.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ChartOperator":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "kubemaker.cli", *self.args], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        healthz = f"http://127.0.0.1:{self.config['livenessPort']}/healthz"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the operator exited; see {self.log_path}:\n{self.log()}"
            try:
                with urllib.request.urlopen(healthz, timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise AssertionError(f"the operator did not become live; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            terminate(self.process.pid, lambda: self.process.poll() is not None, grace_seconds=15)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


INSTALLS = {
    "cluster-wide": {},
    # The leader election Lease stays in the release's namespace, which is not a watched one.
    "namespace-scoped": {"watchNamespaces": ["team-a", "team-b"]},
}


@pytest.mark.parametrize("install_mode", list(INSTALLS))
def test_operator_with_the_charts_config_and_rbac_reconciles_a_training_job(
    install_mode, admin, helm, chart_crds, emulator, tmp_path
):
    values = {
        **INSTALLS[install_mode],
        "fullnameOverride": f"kubemaker-{install_mode}",
        "aws": {"region": "us-east-1", "endpointUrl": emulator.url},
        "defaultNamespacePolicy": {"allowedRoleArns": [TEST_ROLES]},
        "pollIntervalSeconds": 0.5,
        "logFormat": "json",
        "livenessPort": free_port(),
        "metrics": {"port": free_port()},
    }
    objects = install(admin, helm, values)
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    login = service_account_kubeconfig(admin, account, RELEASE_NAMESPACE, tmp_path / "kubeconfig")
    whoami = json.loads(run_kubectl(str(login.kubeconfig), "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == login.username

    namespace = values.get("watchNamespaces", ["ml-team"])[0]
    admin("create", "namespace", namespace, check=False)
    operator = ChartOperator(objects, tmp_path, {
        "KUBECONFIG": str(login.kubeconfig),
        # Credentials only: region and endpoint come from the rendered configuration.
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    })
    operator.start()
    try:
        name = f"chart-{install_mode}"
        apply(admin, training_job(name), namespace)
        obj = wait_for(lambda: condition(o := get(admin, "trainingjob", namespace, name), "Ready").get("status")
                       == "True" and o, timeout=90, what=f"Ready; operator log: {operator.log_path}")
        assert obj["status"]["trainingJobStatus"] == "Completed"
        assert "sagemaker.kubemaker.io/cleanup" in obj["metadata"]["finalizers"]
        assert "Created" in [event["reason"] for event in events_for(admin, namespace, name)]
        lease = get(admin, "lease", RELEASE_NAMESPACE, values["fullnameOverride"])["spec"]
        assert lease["holderIdentity"], "the operator leads through the Lease the chart names and grants"
        admin("delete", "trainingjob", name, "-n", namespace, "--timeout=60s")
    finally:
        operator.stop()
    complaints = permission_complaints(operator.log())
    assert not complaints, "the chart's RBAC lacks something the operator uses:\n" + "\n".join(complaints[:10])


def test_service_account_can_do_nothing_beyond_its_job(admin, helm, chart_crds):
    values = {"fullnameOverride": "kubemaker-scoped", "watchNamespaces": ["scoped-a"]}
    objects = install(admin, helm, values)
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    subject = f"system:serviceaccount:{RELEASE_NAMESPACE}:{account}"

    def can(verb: str, resource: str, namespace: str | None = None) -> bool:
        scope = ["-n", namespace] if namespace else []
        result = admin("auth", "can-i", verb, resource, "--as", subject, *scope, check=False)
        return result.stdout.strip() == "yes"

    assert can("patch", "trainingjobs.sagemaker.kubemaker.io", "scoped-a")
    assert can("patch", "endpoints.sagemaker.kubemaker.io/status", "scoped-a")
    assert can("create", "events", "scoped-a")
    assert can("get", "configmaps", "scoped-a")
    assert can("watch", "customresourcedefinitions.apiextensions.k8s.io")
    # Outside its namespaces, and beyond what it uses, nothing.
    assert not can("patch", "trainingjobs.sagemaker.kubemaker.io", "default")
    assert not can("create", "trainingjobs.sagemaker.kubemaker.io", "scoped-a")
    assert not can("delete", "models.sagemaker.kubemaker.io", "scoped-a")
    assert not can("list", "configmaps", "scoped-a")
    assert not can("get", "secrets", "scoped-a")
    assert not can("create", "pods", "scoped-a")
    # Leader election: its own Lease in its own namespace, no other.
    assert can("create", "leases.coordination.k8s.io", RELEASE_NAMESPACE)
    assert can("update", "leases.coordination.k8s.io/kubemaker-scoped", RELEASE_NAMESPACE)
    assert not can("update", "leases.coordination.k8s.io/kube-scheduler", RELEASE_NAMESPACE)
    assert not can("list", "leases.coordination.k8s.io", RELEASE_NAMESPACE)
    assert not can("create", "leases.coordination.k8s.io", "kube-system")


def test_aggregated_roles_let_namespace_editors_use_our_kinds(admin, helm, chart_crds):
    install(admin, helm, {"fullnameOverride": "kubemaker-roles"})
    # The built-in edit/view roles are bootstrapped by the API server with aggregation labels; the
    # aggregation controller lives in the controller-manager, which the local control plane has not, so
    # check the selectors the chart's labels must match instead of the aggregated result.
    for role, ours in (("edit", "kubemaker-roles-edit"), ("view", "kubemaker-roles-view")):
        builtin = json.loads(admin("get", "clusterrole", role, "-o", "json").stdout)
        labels = json.loads(admin("get", "clusterrole", ours, "-o", "json").stdout)["metadata"]["labels"]
        selectors = builtin["aggregationRule"]["clusterRoleSelectors"]
        assert any(selector["matchLabels"].items() <= labels.items() for selector in selectors), (role, labels)
