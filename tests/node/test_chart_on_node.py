"""The Helm chart on the real nodes, end to end, with its default two replicas: `helm install` with the
image built from this tree, both pods running as the chart says on nodes of their own and exactly one
of them leading (the Lease and the metric say which), every example Ready through the leader, a
deleted leader handing over to the standby, a leader crashed in the middle of 200 TrainingJob
creates replaced after its Lease expires with exactly 200 SageMaker jobs, `helm upgrade` of
pollIntervalSeconds used by the new pods, and `helm uninstall` leaving the CRDs and objects as
docs/install.md says.

The test world has no pod network and no kube-proxy: the pods use host networking (the chart's
`hostNetwork` value), reach the emulator on loopback, and the API server on its loopback address
(KUBERNETES_SERVICE_HOST/PORT: the `kubernetes` Service's cluster IP routes nowhere here). The
ports being the node's, each replica takes one of the two nodes, and the chart rolls them one at a
time (no surge pod, which would need a third node). Failover times are printed (`pytest -s`) and
recorded as test properties; no test asserts a duration.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import yaml

from kubemaker_dev.ports import free_port
from tests.conftest import REPO_ROOT
from tests.e2e.chart import permission_complaints
from tests.e2e.helpers import wait_for
from tests.e2e.test_examples import unsettled
from tests.e2e.test_trainingjob import training_job

pytestmark = pytest.mark.e2e

RELEASE = "kubemaker"
NAMESPACE = "kubemaker-system"
CHART = REPO_ROOT / "charts" / "kubemaker"
EXAMPLES_NAMESPACE = "examples-on-node"
CREDENTIALS_SECRET = "aws-credentials"
# The tracker lists SageMaker every pollIntervalSeconds; the upgrade makes that slow enough to see.
POLL_SECONDS_BEFORE, POLL_SECONDS_AFTER = 1, 30
REPLICAS = 2  # the chart's default replicaCount, which the release keeps
BURST = 200
LEASE_DURATION_SECONDS = 15  # the chart's default leaderElection.leaseDurationSeconds


def is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def names(pods: list[dict]) -> list[str]:
    return [pod["metadata"]["name"] for pod in pods]


class Release:
    """The installed chart and what the tests read from its pods."""

    def __init__(self, nodes, kubectl, helm, values: dict):
        self.nodes, self.kubectl, self.helm, self.values = nodes, kubectl, helm, values
        self.kubeconfig = nodes[0].control_plane.kubeconfig_path

    def run_helm(self, *args: str, input: str | None = None) -> str:
        command = [str(self.helm), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}"
        return result.stdout

    def pods(self) -> list[dict]:
        """The release's live pods: neither being deleted nor finished."""
        selector = f"app.kubernetes.io/instance={RELEASE}"
        listing = self.kubectl("-n", NAMESPACE, "get", "pods", "-l", selector, "-o", "json")
        live = ("Pending", "Running")
        return [pod for pod in json.loads(listing.stdout)["items"]
                if not pod["metadata"].get("deletionTimestamp") and pod["status"].get("phase") in live]

    def ready_pods(self) -> list[dict]:
        """The release's pods, once there are as many as its replicas and every one is Ready."""
        def all_ready() -> list[dict] | None:
            pods = self.pods()
            return pods if len(pods) == REPLICAS and all(map(is_ready, pods)) else None

        return wait_for(all_ready, timeout=180, interval=1,
                        what=lambda: [(p["metadata"]["name"], p["status"].get("phase"), p["spec"].get("nodeName"))
                                      for p in self.pods()])

    def leader_and_standby(self) -> tuple[dict, dict]:
        """The ready pods, once exactly one of them leads by its own metric: (leader, standby)."""
        def split() -> tuple[dict, dict] | None:
            pods = self.ready_pods()
            leading = [pod for pod in pods if self.leads(pod)]
            if len(leading) != 1:
                return None
            return leading[0], next(pod for pod in pods if pod is not leading[0])

        return wait_for(split, timeout=90, interval=1, what="exactly one pod leading")

    def replaced(self, old: list[dict]) -> list[dict]:
        """The ready pods, once none of them is one of `old`."""
        old_uids = {pod["metadata"]["uid"] for pod in old}

        def all_new() -> list[dict] | None:
            pods = self.ready_pods()
            return pods if not old_uids & {pod["metadata"]["uid"] for pod in pods} else None

        return wait_for(all_new, timeout=240, interval=1, what=f"pods replacing {names(old)}")

    def node_of(self, pod: dict):
        return next(node for node in self.nodes if node.name == pod["spec"]["nodeName"])

    def lease_holder(self) -> str:
        """The pod named by the Lease: its holderIdentity is the pod's name and a random suffix."""
        lease = json.loads(self.kubectl("-n", NAMESPACE, "get", "lease", RELEASE, "-o", "json").stdout)["spec"]
        return (lease.get("holderIdentity") or "").rsplit("_", 1)[0]

    def metrics(self, pod: dict) -> str:
        url = f"http://{pod['status']['podIP']}:{self.values['metrics']['port']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def counter(self, pod: dict, name: str, **labels: str) -> float:
        """The sum of the series of `name` with `labels` (0 when there is none yet)."""
        wanted = [f'{key}="{value}"' for key, value in labels.items()]
        total = 0.0
        for line in self.metrics(pod).splitlines():
            if line.startswith((name + "{", name + " ")) and all(label in line for label in wanted):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def leads(self, pod: dict) -> bool:
        try:
            return "kubemaker_leader 1.0" in self.metrics(pod).splitlines()
        except urllib.error.URLError:  # a starting pod: nothing listens yet
            return False

    def log(self, pod: dict, *args: str) -> str:
        return self.kubectl("-n", NAMESPACE, "logs", pod["metadata"]["name"], *args).stdout

    def exec_python(self, pod: dict, code: str) -> subprocess.CompletedProcess:
        return self.kubectl("-n", NAMESPACE, "exec", pod["metadata"]["name"], "--", "python3", "-c", code, check=False)

    def crash(self, pod: dict) -> None:
        """Kills the operator as a crash does (SIGKILL, from its node's containerd), so it cannot release
        its Lease, then force-deletes the pod, as for a lost node, so that the Deployment replaces it.
        `kubectl delete --force --grace-period=0` alone is no crash: the kubelet still sends SIGTERM
        first, on which the operator releases its Lease."""
        (status,) = [c for c in pod["status"]["containerStatuses"] if c["name"] == "operator"]
        container_id = status["containerID"].split("://", 1)[1]
        killed = self.node_of(pod).ctr("tasks", "kill", "--signal", "SIGKILL", container_id, timeout=30)
        assert killed.returncode == 0, killed.stderr
        self.kubectl("-n", NAMESPACE, "delete", "pod", pod["metadata"]["name"], "--grace-period=0", "--force")


