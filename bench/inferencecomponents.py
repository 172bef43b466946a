"""Benchmark: the operator with N InferenceComponents on one Endpoint's model-less capacity, against
its own local control plane and emulator (bench/measure.py).

One Model and one Endpoint for inference components are created first; then N components, one copy
each, are created concurrently through the Kubernetes API and run to InService (the emulator's fast
timings). Measured: objects/s from create to the SageMaker component existing and to Ready; p50/p99
latency from a component going InService in SageMaker (its LastModifiedTime) to its status showing
it; SageMaker calls and Kubernetes writes per component; SageMaker calls per minute with the N
components in service and nothing changing, which must not grow with N (one ListInferenceComponents
per poll interval and region, no describe); the operator's footprint. Prints a JSON record, writes it
to bench/results/ and adds a row to docs/benchmarks.md. It asserts nothing.

    .venv/bin/python bench/inferencecomponents.py --components 500 [--throttle 0.1] [--steady-minutes 1]
"""

from __future__ import annotations

import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import (NAMESPACE, StatusWatch, arguments, base_record, create_all, life_cycle, listed, percentile,
                     process_footprint, save, steady_state, table_row, wait_until)
from world import local_world

PLURAL = "inferencecomponents"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
MODEL = "bench-model"
ENDPOINT = "bench-capacity"


def manifest(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def component(name: str) -> dict:
    return manifest("InferenceComponent", name, {
        "endpointRef": {"name": ENDPOINT}, "variantName": "main",
        "specification": {"modelRef": {"name": MODEL},
                          "computeResourceRequirements": {"numberOfCpuCoresRequired": 1, "minMemoryRequiredInMb": 1024}},
        "runtimeConfig": {"copyCount": 1},
    })


def in_service_latencies(watch: StatusWatch, names: list[str], sagemaker) -> list[float]:
    latencies = []
    for name in names:
        described = sagemaker.describe_inference_component(
            InferenceComponentName=watch.latest[name]["inferenceComponentName"])
        latencies.append(max(0.0, watch.first_seen[name]["InService"] - described["LastModifiedTime"].timestamp()))
    return latencies


def main() -> int:
    args = arguments(__doc__, "components")
    timeout = 600 + 2 * args.components

    with local_world("kubemaker-bench-", args.poll_interval) as world:
        emulator = world.emulator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        endpoints = StatusWatch(custom_objects, "endpoints", "endpointArn", "endpointStatus")
        watch = StatusWatch(custom_objects, PLURAL, "inferenceComponentArn", "inferenceComponentStatus")
        try:
            create_all(custom_objects, "models", [manifest("Model", MODEL, {
                "executionRoleArn": ROLE, "primaryContainer": {
                    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
                    "modelDataUrl": f"s3://bench/{MODEL}/model.tar.gz"}})])
            create_all(custom_objects, "endpoints", [manifest("Endpoint", ENDPOINT, {
                "executionRoleArn": ROLE, "productionVariants": [
                    {"variantName": "main", "instanceType": "ml.g5.12xlarge", "initialInstanceCount": 10}]})])
            wait_until(lambda: endpoints.all_seen([ENDPOINT], "ready"), 120, "the endpoint Ready")
            if args.throttle:
                emulator.control.set_faults(rate=args.throttle, kinds=["throttle"], seed=1)

            names = [f"bench-{i:05d}" for i in range(args.components)]
            life = life_cycle(world, custom_objects, watch, [component(n) for n in names], timeout,
                              f"inferencecomponents-{args.components}" if args.profile else None)
            time.sleep(args.poll_interval * 2)
            steady = steady_state(world, PLURAL, args.steady_minutes)
            faults = emulator.control.call_counts()["faults"]
            emulator.control.clear_faults()
            sagemaker = emulator.client("sagemaker")
            latencies = in_service_latencies(watch, names, sagemaker)
            last_sagemaker_create = max(c["CreationTime"].timestamp() for c in listed(
                sagemaker, "list_inference_components", "InferenceComponents"))

            record = {
                **base_record("inferencecomponents", args.components, args.throttle, args.poll_interval),
                **life.fields("component", last_sagemaker_create),
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                **steady,
                "operator_peak_rss_mib": round(process_footprint(world.operator.process.pid)[1], 1),
                "faults_injected": faults,
            }
            save(record, "InferenceComponents", table_row(record, "component", "status_latency"))
            return 0
        finally:
            watch.stop()
            endpoints.stop()


if __name__ == "__main__":
    sys.exit(main())
