"""Benchmark: the model registry with N ModelPackages and N Models, against its own local control
plane and emulator (bench/measure.py measures).

Phase 1: `--groups` ModelPackageGroups, then N approved versions spread over them and N Models on
their groups' latest approved version, created concurrently and brought to Ready: objects/s and
SageMaker calls per object. Phase 2 (steady state): nothing changes; SageMaker calls per minute,
which must not grow with N: per group and poll interval one ListModelPackages for the newest
approved version (however many Models follow the group) and one listing of its versions (a page
per 100 versions), no describe. Prints a JSON record and writes it to bench/results/. It asserts
nothing.

    .venv/bin/python bench/registry.py --packages 100 [--groups 2] [--steady-minutes 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import NAMESPACE, base_record, create_all, sagemaker_calls, steady_state, wait_until
from world import REPO, local_world

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"


def manifest(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def package(name: str, group: str) -> dict:
    return manifest("ModelPackage", name, {
        "modelPackageGroupRef": {"name": group},
        "inferenceSpecification": {"containers": [{"image": IMAGE, "modelDataUrl": f"s3://bench/{name}.tar.gz"}],
                                   "supportedContentTypes": ["text/csv"], "supportedResponseMIMETypes": ["text/csv"]},
        "modelApprovalStatus": "Approved",
    })


def ready_count(custom_objects, plural: str) -> int:
    items = custom_objects.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, plural)["items"]
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in (i.get("status") or {}).get(
        "conditions") or []) for i in items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--steady-minutes", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    args = parser.parse_args()
    timeout = 600 + 2 * args.packages
    with local_world("kubemaker-bench-registry-", args.poll_interval) as world:
        emulator = world.emulator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        groups = [f"models-{g}" for g in range(args.groups)]
        create_all(custom_objects, "modelpackagegroups", [manifest("ModelPackageGroup", g, {}) for g in groups])
        wait_until(lambda: ready_count(custom_objects, "modelpackagegroups") == args.groups, timeout, "groups Ready")

        # Phase 1: N versions and N Models to Ready.
        emulator.control.reset_call_counts()
        started = time.monotonic()
        create_all(custom_objects, "modelpackages",
                   [package(f"v-{i:05d}", groups[i % args.groups]) for i in range(args.packages)])
        create_all(custom_objects, "models", [manifest("Model", f"m-{i:05d}", {
            "executionRoleArn": ROLE, "modelPackageGroupRef": {"name": groups[i % args.groups]}})
            for i in range(args.packages)])
        wait_until(lambda: ready_count(custom_objects, "modelpackages") == args.packages
                   and ready_count(custom_objects, "models") == args.packages, timeout, "every object Ready")
        elapsed = time.monotonic() - started
        created_calls = sagemaker_calls(emulator)

        # Phase 2: nothing changes.
        steady = steady_state(world, "modelpackages", args.steady_minutes)
        objects = 2 * args.packages
        record = {
            **base_record("registry", objects, 0.0, args.poll_interval),
            "groups": args.groups,
            "model_packages": args.packages,
            "models": args.packages,
            "ready_per_second": round(objects / elapsed, 1),
            "sagemaker_calls_per_object_to_ready": {op: round(n / objects, 2)
                                                    for op, n in sorted(created_calls.items())},
            **steady,
        }
        print(json.dumps(record, indent=2))
        results = REPO / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / f"registry-{args.packages}.json").write_text(json.dumps(record, indent=2) + "\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
