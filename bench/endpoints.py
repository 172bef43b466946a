"""Benchmark: the operator with N Endpoints of two variants each, against its own local control
plane and emulator.

Two Models are created first; then N Endpoints, each splitting traffic between them, are created
concurrently through the Kubernetes API and run to InService (the emulator's fast timings).
Measured: objects/s from create to the SageMaker endpoint existing and to Ready; p50/p99 latency
from the endpoint going InService in SageMaker (its LastModifiedTime) to the status showing it;
SageMaker calls and Kubernetes writes per endpoint; SageMaker calls per minute with N endpoints in
service and nothing changing; the operator's CPU seconds and peak RSS. Prints a JSON record,
writes it to bench/results/ and adds a row to docs/benchmarks.md. It asserts nothing.

    .venv/bin/python bench/endpoints.py --endpoints 100 [--throttle 0.1] [--steady-minutes 1]
"""

from __future__ import annotations

import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import (NAMESPACE, StatusWatch, arguments, base_record, create_all, life_cycle, listed, percentile,
                     process_footprint, save, steady_state, table_row, wait_until)
from world import local_world

PLURAL = "endpoints"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
MODELS = ("bench-model-a", "bench-model-b")


def model(name: str) -> dict:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "Model",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"executionRoleArn": ROLE, "primaryContainer": {
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
            "modelDataUrl": f"s3://bench/{name}/model.tar.gz"}},
    }


def endpoint(name: str) -> dict:
    variants = [{"variantName": f"v{i}", "modelRef": {"name": model_name}, "instanceType": "ml.m5.large",
                 "initialInstanceCount": 1, "initialVariantWeight": 50} for i, model_name in enumerate(MODELS)]
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "Endpoint",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"productionVariants": variants},
    }


def in_service_latencies(watch: StatusWatch, names: list[str], sagemaker) -> list[float]:
    """Seconds from each endpoint going InService in SageMaker to its status showing it."""
    latencies = []
    for name in names:
        described = sagemaker.describe_endpoint(EndpointName=watch.latest[name]["endpointName"])
        latencies.append(max(0.0, watch.first_seen[name]["InService"] - described["LastModifiedTime"].timestamp()))
    return latencies


def main() -> int:
    args = arguments(__doc__, "endpoints")
    timeout = 600 + 2 * args.endpoints

    with local_world("kubemaker-bench-", args.poll_interval) as world:
        emulator = world.emulator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        models = StatusWatch(custom_objects, "models", "modelArn", "modelName")
        watch = StatusWatch(custom_objects, PLURAL, "endpointArn", "endpointStatus")
        try:
            create_all(custom_objects, "models", [model(name) for name in MODELS])
            wait_until(lambda: models.all_seen(list(MODELS), "ready"), 120, "the models Ready")
            if args.throttle:
                emulator.control.set_faults(rate=args.throttle, kinds=["throttle"], seed=1)

            names = [f"bench-{i:05d}" for i in range(args.endpoints)]
            life = life_cycle(world, custom_objects, watch, [endpoint(n) for n in names], timeout,
                              f"endpoints-{args.endpoints}" if args.profile else None)
            time.sleep(args.poll_interval * 2)
            steady = steady_state(world, PLURAL, args.steady_minutes)
            faults = emulator.control.call_counts()["faults"]
            emulator.control.clear_faults()
            sagemaker = emulator.client("sagemaker")
            latencies = in_service_latencies(watch, names, sagemaker)
            last_sagemaker_create = max(endpoint["CreationTime"].timestamp() for endpoint in listed(
                sagemaker, "list_endpoints", "Endpoints"))

            record = {
                **base_record("endpoints", args.endpoints, args.throttle, args.poll_interval),
                "variants_per_endpoint": len(MODELS),
                **life.fields("endpoint", last_sagemaker_create),
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                **steady,
                "operator_peak_rss_mib": round(process_footprint(world.operator.process.pid)[1], 1),
                "faults_injected": faults,
            }
            save(record, "Endpoints", table_row(record, "endpoint", "status_latency"))
            return 0
        finally:
            watch.stop()
            models.stop()


if __name__ == "__main__":
    sys.exit(main())
