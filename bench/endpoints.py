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

import argparse
import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import (NAMESPACE, StatusWatch, apiserver_writes, base_record, cpu_between, cpu_seconds, create_all,
                     listed, per_object, percentile, process_footprint, profiled, sagemaker_calls, save, wait_until,
                     writes_between)
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--throttle", type=float, default=0.0, help="share of SageMaker calls throttled")
    parser.add_argument("--steady-minutes", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="sample the operator with py-spy while objects are created")
    args = parser.parse_args()
    timeout = 600 + 2 * args.endpoints

    with local_world("kubemaker-bench-", args.poll_interval) as world:
        emulator, operator = world.emulator, world.operator
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
            emulator.control.reset_call_counts()
            writes_before = apiserver_writes(world.control_plane)
            cpu_at_start = cpu_seconds(world)
            started, started_at = time.monotonic(), time.time()
            with profiled(operator.process.pid if args.profile else None, f"endpoints-{args.endpoints}"):
                create_seconds = create_all(custom_objects, PLURAL, [endpoint(n) for n in names])
                all_created = wait_until(lambda: watch.all_seen(names, "created"), timeout, "all endpoints created")
                all_ready = wait_until(lambda: watch.all_seen(names, "ready"), timeout, "all endpoints Ready")
            cpu_to_ready = cpu_between(cpu_at_start, cpu_seconds(world))
            time.sleep(2)
            life_calls = sagemaker_calls(emulator)
            operator_writes = writes_between(writes_before, apiserver_writes(world.control_plane), PLURAL)

            time.sleep(args.poll_interval * 2)
            emulator.control.reset_call_counts()
            cpu_before, _ = process_footprint(operator.process.pid)
            steady_writes_before = apiserver_writes(world.control_plane)
            time.sleep(args.steady_minutes * 60)
            steady = sagemaker_calls(emulator)
            steady_writes = writes_between(steady_writes_before, apiserver_writes(world.control_plane), PLURAL)
            cpu_after, peak_rss = process_footprint(operator.process.pid)
            faults = emulator.control.call_counts()["faults"]
            emulator.control.clear_faults()
            sagemaker = emulator.client("sagemaker")
            latencies = in_service_latencies(watch, names, sagemaker)
            last_sagemaker_create = max(endpoint["CreationTime"].timestamp() for endpoint in listed(
                sagemaker, "list_endpoints", "Endpoints"))

            record = {
                **base_record("endpoints", args.endpoints, args.throttle, args.poll_interval),
                "variants_per_endpoint": len(MODELS),
                "create_api_seconds": round(create_seconds, 2),
                "created_in_sagemaker_per_second": round(args.endpoints / (last_sagemaker_create - started_at), 1),
                "created_per_second": round(args.endpoints / (all_created - started), 1),
                "ready_per_second": round(args.endpoints / (all_ready - started), 1),
                "cpu_seconds_create_to_ready": cpu_to_ready,
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                "sagemaker_calls_per_endpoint": per_object(life_calls, args.endpoints),
                "kubernetes_writes_per_endpoint": per_object(operator_writes, args.endpoints),
                "steady_calls_per_minute": round(sum(steady.values()) / args.steady_minutes, 1),
                "steady_calls_by_operation": steady,
                "steady_kubernetes_writes_per_minute": round(sum(steady_writes.values()) / args.steady_minutes, 1),
                "operator_cpu_seconds_per_steady_minute": round((cpu_after - cpu_before) / args.steady_minutes, 2),
                "operator_peak_rss_mib": round(peak_rss, 1),
                "faults_injected": faults,
            }
            save(record, "Endpoints", [
                record["date"][:10], args.endpoints, f"{int(args.throttle * 100)}%",
                f"{record['created_in_sagemaker_per_second']} / {record['created_per_second']}",
                record["ready_per_second"],
                f"{record['status_latency_p50_seconds']} / {record['status_latency_p99_seconds']}",
                f"{sum(record['sagemaker_calls_per_endpoint'].values()):.1f}",
                f"{sum(record['kubernetes_writes_per_endpoint'].values()):.1f}", record["steady_calls_per_minute"],
                record["operator_peak_rss_mib"],
            ])
            return 0
        finally:
            watch.stop()
            models.stop()


if __name__ == "__main__":
    sys.exit(main())