def log_time(line: str) -> float:
    """The wall-clock time of a `kubectl logs --timestamps` line (RFC 3339, written by the kubelet)."""
    return datetime.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()


def became_leader_at(release: Release, pod: dict) -> float:
    lines = [line for line in release.log(pod, "--timestamps").splitlines() if "became leader" in line]
    assert lines, f"{pod['metadata']['name']} never logged 'became leader'"
    return log_time(lines[0])


def takeover_after(release: Release, old: dict, since: float, timeout: float) -> tuple[dict, float]:
    """The pod that takes the Lease from `old`, and the seconds from `since` (time.time()) until its first
    reconciliation pass (its controller_runtime_reconcile_total; the Lease and the counter are polled
    every 0.2 s)."""
    old_name = old["metadata"]["name"]
    holder = wait_for(lambda: release.lease_holder() not in ("", old_name) and release.lease_holder(),
                      timeout=timeout, interval=0.2, what=f"another pod holding the Lease {old_name} held")
    pod = json.loads(release.kubectl("-n", NAMESPACE, "get", "pod", holder, "-o", "json").stdout)
    wait_for(lambda: release.counter(pod, "controller_runtime_reconcile_total") > 0, timeout=60, interval=0.2,
             what=f"a first reconcile by {holder}")
    return pod, time.time() - since


def report(record_property, what: str, seconds: float) -> None:
    record_property(what, round(seconds, 2))
    print(f"\n{what}: {seconds:.2f} s")


