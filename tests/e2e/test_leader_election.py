"""Two operator processes, one Lease: exactly one leads (reconciles, calls SageMaker), the other stands
by with its watches warm; SIGTERM hands the Lease over at once, SIGKILL after it expires, and a
leader cut off from the API server stops before the Lease can expire for the standby.

A control plane and an emulator of their own: the suite's operator watches every namespace of the
shared control plane and would reconcile these objects too, and its SageMaker calls would count
in the emulator's. Both operators run as the chart's ServiceAccount, with the chart's RBAC (its
lease Role included) and the default timings (lease 15 s, renew deadline 10 s, retry 2 s). Failover
times are printed (`pytest -s`) and recorded as test properties; no test asserts a duration.
"""

from __future__ import annotations

import re
import select
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from kubemaker_dev.controlplane import LocalControlPlane
from kubemaker_dev.operatorprocess import OperatorProcess
from kubemaker_dev.ports import free_port
from kubemaker_emulator.process import start_emulator
from tests.conftest import REPO_ROOT, kubectl_for
from tests.e2e.chart import install_rbac, permission_complaints, service_account_kubeconfig
from tests.e2e.helpers import apply, get, wait_for
from tests.e2e.test_trainingjob import ROLE, ready, sagemaker_jobs, training_job

RELEASE = "kubemaker-ha"  # the chart's fullname: its lease Role allows the Lease of this name only
LEASE_DURATION_SECONDS = 15


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    control_plane = LocalControlPlane(tmp_path_factory.mktemp("ha-cluster"))
    control_plane.start()
    yield control_plane
    control_plane.stop()


@pytest.fixture(scope="module")
def admin(cluster):
    kubectl = kubectl_for(str(cluster.kubeconfig_path))

    kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    return kubectl


@pytest.fixture(scope="module")
def ha_emulator(tmp_path_factory):
    process = start_emulator(profile="fast", log_path=tmp_path_factory.mktemp("ha-emulator") / "emulator.log")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def account_kubeconfig(admin, helm, tmp_path_factory) -> Path:
    account = install_rbac(admin, helm, {"fullnameOverride": RELEASE}, namespace=RELEASE)
    path = tmp_path_factory.mktemp("ha-account") / "kubeconfig"
    return service_account_kubeconfig(admin, account, RELEASE, path).kubeconfig


@pytest.fixture
def ns(admin, request) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    admin("create", "namespace", name)
    return name


@pytest.fixture
def replicas(ha_emulator, account_kubeconfig, tmp_path):
    """start(name, kubeconfig=None) -> a running `kubemaker run` whose identity starts with `name`
    (POD_NAME, as the chart sets it). Every replica is stopped at the end, and none may have been
    refused anything by the chart's RBAC."""
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        "defaultNamespacePolicy": {"allowedRoleArns": [ROLE]},
        "leaderElection": {"leaseName": RELEASE, "leaseNamespace": RELEASE},
    }))
    started: list[OperatorProcess] = []

    def start(name: str, kubeconfig: Path | None = None) -> OperatorProcess:
        environment = {**ha_emulator.aws_environment(), "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "KUBECONFIG": str(kubeconfig or account_kubeconfig),
                       "POD_NAME": name}
        process = OperatorProcess(environment, tmp_path / f"{name}.log", config_path, poll_interval=0.5)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
    for process in started:
        complaints = permission_complaints(process.log_path.read_text(errors="replace"))
        assert not complaints, f"the chart's RBAC lacks something {process.log_path.stem} uses:\n" + "\n".join(complaints[:5])


def metric(process: OperatorProcess, name: str) -> float:
    """The sum of every series of `name` the process serves (0 when it has none yet)."""
    series = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for _, value in series.findall(process.metrics()))


def leads(process: OperatorProcess) -> bool:
    return process.process.poll() is None and metric(process, "kubemaker_leader") == 1


def lease(admin) -> dict:
    return get(admin, "lease", RELEASE, RELEASE)["spec"]


def log_of(process: OperatorProcess) -> str:
    return process.log_path.read_text(errors="replace")


def first_reconcile(process: OperatorProcess, since: float, timeout: float = 60) -> float:
    """Seconds from `since` until `process` has made its first reconciliation pass."""
    wait_for(lambda: metric(process, "controller_runtime_reconcile_total") > 0, timeout=timeout, interval=0.1,
             what=f"a first reconcile by {process.log_path.stem}; its log: {process.log_path}")
    return time.monotonic() - since


def report(record_property, what: str, seconds: float) -> None:
    record_property(what, round(seconds, 2))
    print(f"\n{what}: {seconds:.2f} s")


def test_one_leader_reconciles_and_the_standby_never_calls_sagemaker(admin, replicas, ha_emulator, ns):
    ha_emulator.control.reset_call_counts()  # no operator runs between tests
    first = replicas("operator-a")
    wait_for(lambda: leads(first), timeout=30, what="operator-a leading")
    second = replicas("operator-b")
    for i in range(3):
        apply(admin, training_job(f"job-{i}"), ns)
    for i in range(3):
        wait_for(lambda: ready(admin, ns, f"job-{i}"), timeout=90, what=f"job-{i} Ready")

    holder = lease(admin)["holderIdentity"]
    assert holder.startswith("operator-a_"), holder  # `kubectl get lease` shows who leads
    assert "became leader" in log_of(first) and "became leader" not in log_of(second)
    assert metric(first, "kubemaker_leader_transitions_total") == 1  # acquired, once
    # The standby watched everything and did nothing: no pass, no SageMaker call.
    assert metric(second, "kubemaker_leader") == 0 and metric(second, "kubemaker_leader_transitions_total") == 0
    assert metric(second, "controller_runtime_reconcile_total") == 0
    assert metric(second, "kubemaker_aws_api_calls_total") == 0
    # Every SageMaker call the emulator saw was the leader's: read it first, the leader's count after.
    emulator_calls = sum(sum(ops.values()) for ops in ha_emulator.control.call_counts()["calls"].values())
    assert 0 < emulator_calls <= metric(first, "kubemaker_aws_api_calls_total")
    # The standby is live: its liveness probe passes.
    with urllib.request.urlopen(f"http://127.0.0.1:{second.liveness_port}/healthz", timeout=5) as response:
        assert response.status == 200


