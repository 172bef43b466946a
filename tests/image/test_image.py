"""The operator image, built from the Dockerfile on the locally bootstrapped base (kubemaker_dev.image)
and run the way the chart runs it: uid 10001, read-only root filesystem, every capability dropped, no
privilege escalation, only /tmp writable, the configuration mounted read-only. Host networking reaches
the local control plane and the SageMaker emulator on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import uuid

import pytest

from kubemaker_dev.image import DockerDaemon, ImageError, build_image, docker_daemon, save_image
from kubemaker_dev.ports import free_port
from tests.conftest import REPO_ROOT
from tests.e2e.chart import install_rbac, service_account_kubeconfig
from tests.e2e.conftest import OPERATOR_CREDENTIALS, crds  # noqa: F401 (crds: a fixture used here)
from tests.e2e.helpers import apply, condition, get, wait_for
from tests.unit.test_chart import one, render, rendered_config

pytestmark = pytest.mark.e2e

CHART_USER = "10001:10001"
RELEASE = "kubemaker-image"


@pytest.fixture(scope="module")
def daemon():
    try:
        with docker_daemon() as running:
            yield running
    except ImageError as error:
        pytest.fail(f"the image's container runtime did not start: {error}", pytrace=False)


@pytest.fixture(scope="module")
def image(daemon: DockerDaemon) -> str:
    try:
        return build_image(daemon)
    except ImageError as error:
        pytest.fail(f"building the image failed: {error}", pytrace=False)


def as_the_chart_runs_it(image: str, *arguments: str, mounts: dict[str, str] | None = None,
                         env: dict[str, str] | None = None, entrypoint: str | None = None,
                         name: str | None = None) -> list[str]:
    """`docker run` arguments with the chart's pod and container security context (values.yaml) and
    its only writable volume, the /tmp emptyDir (deployment.yaml)."""
    command = [
        "run", "--user", CHART_USER, "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--network", "host", "--tmpfs", "/tmp:size=64m",
    ]
    command += ["--name", name, "--detach"] if name else ["--rm"]
    for source, target in (mounts or {}).items():
        command += ["--volume", f"{source}:{target}:ro"]
    for key, value in (env or {}).items():
        command += ["--env", f"{key}={value}"]
    if entrypoint:
        command += ["--entrypoint", entrypoint]
    return [*command, image, *arguments]


def run_in_image(daemon: DockerDaemon, image: str, *arguments: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *as_the_chart_runs_it(image, *arguments, **options)], env=daemon.environment,
                          capture_output=True, text=True, timeout=120)


def test_kubemaker_run_help_works_as_the_chart_runs_it(daemon, image):
    result = run_in_image(daemon, image, "run", "--help")
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout


def test_the_image_holds_no_dev_package_no_installer_and_no_build_time_ca(daemon, image):
    for absent in ("kubemaker_dev", "kubemaker_emulator", "moto", "pytest", "pip", "setuptools"):
        result = run_in_image(daemon, image, "-c", f"import {absent}", entrypoint="python3")
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, f"{absent} is in the image"
    # The CAs a local build stage may trust (an intercepting proxy's) stay in that stage.
    result = run_in_image(daemon, image, "-c", "import os; print(os.listdir('/usr/local/share/ca-certificates'))",
                          entrypoint="python3")
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_runs_as_the_chart_user_with_only_tmp_writable(daemon, image):
    probe = (
        "import os, tempfile\n"
        "print(os.getuid(), os.getgid())\n"
        "tempfile.NamedTemporaryFile(dir='/tmp').close()\n"
        "for path in ('/opt/kubemaker', '/', '/etc'):\n"
        "    try:\n"
        "        open(os.path.join(path, 'probe'), 'w')\n"
        "    except OSError as error:\n"
        "        print(path, error.strerror)\n"
    )
    result = run_in_image(daemon, image, "-c", probe, entrypoint="python3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "10001 10001",
        "/opt/kubemaker Read-only file system",
        "/ Read-only file system",
        "/etc Read-only file system",
    ]


@pytest.fixture(scope="module")
def chart_objects(helm, emulator) -> list[dict]:
    """The chart rendered for a cluster-wide install against the emulator, on free loopback ports (host
    networking: the pod's ports are the host's)."""
    return render(helm, {
        "fullnameOverride": RELEASE,
        "aws": {"region": "us-east-1", "endpointUrl": emulator.url},
        "pollIntervalSeconds": 1,
        "livenessPort": free_port(),
        "metrics": {"port": free_port()},
    }, namespace=RELEASE)


@pytest.fixture(scope="module")
def containerised_operator(daemon, image, chart_objects, kubectl, helm, emulator, crds, tmp_path_factory):  # noqa: F811
    """`kubemaker run --config=/etc/kubemaker/config.yaml` in the image, with the chart's rendered
    configuration, as the chart's ServiceAccount (its RBAC applied with admin)."""
    workdir = tmp_path_factory.mktemp("image-operator")
    account = install_rbac(kubectl, helm, {"fullnameOverride": RELEASE}, namespace=RELEASE)
    login = service_account_kubeconfig(kubectl, account, RELEASE, workdir / "kubeconfig")
    # Readable by the operator's uid only, as a Secret volume with the chart's fsGroup would be.
    os.chown(login.kubeconfig, 10001, 10001)
    login.kubeconfig.chmod(0o400)
    config_dir = workdir / "config"
    config_dir.mkdir(mode=0o755)
    (config_dir / "config.yaml").write_text(one(chart_objects, "ConfigMap")["data"]["config.yaml"])
    (config_dir / "config.yaml").chmod(0o644)
    deployment = one(chart_objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    name = f"kubemaker-image-test-{uuid.uuid4().hex[:8]}"
    env = pod_environment(deployment["env"], pod_name=name, namespace=RELEASE)
    started = subprocess.run(
        ["docker", *as_the_chart_runs_it(
            image, *deployment["args"],
            mounts={str(config_dir): "/etc/kubemaker", str(login.kubeconfig): "/var/run/kubemaker/kubeconfig"},
            env={**env, **OPERATOR_CREDENTIALS, "KUBECONFIG": "/var/run/kubemaker/kubeconfig"},
            name=name,
        )],
        env=daemon.environment, capture_output=True, text=True, timeout=120,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield name
    finally:
        log_path = workdir / "operator.log"
        logs = subprocess.run(["docker", "logs", name], env=daemon.environment, capture_output=True, text=True)
        log_path.write_text(logs.stdout + logs.stderr)
        print(f"the containerised operator's log: {log_path}")
        daemon.docker("rm", "--force", name)


def pod_environment(variables: list[dict], pod_name: str, namespace: str) -> dict[str, str]:
    """The container's environment as the kubelet would set it, the downward API included."""
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace}
    environment = {}
    for variable in variables:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            field_path = variable["valueFrom"]["fieldRef"]["fieldPath"]
            assert field_path in fields, f"the chart sets {variable['name']} from {field_path}: add it here"
            environment[variable["name"]] = fields[field_path]
    return environment


def container_state(daemon: DockerDaemon, name: str) -> str:
    state = json.loads(daemon.docker("inspect", name).stdout)[0]["State"]
    if state["Running"]:
        return ""
    logs = subprocess.run(["docker", "logs", "--tail", "40", name], env=daemon.environment, capture_output=True,
                          text=True)
    return f"exited with {state['ExitCode']}:\n{logs.stdout}{logs.stderr}"


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_the_containerised_operator_reconciles_an_example_to_ready(
        daemon, containerised_operator, chart_objects, kubectl, namespace):
    name = containerised_operator
    config = rendered_config(chart_objects)

    def live() -> bool:
        assert not (failure := container_state(daemon, name)), f"the operator container {failure}"
        try:
            return http_get(f"http://127.0.0.1:{config['livenessPort']}/healthz") is not None
        except OSError:
            return False

    wait_for(live, timeout=90, what="the containerised operator's /healthz")
    apply(kubectl, (REPO_ROOT / "examples" / "trainingjob-spot.yaml").read_text(), namespace=namespace)

    def ready() -> dict:
        assert not (failure := container_state(daemon, name)), f"the operator container {failure}"
        job = get(kubectl, "trainingjob", namespace, "xgboost-spot")
        found = condition(job, "Ready")
        return job if found.get("status") == "True" and found.get("observedGeneration") == job["metadata"]["generation"] else {}

    job = wait_for(ready, timeout=180, interval=1, what=lambda: get(kubectl, "trainingjob", namespace, "xgboost-spot").get("status"))
    assert job["status"]["trainingJobStatus"] == "Completed"
    metrics = http_get(f"http://127.0.0.1:{config['metricsPort']}/metrics")
    assert "kubemaker_" in metrics


def test_the_docker_archive_imports_into_containerd(daemon, image, tmp_path):
    """save_image's archive is what the node's containerd imports (`ctr -n k8s.io images import`); the
    image daemon's own containerd reads it the same way."""
    archive = save_image(image, tmp_path / "image.tar")
    namespace = f"kubemaker-image-test-{uuid.uuid4().hex[:6]}"
    ctr = [shutil.which("ctr") or "ctr", "--address", str(daemon.containerd_socket), "--namespace", namespace]
    try:
        result = subprocess.run([*ctr, "images", "import", str(archive)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        listed = subprocess.run([*ctr, "images", "list", "--quiet"], capture_output=True, text=True, timeout=60)
        assert f"docker.io/library/{image}" in listed.stdout.split()
    finally:
        for reference in subprocess.run([*ctr, "images", "list", "--quiet"], capture_output=True,
                                        text=True).stdout.split():
            subprocess.run([*ctr, "images", "remove", "--sync", reference], capture_output=True)
        subprocess.run([*ctr, "namespaces", "remove", namespace], capture_output=True)