def sagemaker_job_names(emulator, name_contains: str) -> list[str]:
    pages = emulator.client("sagemaker").get_paginator("list_training_jobs").paginate(NameContains=name_contains)
    return [job["TrainingJobName"] for page in pages for job in page["TrainingJobSummaries"]]


@pytest.fixture(scope="module")
def release(nodes, node_kubectl, helm, emulator, operator_image) -> Release:
    repository, tag = operator_image.rsplit(":", 1)
    credentials = emulator.aws_environment()
    node_kubectl("create", "namespace", NAMESPACE)
    node_kubectl("-n", NAMESPACE, "create", "secret", "generic", CREDENTIALS_SECRET,
                 f"--from-literal=accessKeyId={credentials['AWS_ACCESS_KEY_ID']}",
                 f"--from-literal=secretAccessKey={credentials['AWS_SECRET_ACCESS_KEY']}")

    def from_secret(key: str) -> dict:
        return {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}

    # No replicaCount: the chart's default.
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "hostNetwork": True,
        "aws": {"region": credentials["AWS_DEFAULT_REGION"], "endpointUrl": emulator.url},
        "pollIntervalSeconds": POLL_SECONDS_BEFORE,
        # Host ports: free ones, so nothing else on this machine holds them.
        "livenessPort": free_port(),
        "metrics": {"port": free_port()},
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(nodes[0].control_plane.api_port)},
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": from_secret("accessKeyId")},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": from_secret("secretAccessKey")},
        ],
    }
    installed = Release(nodes, node_kubectl, helm, values)
    installed.run_helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", "-",
                       "--wait", "--timeout=4m", input=yaml.safe_dump(values))
    return installed


def test_operator_deployment_is_available_and_its_liveness_probes_pass(release, node_kubectl):
    node_kubectl("-n", NAMESPACE, "wait", f"deployment/{RELEASE}", "--for=condition=Available", "--timeout=180s")
    print(node_kubectl("-n", NAMESPACE, "get", "pods", "-o", "wide").stdout)
    pods = release.ready_pods()
    # One replica per node: each listens on its node's address, on the same ports.
    assert len({pod["spec"]["nodeName"] for pod in pods}) == REPLICAS
    for pod in pods:
        assert pod["status"]["podIP"] == release.node_of(pod).ip

    def liveness_successes(pod: dict) -> float:
        node_name = pod["spec"]["nodeName"]
        metrics = node_kubectl("get", "--raw", f"/api/v1/nodes/{node_name}/proxy/metrics/probes").stdout
        pattern = re.compile(r'^prober_probe_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
        total = 0.0
        for line in metrics.splitlines():
            match = pattern.match(line)
            if match and all(label in match["labels"] for label in (
                    'probe_type="Liveness"', 'result="successful"', f'pod="{pod["metadata"]["name"]}"')):
                total += float(match["value"])
        return total

    # The kubelet's own count of the probe's successes (its first comes after initialDelaySeconds),
    # for the standby as for the leader.
    for pod in pods:
        wait_for(lambda pod=pod: liveness_successes(pod) >= 1, timeout=90, interval=2,
                 what=f"a successful liveness probe of {pod['metadata']['name']}")
    for pod in release.ready_pods():
        status = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "operator")
        assert status["restartCount"] == 0 and status["ready"]