def test_sigterm_hands_the_lease_over_and_the_standby_reconciles_at_once(admin, replicas, ns, record_property):
    first = replicas("operator-a")
    wait_for(lambda: leads(first), timeout=30, what="operator-a leading")
    second = replicas("operator-b")
    apply(admin, training_job("before"), ns)
    wait_for(lambda: ready(admin, ns, "before"), timeout=90, what="before Ready")
    transitions = lease(admin).get("leaseTransitions", 0)

    stopped = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    failover = first_reconcile(second, stopped)
    assert first.process.wait(timeout=30) == 0
    report(record_property, "failover after SIGTERM (leader stopped -> first reconcile by the new leader)", failover)

    assert "released lease" in log_of(first)
    # Taken because it was free, not because it expired: the standby never waited out the lease.
    assert "became leader" in log_of(second) and "took over from" not in log_of(second)
    spec = lease(admin)
    assert spec["holderIdentity"].startswith("operator-b_") and spec["leaseTransitions"] == transitions + 1
    assert spec["leaseDurationSeconds"] == LEASE_DURATION_SECONDS
    apply(admin, training_job("after"), ns)
    wait_for(lambda: ready(admin, ns, "after"), timeout=90, what="after Ready, reconciled by the new leader")


def test_sigkill_mid_burst_the_standby_takes_over_after_expiry_with_no_duplicate(
    admin, replicas, ha_emulator, ns, record_property
):
    first = replicas("operator-a")
    wait_for(lambda: leads(first), timeout=30, what="operator-a leading")
    second = replicas("operator-b")
    names = [f"burst-{i}" for i in range(40)]
    for name in names[:20]:
        apply(admin, training_job(name), ns)
    wait_for(lambda: metric(first, "kubemaker_aws_api_calls_total") > 0, timeout=30, what="creates under way")
    killed = time.monotonic()
    first.kill()
    for name in names[20:]:  # the burst goes on while nobody leads
        apply(admin, training_job(name), ns)
    failover = first_reconcile(second, killed, timeout=LEASE_DURATION_SECONDS + 45)
    report(record_property, "failover after SIGKILL (leader killed -> first reconcile by the new leader)", failover)
    assert re.search(r"took over from operator-a_\S+, which did not renew it for 15 s", log_of(second))

    for name in names:
        wait_for(lambda: ready(admin, ns, name), timeout=120, what=f"{name} Ready")
    jobs = [job["TrainingJobName"] for job in sagemaker_jobs(ha_emulator, ns[:20])]
    recorded = [get(admin, "trainingjob", ns, name)["status"]["trainingJobName"] for name in names]
    assert sorted(jobs) == sorted(recorded), "a SageMaker job was created twice, or is missing"


class PausableProxy:
    """A TCP proxy on loopback between an operator and the API server, which can cut the operator
    off: open connections are closed, and new ones are accepted but never answered (as a network
    partition looks to the client: timeouts, not refusals)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.sockets.add(client)
            if not self.cut_off.is_set():
                threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self.lock:
            self.sockets.add(server)
        peers = {client: server, server: client}
        try:
            while not self.cut_off.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def cut(self) -> None:
        self.cut_off.set()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.close()


def test_a_leader_cut_off_from_the_api_server_stops_before_the_lease_can_expire(
    admin, replicas, cluster, account_kubeconfig, ns, tmp_path, record_property
):
    proxy = PausableProxy(cluster.api_port)
    try:
        config = yaml.safe_load(account_kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
        through_proxy = tmp_path / "kubeconfig-through-proxy"
        through_proxy.write_text(yaml.safe_dump(config))
        first = replicas("operator-a", kubeconfig=through_proxy)
        wait_for(lambda: leads(first), timeout=30, what="operator-a leading")
        second = replicas("operator-b")
        apply(admin, training_job("before-cut"), ns)
        wait_for(lambda: ready(admin, ns, "before-cut"), timeout=90, what="before-cut Ready")

        cut = time.monotonic()
        proxy.cut()
        exit_code = first.process.wait(timeout=30)
        stopped = time.monotonic() - cut
        still_standby = metric(second, "kubemaker_leader") == 0
        failover = first_reconcile(second, cut, timeout=LEASE_DURATION_SECONDS + 45)
    finally:
        proxy.close()
    report(record_property, "cut-off leader stopped after", stopped)
    report(record_property, "failover after the cut (API server unreachable -> first reconcile by the new leader)",
           failover)
    assert exit_code == 1, "a leader that lost its Lease exits non-zero, to restart as a standby"
    assert still_standby, "the standby led while the cut-off leader still ran"
    log = log_of(first)
    assert "lost leadership" in log and "not renewed within the renew deadline" in log
    assert log.index("lost leadership") < log.index("stopped reconciling")
    assert re.search(r"took over from operator-a_\S+", log_of(second))
    apply(admin, training_job("after-cut"), ns)
    wait_for(lambda: ready(admin, ns, "after-cut"), timeout=90, what="after-cut Ready, reconciled by the new leader")
