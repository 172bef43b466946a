"""Soak: every example kind, many copies, under sustained SageMaker faults and repeated SIGKILLs of
the operator; then updates and deletes. Prints what it handled and the invariants: zero duplicates
(more than one SageMaker object for one Kubernetes object) and zero orphans (a SageMaker object left
alive by a deleted one), and the operator's own throttle, server-error and retry counters, which must
show the faults the emulator injected. Exits non-zero when an invariant is broken.

    .venv/bin/python bench/soak.py [--rounds 4] [--fault-rate 0.3] [--kills 20]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubemaker_dev.kubectl import run_kubectl
from kubemaker_dev.operatorprocess import OperatorProcess
from world import REPO, World, local_world

NAMESPACE = "soak"
REFERENCE_KEYS = {"modelRef", "trainingJobRef", "pipelineRef", "configMapKeyRef", "ref", "endpointRef",
                  "modelPackageRef", "modelPackageGroupRef"}
UID_TAG = "kubemaker.io/uid"
# SageMaker objects per kind: (list operation, summaries key, ARN key, whether a summary is still alive).
INVENTORY = {
    "training-job": ("list_training_jobs", "TrainingJobSummaries", "TrainingJobArn",
                     lambda s: s["TrainingJobStatus"] in ("InProgress", "Stopping")),
    "tuning-job": ("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", "HyperParameterTuningJobArn",
                   lambda s: s["HyperParameterTuningJobStatus"] in ("InProgress", "Stopping")),
    "transform-job": ("list_transform_jobs", "TransformJobSummaries", "TransformJobArn",
                      lambda s: s["TransformJobStatus"] in ("InProgress", "Stopping")),
    "processing-job": ("list_processing_jobs", "ProcessingJobSummaries", "ProcessingJobArn",
                       lambda s: s["ProcessingJobStatus"] in ("InProgress", "Stopping")),
    "model": ("list_models", "Models", "ModelArn", lambda s: True),
    "endpoint-config": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigArn", lambda s: True),
    "endpoint": ("list_endpoints", "Endpoints", "EndpointArn", lambda s: s["EndpointStatus"] != "Deleting"),
    "inference-component": ("list_inference_components", "InferenceComponents", "InferenceComponentArn",
                            lambda s: s["InferenceComponentStatus"] != "Deleting"),
    "pipeline": ("list_pipelines", "PipelineSummaries", "PipelineArn", lambda s: True),
    "model-package-group": ("list_model_package_groups", "ModelPackageGroupSummaryList", "ModelPackageGroupArn",
                            lambda s: True),
    "monitoring-schedule": ("list_monitoring_schedules", "MonitoringScheduleSummaries", "MonitoringScheduleArn",
                            lambda s: True),
    **{f"{kind}-job-definition": (f"list_{kind.replace('-', '_')}_job_definitions", "JobDefinitionSummaries",
                                  "MonitoringJobDefinitionArn", lambda s: True)
       for kind in ("data-quality", "model-quality", "model-bias", "model-explainability")},
}
# The one SageMaker object each kind makes (Models may have revisions, Endpoints several configs,
# and a tuning job's training jobs carry its tags).
ONE_PER_OBJECT = {"TrainingJob": "training-job", "TransformJob": "transform-job", "ProcessingJob": "processing-job",
                  "HyperParameterTuningJob": "tuning-job", "Endpoint": "endpoint", "Pipeline": "pipeline",
                  "InferenceComponent": "inference-component", "MonitoringSchedule": "monitoring-schedule",
                  "ModelPackageGroup": "model-package-group"}
# The error codes of the emulator's "5xx" faults.
SERVER_ERROR_CODES = {"InternalFailure", "ServiceUnavailable"}


def example_documents() -> list[dict]:
    docs = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def renamed(value, suffix: str, in_reference: bool = False):
    """A copy of an example document with its own and its references' names suffixed."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "name" and in_reference and isinstance(item, str):
                result[key] = f"{item}-{suffix}"
            else:
                result[key] = renamed(item, suffix, key in REFERENCE_KEYS)
        return result
    if isinstance(value, list):
        return [renamed(item, suffix) for item in value]
    return value


def round_documents(round_index: int) -> list[dict]:
    docs = []
    for doc in example_documents():
        doc = renamed(copy.deepcopy(doc), f"r{round_index}")
        doc["metadata"]["name"] = f"{doc['metadata']['name']}-r{round_index}"
        doc["metadata"]["namespace"] = NAMESPACE
        docs.append(doc)
    return docs