def test_pods_run_as_the_chart_says(release, node_kubectl):
    deployment = json.loads(node_kubectl("-n", NAMESPACE, "get", f"deployment/{RELEASE}", "-o", "json").stdout)
    for pod in release.ready_pods():
        # The operator is PID 1 of its container: its credentials, capabilities and root filesystem.
        checked = release.exec_python(pod, "\n".join([
            "import os, errno",
            "status = dict(line.split(':', 1) for line in open('/proc/1/status').read().splitlines())",
            "print(status['Uid'].split()[0], status['Gid'].split()[0], status['CapEff'].strip(),",
            "      status['CapPrm'].strip())",
            "try:",
            "    open('/written-by-the-test', 'w')",
            "except OSError as error:",
            "    print(errno.errorcode[error.errno])",
            "token = open('/var/run/secrets/kubernetes.io/serviceaccount/token').read().split('.')[1]",
            "import base64, json",
            "print(json.loads(base64.urlsafe_b64decode(token + '=' * (-len(token) % 4)))['sub'])",
        ]))
        assert checked.returncode == 0, checked.stderr
        ids, write, subject = checked.stdout.splitlines()
        assert ids.split() == ["10001", "10001", "0000000000000000", "0000000000000000"]
        assert write == "EROFS"  # read-only root filesystem
        service_account = pod["spec"]["serviceAccountName"]
        assert subject == f"system:serviceaccount:{NAMESPACE}:{service_account}"
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == service_account == RELEASE
    # The chart's RBAC, and nothing beyond it.
    as_operator = ["--as", subject]

    def can(verb: str, resource: str) -> str:
        return node_kubectl(*as_operator, "auth", "can-i", verb, resource, "-A", check=False).stdout.strip()

    assert can("watch", "trainingjobs.sagemaker.kubemaker.io") == "yes"
    assert can("list", "secrets") == "no"


def test_exactly_one_pod_leads_as_the_lease_and_the_metrics_show(release, node_kubectl):
    leader, standby = release.leader_and_standby()
    print(node_kubectl("-n", NAMESPACE, "get", "lease", RELEASE).stdout)
    assert release.lease_holder() == leader["metadata"]["name"]
    assert "kubemaker_leader 0.0" in release.metrics(standby).splitlines()
    # As docs/install.md shows it: each pod's metric through the API server's pod proxy.
    for pod, value in ((leader, "1.0"), (standby, "0.0")):
        proxied = node_kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}:"
                                               f"{release.values['metrics']['port']}/proxy/metrics").stdout
        assert f"kubemaker_leader {value}" in proxied.splitlines()
    # The standby only watches: no pass, no SageMaker call.
    assert release.counter(standby, "controller_runtime_reconcile_total") == 0
    assert release.counter(standby, "kubemaker_aws_api_calls_total") == 0
    assert "became leader" in release.log(leader) and "became leader" not in release.log(standby)


def test_metrics_are_served_on_the_pod_ip_only(release):
    leader, standby = release.leader_and_standby()
    assert "kubemaker_aws_api_calls_total" in release.metrics(leader)
    assert "kubemaker_leader 0.0" in release.metrics(standby).splitlines()
    # Host networking shares the node's network namespace: nothing listens on its other addresses.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{release.values['metrics']['port']}/metrics", timeout=5)


def test_every_example_becomes_ready_through_the_leader(release, node_kubectl):
    node_kubectl("create", "namespace", EXAMPLES_NAMESPACE)
    node_kubectl("apply", "-n", EXAMPLES_NAMESPACE, "-f", str(REPO_ROOT / "examples"))
    wait_for(lambda: not unsettled(node_kubectl, EXAMPLES_NAMESPACE), timeout=300, interval=2,
             what=lambda: unsettled(node_kubectl, EXAMPLES_NAMESPACE))
    leader, standby = release.leader_and_standby()
    assert release.counter(leader, "controller_runtime_reconcile_total") > 0
    assert release.counter(standby, "controller_runtime_reconcile_total") == 0
    for pod in (leader, standby):
        assert not permission_complaints(release.log(pod))


def test_deleted_leader_hands_its_lease_over_and_creates_no_duplicate(release, node_kubectl, emulator,
                                                                      record_property):
    namespace = f"takeover-{uuid.uuid4().hex[:6]}"
    node_kubectl("create", "namespace", namespace)
    leader, standby = release.leader_and_standby()
    jobs = [training_job(f"job-{index}") for index in range(10)]
    node_kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(jobs))
    # Mid-burst: some jobs created in SageMaker, some not, the rest for the next leader. A normal
    # delete: SIGTERM, on which the leader releases its Lease.
    deleted = time.time()
    node_kubectl("-n", NAMESPACE, "delete", "pod", leader["metadata"]["name"], "--wait=false")
    release.replaced([leader])
    new_leader, new_standby = release.leader_and_standby()
    # Either candidate may take the released Lease: the standby at its next try (every 2-4.4 s), or
    # the Deployment's replacement if it reads it first (it starts once the old pod is gone, which
    # is right after the release: the host ports are the node's). The other one stands by.
    assert release.lease_holder() == new_leader["metadata"]["name"]
    assert "took over from" not in release.log(new_leader)  # taken free, not after expiry
    assert "became leader" not in release.log(new_standby)
    which = "the standby" if new_leader["metadata"]["uid"] == standby["metadata"]["uid"] else "the replacement pod"
    report(record_property, f"failover after a pod delete (Lease released; delete -> 'became leader' in the new "
                            f"leader's log, {which})", became_leader_at(release, new_leader) - deleted)
    wait_for(lambda: not unsettled(node_kubectl, namespace), timeout=300, interval=2,
             what=lambda: unsettled(node_kubectl, namespace))
    found = sagemaker_job_names(emulator, namespace)
    assert len(found) == len(set(found)) == len(jobs), found
    node_kubectl("delete", "trainingjobs", "--all", "-n", namespace, "--timeout=120s")


