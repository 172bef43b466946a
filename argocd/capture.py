"""Captures the health check's testdata from real objects: the local control plane, the SageMaker
emulator and `kubemaker run`, with the examples driven into each state the check tells apart.

    python argocd/capture.py [KIND ...]   # rewrites argocd/health/<group>/_/testdata/<Kind>/{healthy,...}.yaml

The expected health of each object is in argocd/health/<group>/_/health_test.yaml, kept by hand.

- healthy: the example applied and Ready;
- progressing: the same with the emulator's phases slowed down, caught mid-way (a Pipeline, created at
  once, while SageMaker answers its create call with 5xx errors and the operator retries);
- degraded: SageMaker refusing the kind's create call (Stalled); for TrainingJob also failed: a job
  SageMaker ran and failed, the Degraded case users meet most;
- stale-generation: a Ready object whose spec changed while the operator was stopped.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kubemaker import API_GROUP
from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker_dev.controlplane import LocalControlPlane
from kubemaker_dev.operatorprocess import OperatorProcess
from kubemaker_emulator.process import start_emulator

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA_DIR = REPO_ROOT / "argocd" / "health" / API_GROUP / "_" / "testdata"
# The example each kind is captured from (objects it depends on come along), and its create call.
EXAMPLES = {
    "TrainingJob": ("trainingjob-spot.yaml", "CreateTrainingJob"),
    "HyperParameterTuningJob": ("hyperparametertuningjob.yaml", "CreateHyperParameterTuningJob"),
    "Model": ("model-from-trainingjob.yaml", "CreateModel"),
    "Endpoint": ("endpoint-serverless.yaml", "CreateEndpoint"),
    "InferenceComponent": ("inferencecomponents.yaml", "CreateInferenceComponent"),
    "TransformJob": ("transformjob.yaml", "CreateTransformJob"),
    "ProcessingJob": ("processingjob.yaml", "CreateProcessingJob"),
    "Pipeline": ("pipeline-with-execution.yaml", "CreatePipeline"),
    "PipelineExecution": ("pipeline-with-execution.yaml", "StartPipelineExecution"),
    "MonitoringSchedule": ("monitoringschedule.yaml", "CreateMonitoringSchedule"),
    "ModelPackageGroup": ("model-registry.yaml", "CreateModelPackageGroup"),
    "ModelPackage": ("model-registry.yaml", "CreateModelPackage"),
}
SLOW_SECONDS = 120.0
# Kinds with no slow SageMaker phase to catch.
CREATED_AT_ONCE = ("Pipeline",)
# Noise for a health check: server bookkeeping and kopf's own annotations.
DROPPED_METADATA = ("managedFields", "resourceVersion", "uid", "selfLink")


class Cluster:
    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", *args], input=input,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def apply_example(self, example: str, namespace: str) -> list[dict]:
        self.kubectl("create", "namespace", namespace)
        self.kubectl("apply", "-n", namespace, "-f", str(REPO_ROOT / "examples" / example))
        return [doc for doc in yaml.safe_load_all((REPO_ROOT / "examples" / example).read_text()) if doc]

    def get(self, kind: str, namespace: str, name: str) -> dict:
        return json.loads(self.kubectl("get", f"{kind.lower()}.{API_GROUP}", name, "-n", namespace, "-o", "json"))


def condition_true(obj: dict, condition_type: str) -> bool:
    return any(c.get("type") == condition_type and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def current(obj: dict) -> bool:
    return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]


def wait(probe, what: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def named(docs: list[dict], kind: str) -> str:
    return next(doc["metadata"]["name"] for doc in docs if doc["kind"] == kind)


def trimmed(obj: dict) -> dict:
    metadata = obj["metadata"]
    for key in DROPPED_METADATA:
        metadata.pop(key, None)
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                   if not k.startswith((API_GROUP, "kubectl.kubernetes.io/", "kopf.zalando.org"))}
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return obj


def save(kind: str, case: str, obj: dict) -> None:
    path = TESTDATA_DIR / kind / f"{case}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Captured by argocd/capture.py from a real {kind} ({case}).\n"
    path.write_text(header + yaml.safe_dump(trimmed(obj), sort_keys=False, width=1000))
    print(path.relative_to(REPO_ROOT))


def capture_healthy(cluster: Cluster, kind: str) -> tuple[str, str]:
    example, _ = EXAMPLES[kind]
    namespace = f"healthy-{kind.lower()}"
    name = named(cluster.apply_example(example, namespace), kind)
    obj = wait(lambda: (o := cluster.get(kind, namespace, name)) and current(o) and condition_true(o, READY) and o,
               f"{kind} Ready")
    save(kind, "healthy", obj)
    return namespace, name


def capture_progressing(cluster: Cluster, emulator, kind: str) -> None:
    example, operation = EXAMPLES[kind]
    namespace = f"progressing-{kind.lower()}"
    if kind in CREATED_AT_ONCE:
        emulator.control.set_faults(rate=1.0, kinds=["5xx"], operations=[operation])
    try:
        name = named(cluster.apply_example(example, namespace), kind)
        wait(lambda: (o := cluster.get(kind, namespace, name)) and current(o) and condition_true(o, RECONCILING),
             f"{kind} Reconciling")
        time.sleep(3)  # a few more passes, so the status shows SageMaker's state (or what it waits for)
        obj = cluster.get(kind, namespace, name)
    finally:
        emulator.control.clear_faults()
    if not condition_true(obj, RECONCILING):
        raise RuntimeError(f"{kind} left Reconciling within seconds; slow the emulator down further")
    save(kind, "progressing", obj)


def capture_degraded(cluster: Cluster, emulator, kind: str) -> None:
    example, operation = EXAMPLES[kind]
    namespace = f"degraded-{kind.lower()}"
    emulator.control.set_faults(rate=1.0, kinds=["validation"], operations=[operation])
    try:
        name = named(cluster.apply_example(example, namespace), kind)
        obj = wait(lambda: (o := cluster.get(kind, namespace, name)) and current(o) and condition_true(o, STALLED)
                   and o, f"{kind} Stalled")
    finally:
        emulator.control.clear_faults()
    save(kind, "degraded", obj)


def capture_failed_training_job(cluster: Cluster, emulator) -> None:
    namespace = "failed-trainingjob"
    cluster.kubectl("create", "namespace", namespace)
    (job,) = yaml.safe_load_all((REPO_ROOT / "examples" / EXAMPLES["TrainingJob"][0]).read_text())
    job["spec"]["trainingJobName"] = f"{namespace}-{job['metadata']['name']}"
    emulator.control.fail_training_job(job["spec"]["trainingJobName"],
                                       reason="AlgorithmError: ExecuteUserScriptError: loss became NaN at epoch 3")
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(job))
    obj = wait(lambda: (o := cluster.get("TrainingJob", namespace, job["metadata"]["name"])) and current(o)
               and condition_true(o, STALLED) and o, "TrainingJob Failed")
    save("TrainingJob", "failed", obj)


def capture_monitoring_violations(cluster: Cluster, emulator) -> None:
    """A schedule whose executions find violations: ViolationsFound, and still Healthy."""
    namespace = "violations-monitoringschedule"
    cluster.kubectl("create", "namespace", namespace)
    docs = [doc for doc in yaml.safe_load_all((REPO_ROOT / "examples" / EXAMPLES["MonitoringSchedule"][0]).read_text())
            if doc]
    schedule = next(doc for doc in docs if doc["kind"] == "MonitoringSchedule")
    schedule["spec"]["monitoringScheduleName"] = f"{namespace}-{schedule['metadata']['name']}"[:63]
    emulator.control.report_violations(schedule["spec"]["monitoringScheduleName"], count=7, executions=1000)
    emulator.control.set_timings(monitoring_execution_interval=1.0)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
    obj = wait(lambda: (o := cluster.get("MonitoringSchedule", namespace, schedule["metadata"]["name"]))
               and current(o) and condition_true(o, READY) and condition_true(o, "ViolationsFound") and o,
               "MonitoringSchedule ViolationsFound")
    save("MonitoringSchedule", "violations", obj)


def main() -> int:
    kinds = sys.argv[1:] or list(EXAMPLES)
    with tempfile.TemporaryDirectory(prefix="kubemaker-capture-") as workdir, contextlib.ExitStack() as stack:
        control_plane = LocalControlPlane(Path(workdir) / "cluster").start()
        stack.callback(control_plane.stop)
        emulator = start_emulator(profile="fast", log_path=Path(workdir) / "emulator.log")
        stack.callback(emulator.stop)
        cluster = Cluster(control_plane.kubeconfig_path)
        cluster.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        config = Path(workdir) / "config.yaml"
        config.write_text(yaml.safe_dump({"defaultNamespacePolicy": {"allowedRoleArns": ["*"]}}))
        operator = OperatorProcess({**emulator.aws_environment(), "KUBECONFIG": str(control_plane.kubeconfig_path)},
                                   Path(workdir) / "operator.log", config, poll_interval=0.5).start()
        stack.callback(operator.stop)

        healthy = {kind: capture_healthy(cluster, kind) for kind in kinds}
        for kind in kinds:
            capture_degraded(cluster, emulator, kind)
        if "TrainingJob" in kinds:
            capture_failed_training_job(cluster, emulator)
        if "MonitoringSchedule" in kinds:
            capture_monitoring_violations(cluster, emulator)
        emulator.control.set_timings(**{phase: SLOW_SECONDS for phase in emulator.control.timings()})
        for kind in kinds:
            capture_progressing(cluster, emulator, kind)
        operator.stop()
        for kind, (namespace, name) in healthy.items():
            # deletionPolicy is mutable in every kind: flipping it is a spec change of any of them.
            policy = cluster.get(kind, namespace, name)["spec"].get("deletionPolicy", "Delete")
            flipped = "Retain" if policy == "Delete" else "Delete"
            cluster.kubectl("patch", f"{kind.lower()}.{API_GROUP}", name, "-n", namespace, "--type=merge",
                            "-p", json.dumps({"spec": {"deletionPolicy": flipped}}))
            save(kind, "stale-generation", cluster.get(kind, namespace, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