def sagemaker_inventory(emulator) -> list[dict]:
    """Every SageMaker object the emulator holds, with its owner uid tag."""
    client = emulator.client("sagemaker")
    found = []
    for kind, (operation, key, arn_key, alive) in INVENTORY.items():
        token = None
        while True:
            page = getattr(client, operation)(**({"NextToken": token} if token else {}))
            for summary in page[key]:
                tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=summary[arn_key])["Tags"]}
                found.append({"kind": kind, "arn": summary[arn_key], "uid": tags.get(UID_TAG), "alive": alive(summary)})
            token = page.get("NextToken")
            if not token:
                break
    return found


def unrecorded_versions(emulator, items: list[dict]) -> list[str]:
    """Model package versions carry no tags (their group's apply): a ModelPackage registered twice
    shows as a version in its group that no ModelPackage recorded."""
    recorded: dict[str, set[str]] = {}
    for item in items:
        status = item.get("status") or {}
        if item["kind"] == "ModelPackage" and status.get("modelPackageGroupName"):
            recorded.setdefault(status["modelPackageGroupName"], set()).update(
                version["modelPackageArn"] for version in status.get("versions") or [])
    client = emulator.client("sagemaker")
    found = []
    for group, arns in sorted(recorded.items()):
        listed = client.list_model_packages(ModelPackageGroupName=group, MaxResults=100)["ModelPackageSummaryList"]
        extra = sorted({summary["ModelPackageArn"] for summary in listed} - arns)
        if extra:
            found.append(f"model package group {group}: versions no ModelPackage recorded: {', '.join(extra)}")
    return found


def objects(kubeconfig: str) -> list[dict]:
    return json.loads(run_kubectl(kubeconfig, "get", "sagemaker", "-n", NAMESPACE, "-o", "json").stdout)["items"]


def settled(item: dict) -> bool:
    status = item.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return status.get("observedGeneration") == item["metadata"]["generation"] and (
        conditions.get("Ready") == "True" or conditions.get("Stalled") == "True")


def fault_counters(metrics_text: str) -> Counter:
    """What one operator process counted of the faults: throttles, server errors, reconcile retries."""
    counts: Counter = Counter()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "kubemaker_aws_api_throttles_total":
                counts["aws_throttles"] += sample.value
            elif sample.name == "kubemaker_aws_api_errors_total" and sample.labels["code"] in SERVER_ERROR_CODES:
                counts["aws_server_errors"] += sample.value
            elif sample.name == "controller_runtime_reconcile_total" and sample.labels["result"] == "retry":
                counts["reconcile_retries"] += sample.value
    return counts


def scrape_fault_counters(operator: OperatorProcess) -> Counter:
    try:
        return fault_counters(operator.metrics())
    except OSError as error:  # a scrape that fails loses one process' counts, reported as such
        print(f"metrics scrape failed: {error}", file=sys.stderr)
        return Counter()


class Killer(threading.Thread):
    """SIGKILLs and restarts the operator at random moments, `kills` times. Each process' counters
    die with it, so they are scraped just before the kill and summed."""

    def __init__(self, operator: OperatorProcess, kills: int, rng: random.Random):
        super().__init__(daemon=True)
        self.operator, self.kills, self.rng = operator, kills, rng
        self.restarts = 0
        self.peak_rss_mib = 0.0
        self.counted = Counter()
        self.done = threading.Event()

    def run(self) -> None:
        while self.restarts < self.kills and not self.done.is_set():
            time.sleep(self.rng.uniform(1, 6))
            self.peak_rss_mib = max(self.peak_rss_mib, peak_rss(self.operator.process.pid))
            self.counted += scrape_fault_counters(self.operator)
            self.operator.kill()
            self.operator.start()
            self.restarts += 1


def peak_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_settled(kubeconfig: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        pending = [f"{i['kind']}/{i['metadata']['name']}" for i in objects(kubeconfig) if not settled(i)]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="copies of every example object")
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for convergence")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with local_world("kubemaker-soak-", poll_interval=1, config={"strictStatus": True}) as world:
        return soak(args, rng, world)