def test_leader_crash_mid_burst_of_200_creates_another_pod_takes_over_with_exactly_200_jobs(
    release, node_kubectl, emulator, record_property
):
    namespace = f"burst-{uuid.uuid4().hex[:6]}"
    node_kubectl("create", "namespace", namespace)
    leader, standby = release.leader_and_standby()
    # Neither candidate has reconciled yet, so the first pass of whichever takes over is the takeover's.
    assert release.counter(standby, "controller_runtime_reconcile_total") == 0
    transitions = json.loads(node_kubectl("-n", NAMESPACE, "get", "lease", RELEASE, "-o", "json").stdout)["spec"][
        "leaseTransitions"]
    jobs = [training_job(f"job-{index}") for index in range(BURST)]
    first_half, second_half = jobs[:BURST // 2], jobs[BURST // 2:]

    def apply_all(batch: list[dict]) -> None:
        node_kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(batch))

    def leader_creates() -> float:
        return release.counter(leader, "kubemaker_aws_api_calls_total", operation="CreateTrainingJob")

    earlier = leader_creates()  # its creates in the earlier tests
    applying = threading.Thread(target=apply_all, args=(first_half,))
    applying.start()
    try:
        wait_for(lambda: leader_creates() - earlier >= 50, timeout=120, interval=0.1,
                 what="50 SageMaker creates by the leader")
        created_at_kill = leader_creates() - earlier
        killed = time.time()
        release.crash(leader)
    finally:
        applying.join()
    in_sagemaker_at_kill = len(sagemaker_job_names(emulator, namespace))
    apply_all(second_half)  # the burst goes on while nobody leads
    print(f"\nleader {leader['metadata']['name']} killed after {created_at_kill:.0f} creates; "
          f"{in_sagemaker_at_kill} jobs in SageMaker just after")

    # The standby takes over, or the Deployment's replacement, a candidate from its start, when it
    # first read the Lease before the standby's next try after the crash: both time the unchanged
    # record from their own first sight of it (client-go's semantics).
    new_leader, failover = takeover_after(release, leader, killed, timeout=LEASE_DURATION_SECONDS + 60)
    which = "the standby" if new_leader["metadata"]["uid"] == standby["metadata"]["uid"] else "the replacement pod"
    report(record_property, f"failover after a crash (leader SIGKILLed -> first reconcile by the new leader, "
                            f"{which})", failover)
    report(record_property, "failover after a crash (leader SIGKILLed -> 'became leader' in the new leader's log)",
           became_leader_at(release, new_leader) - killed)
    # The Lease was not released: the new leader waited it out, then took it.
    assert re.search(rf"took over from {re.escape(leader['metadata']['name'])}_\S+, which did not renew it for "
                     rf"{LEASE_DURATION_SECONDS} s", release.log(new_leader))
    lease = json.loads(node_kubectl("-n", NAMESPACE, "get", "lease", RELEASE, "-o", "json").stdout)["spec"]
    assert lease["holderIdentity"].rsplit("_", 1)[0] == new_leader["metadata"]["name"]
    assert lease["leaseTransitions"] == transitions + 1
    assert release.leads(new_leader)

    wait_for(lambda: not unsettled(node_kubectl, namespace), timeout=600, interval=3,
             what=lambda: unsettled(node_kubectl, namespace)[:10])
    print(f"all {BURST} TrainingJobs Ready {time.time() - killed:.0f} s after the kill")
    objects = json.loads(node_kubectl("get", "trainingjobs", "-n", namespace, "-o", "json").stdout)["items"]
    assert len(objects) == BURST
    assert all(o["status"]["trainingJobStatus"] == "Completed" for o in objects)
    recorded = sorted(o["status"]["trainingJobName"] for o in objects)
    found = sorted(sagemaker_job_names(emulator, namespace))
    # Exactly the objects' jobs: none created twice, none missing.
    assert len(found) == BURST and found == recorded, (len(found), sorted(set(found) ^ set(recorded))[:10])

    # Two pods again, the replacement among them, and the one that did not take over stands by.
    pods = release.replaced([leader])
    assert {pod["metadata"]["uid"] for pod in pods} >= {new_leader["metadata"]["uid"]}
    (new_standby,) = [pod for pod in pods if pod["metadata"]["uid"] != new_leader["metadata"]["uid"]]
    assert new_standby["status"]["phase"] == "Running" and not release.leads(new_standby)
    assert release.counter(new_standby, "controller_runtime_reconcile_total") == 0
    print(node_kubectl("-n", NAMESPACE, "get", "pods,lease", "-o", "wide").stdout)
    node_kubectl("delete", "trainingjobs", "--all", "-n", namespace, "--timeout=300s")


