"""Benchmark: the operator with N MonitoringSchedules on one Endpoint, against its own local control
plane and emulator (bench/measure.py measures).

Phase 1: one Model, one Endpoint capturing data, then N schedules created concurrently and brought
to Ready (Scheduled): objects/s, SageMaker calls per schedule. Phase 2 (steady state): no execution
runs; SageMaker calls per minute, which must not grow with N (one ListMonitoringSchedules and one
ListMonitoringExecutions per poll interval, no describe). Phase 3 (executions): every schedule runs
an execution every `--execution-interval` seconds; SageMaker calls per minute and describes per
execution (an execution starting and ending each wake its schedule once). Prints a JSON record and
writes it to bench/results/. It asserts nothing.

    .venv/bin/python bench/monitoringschedules.py --schedules 100 [--steady-minutes 1]
"""

from __future__ import annotations

import json
import math
import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import NAMESPACE, arguments, base_record, create_all, sagemaker_calls, steady_state, wait_until
from world import REPO, local_world

PLURAL = "monitoringschedules"
EXECUTION_INTERVAL = 60.0
EXECUTION_MINUTES = 2.0
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


def manifest(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def schedule(name: str) -> dict:
    return manifest("MonitoringSchedule", name, {
        "endpointRef": {"name": "scored"},
        "monitoringScheduleConfig": {"scheduleConfig": {"scheduleExpression": "cron(0 * ? * * *)"}},
        "dataQuality": {
            "dataQualityAppSpecification": {"imageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/analyzer"},
            "dataQualityJobInput": {"endpointInput": {"localPath": "/opt/ml/processing/input"}},
            "dataQualityJobOutputConfig": {"monitoringOutputs": [{"s3Output": {
                "s3Uri": f"s3://bench/monitoring/{name}", "localPath": "/opt/ml/processing/output"}}]},
            "jobResources": {"clusterConfig": {"instanceCount": 1, "instanceType": "ml.m5.xlarge",
                                               "volumeSizeInGB": 20}},
            "roleArn": ROLE,
        },
    })


def ready_count(custom_objects) -> int:
    items = custom_objects.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, PLURAL)["items"]
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in (i.get("status") or {}).get(
        "conditions") or []) for i in items)


def main() -> int:
    args = arguments(__doc__, "schedules")
    timeout = 600 + args.schedules
    with local_world("kubemaker-bench-monitoring-", args.poll_interval) as world:
        emulator = world.emulator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        emulator.control.set_timings(monitoring_execution_interval=24 * 3600)
        create_all(custom_objects, "models", [manifest("Model", "scored", {
            "executionRoleArn": ROLE, "primaryContainer": {
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
                "modelDataUrl": "s3://bench/model.tar.gz"}})])
        create_all(custom_objects, "endpoints", [manifest("Endpoint", "scored", {
            "productionVariants": [{"variantName": "main", "modelRef": {"name": "scored"},
                                    "instanceType": "ml.m5.large", "initialInstanceCount": 1}],
            "dataCaptureConfig": {"initialSamplingPercentage": 100, "destinationS3Uri": "s3://bench/capture",
                                  "captureOptions": [{"captureMode": "Input"}]}})])

        # Phase 1: N schedules to Ready.
        emulator.control.reset_call_counts()
        started = time.monotonic()
        create_all(custom_objects, PLURAL, [schedule(f"watch-{i:05d}") for i in range(args.schedules)])
        wait_until(lambda: ready_count(custom_objects) == args.schedules, timeout, "every schedule Ready")
        elapsed = time.monotonic() - started
        created_calls = sagemaker_calls(emulator)

        # Phase 2: nothing runs.
        steady = steady_state(world, PLURAL, args.steady_minutes)

        # Phase 3: every schedule runs executions.
        emulator.control.set_timings(monitoring_execution_interval=EXECUTION_INTERVAL)
        # Executions are armed as each schedule next becomes due: start them all within one interval.
        for item in custom_objects.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, PLURAL)["items"]:
            name = item["status"]["monitoringScheduleName"]
            emulator.client("sagemaker").update_monitoring_schedule(
                MonitoringScheduleName=name, MonitoringScheduleConfig=emulator.client("sagemaker")
                .describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleConfig"])
        time.sleep(EXECUTION_INTERVAL)
        emulator.control.reset_call_counts()
        time.sleep(EXECUTION_MINUTES * 60)
        running = sagemaker_calls(emulator)
        executions = args.schedules * math.floor(EXECUTION_MINUTES * 60 / EXECUTION_INTERVAL)

        record = {
            **base_record(PLURAL, args.schedules, args.throttle, args.poll_interval),
            "ready_per_second": round(args.schedules / elapsed, 1),
            "sagemaker_calls_per_schedule_to_ready": {op: round(n / args.schedules, 2)
                                                      for op, n in sorted(created_calls.items())},
            **steady,
            "execution_interval_seconds": EXECUTION_INTERVAL,
            "calls_per_minute_with_executions": round(sum(running.values()) / EXECUTION_MINUTES, 1),
            "calls_by_operation_with_executions": running,
            "describes_per_execution": round(running.get("DescribeMonitoringSchedule", 0) / executions, 2),
        }
        print(json.dumps(record, indent=2))
        results = REPO / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / f"monitoringschedules-{args.schedules}.json").write_text(json.dumps(record, indent=2) + "\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