def soak(args: argparse.Namespace, rng: random.Random, world: World) -> int:
    kubeconfig, emulator, operator = world.kubeconfig, world.emulator, world.operator
    run_kubectl(kubeconfig, "create", "namespace", NAMESPACE)
    emulator.control.set_faults(rate=args.fault_rate, kinds=["throttle", "5xx"], seed=args.seed)
    killer = Killer(operator, args.kills, rng)
    killer.start()

    docs = [doc for r in range(args.rounds) for doc in round_documents(r)]
    run_kubectl(kubeconfig, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
    pending = wait_settled(kubeconfig, args.timeout)

    # Updates: shift endpoint traffic, give models a new revision.
    for item in objects(kubeconfig):
        if item["kind"] == "Endpoint" and len(item["spec"]["productionVariants"]) > 1:
            variants = item["spec"]["productionVariants"]
            weights = [v.get("initialVariantWeight", 1) for v in variants][::-1]
            patch = [{"op": "replace", "path": f"/spec/productionVariants/{i}/initialVariantWeight", "value": w}
                     for i, w in enumerate(weights)]
            run_kubectl(kubeconfig, "patch", "endpoint.sagemaker.kubemaker.io", item["metadata"]["name"],
                        "-n", NAMESPACE, "--type=json", "-p", json.dumps(patch))
        if item["kind"] == "Model" and "primaryContainer" in item["spec"]:
            run_kubectl(kubeconfig, "patch", "model.sagemaker.kubemaker.io", item["metadata"]["name"], "-n",
                        NAMESPACE, "--type=merge", "-p",
                        json.dumps({"spec": {"primaryContainer": {"environment": {"SOAK": "2"}}}}))
    pending += wait_settled(kubeconfig, args.timeout)

    # Deletes: every object of the even rounds.
    live = objects(kubeconfig)
    deleted = [i for i in live if int(i["metadata"]["name"].rsplit("-r", 1)[1]) % 2 == 0]
    for item in deleted:
        run_kubectl(kubeconfig, "delete", f"{item['kind'].lower()}.sagemaker.kubemaker.io",
                    item["metadata"]["name"], "-n", NAMESPACE, "--wait=false")
    # Every kill happens, however fast the workload went, and the verdict comes after the last.
    killer.join(timeout=args.timeout)
    killer.done.set()
    killer.join()
    deadline = time.monotonic() + args.timeout
    deleted_names = {i["metadata"]["name"] for i in deleted}
    while {i["metadata"]["name"] for i in objects(kubeconfig)} & deleted_names and time.monotonic() < deadline:
        time.sleep(3)
    emulator.control.clear_faults()
    counted = killer.counted + scrape_fault_counters(operator)
    time.sleep(3)

    remaining = objects(kubeconfig)
    inventory = sagemaker_inventory(emulator)
    uids_live = {i["metadata"]["uid"]: i for i in remaining}
    # Retain leaves SageMaker objects behind on purpose: only Delete objects can orphan.
    uids_deleted = {i["metadata"]["uid"] for i in deleted if i["spec"].get("deletionPolicy") != "Retain"}
    duplicates = []
    for uid, item in uids_live.items():
        kind = ONE_PER_OBJECT.get(item["kind"])
        owned = [o for o in inventory if o["uid"] == uid and o["kind"] == kind]
        if len(owned) > 1:
            duplicates.append(f"{item['kind']}/{item['metadata']['name']}: {len(owned)} {kind}s")
    duplicates += unrecorded_versions(emulator, remaining)
    orphans = [f"{o['kind']} {o['arn']}" for o in inventory if o["uid"] in uids_deleted and o["alive"]]
    stuck = sorted(deleted_names & {i["metadata"]["name"] for i in remaining})
    injected = emulator.control.call_counts()["faults"]
    # Injected faults the operator's metrics do not show are faults a production dashboard would miss.
    unseen = [f"{kind} faults injected, {metric} is 0" for kind, metric in (("throttle", "aws_throttles"),
                                                                             ("5xx", "aws_server_errors"))
              if injected.get(kind) and not counted[metric]]
    report = {
        "objects_handled": len(docs),
        "updates": "endpoint weights swapped, model revisions",
        "deleted": len(deleted),
        "deleted_with_retain": len(deleted) - len(uids_deleted),
        "faults_injected": injected,
        "operator_counted": {key: int(counted[key]) for key in ("aws_throttles", "aws_server_errors",
                                                                "reconcile_retries")},
        "faults_unseen_by_metrics": unseen,
        "operator_restarts": killer.restarts,
        "converged": len(docs) - len(set(pending)),
        "not_converged": sorted(set(pending)),
        "deletes_not_finished": stuck,
        "duplicates": duplicates,
        "orphans": orphans,
        "operator_peak_rss_mib": round(max(killer.peak_rss_mib, peak_rss(operator.process.pid)), 1),
    }
    print(json.dumps(report, indent=2))
    return 0 if not (duplicates or orphans or pending or stuck or unseen) else 1


if __name__ == "__main__":
    sys.exit(main())