def test_helm_upgrade_of_poll_interval_is_used_by_the_new_pods(release, node_kubectl):
    old_leader, old_standby = release.leader_and_standby()

    def list_calls(pod: dict) -> float:
        return release.counter(pod, "kubemaker_aws_api_calls_total", operation="ListEndpoints")

    # The examples' endpoints stay tracked, so the tracker lists them once per poll interval.
    before = list_calls(old_leader)
    time.sleep(10)
    assert list_calls(old_leader) - before >= 3, f"the old leader polls every {POLL_SECONDS_BEFORE}s"

    release.values["pollIntervalSeconds"] = POLL_SECONDS_AFTER
    release.run_helm("upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", "-",
                     "--wait", "--timeout=4m", input=yaml.safe_dump(release.values))
    new_pods = release.replaced([old_leader, old_standby])
    for pod in new_pods:
        config = release.exec_python(pod, "print(open('/etc/kubemaker/config.yaml').read())")
        assert yaml.safe_load(config.stdout)["pollIntervalSeconds"] == POLL_SECONDS_AFTER
    new_leader, _ = release.leader_and_standby()
    # At most one listing per interval, whatever the machine's load: the tracker sleeps in between.
    start = list_calls(new_leader)
    time.sleep(POLL_SECONDS_AFTER + 5)
    assert list_calls(new_leader) - start <= 2, f"the new leader polls every {POLL_SECONDS_AFTER}s"


def test_helm_uninstall_leaves_crds_and_objects(release, node_kubectl, emulator):
    objects = json.loads(node_kubectl("get", "sagemaker", "-n", EXAMPLES_NAMESPACE, "-o", "json").stdout)["items"]
    assert objects, "test_every_example_becomes_ready_through_the_leader installs the examples first"
    release.run_helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout=2m")
    wait_for(lambda: not release.pods(), timeout=120, interval=1, what="the operator's pods gone")
    # Helm never deletes a chart's crds/; our objects stay, with the finalizer the operator would
    # have removed (docs/install.md, Uninstall; docs/troubleshooting.md).
    crds = node_kubectl("get", "crds", "-o", "name").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/trainingjobs.sagemaker.kubemaker.io" in crds
    after = json.loads(node_kubectl("get", "sagemaker", "-n", EXAMPLES_NAMESPACE, "-o", "json").stdout)["items"]
    assert sorted(o["metadata"]["uid"] for o in after) == sorted(o["metadata"]["uid"] for o in objects)
    assert all("sagemaker.kubemaker.io/cleanup" in o["metadata"]["finalizers"] for o in after)
    training = next(o for o in after if o["kind"] == "TrainingJob")
    sagemaker = emulator.client("sagemaker")
    described = sagemaker.describe_training_job(TrainingJobName=training["status"]["trainingJobName"])
    assert described["TrainingJobStatus"] == "Completed"
