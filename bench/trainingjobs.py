"""Benchmark: the operator with N TrainingJobs, against its own local control plane and emulator.

Phase 1 (life cycle): N jobs are created concurrently through the Kubernetes API and run to
Completed (the emulator's fast timings). Measured: objects/s from create to the SageMaker job
existing and to Ready; p50/p99 latency from a SageMaker state change (the transition's start time)
to the status showing it, seen through a watch; SageMaker calls and Kubernetes writes per object.
Phase 2 (steady state): N more jobs stay in Training; SageMaker calls and Kubernetes writes per
minute while nothing changes. Phase 3 (changes at scale): with those N jobs running, SageMaker fails
a sample of them one at a time (10 a second); p50/p99 latency from each failure to the status
showing it. Footprint: the operator's CPU seconds, and its peak RSS with N objects (end of phase 1)
and with 2N (the end). Prints a JSON record, writes it to bench/results/ and adds a row to
docs/benchmarks.md. It asserts nothing.

    .venv/bin/python bench/trainingjobs.py --jobs 100 [--throttle 0.1] [--steady-minutes 1] [--profile]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import (NAMESPACE, StatusWatch, apiserver_writes, base_record, cpu_between, cpu_seconds, create_all,
                     listed, per_object, percentile, process_footprint, profiled, sagemaker_calls, save, wait_until,
                     writes_between)
from world import local_world

PLURAL = "trainingjobs"
CHANGED_JOBS = 100
CHANGES_PER_SECOND = 10


def training_job(name: str) -> dict:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "algorithmSpecification": {"trainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                                       "trainingInputMode": "File"},
            "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "outputDataConfig": {"s3OutputPath": "s3://bench/out"},
            "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
            "stoppingCondition": {"maxRuntimeInSeconds": 86400},
        },
    }


def transition_latencies(watch: StatusWatch, names: list[str], only: str | None = None) -> list[float]:
    """Seconds from each secondary-status transition SageMaker reports to the status showing it."""
    latencies = []
    for name in names:
        for transition in watch.latest.get(name, {}).get("secondaryStatusTransitions") or []:
            seen = watch.first_seen.get(name, {}).get(transition["status"])
            if seen and transition.get("startTime") and only in (None, transition["status"]):
                changed = datetime.datetime.fromisoformat(transition["startTime"]).timestamp()
                latencies.append(max(0.0, seen - changed))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--throttle", type=float, default=0.0, help="share of SageMaker calls throttled")
    parser.add_argument("--steady-minutes", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="sample the operator with py-spy while objects are created")
    args = parser.parse_args()
    timeout = 600 + args.jobs

    with local_world("kubemaker-bench-", args.poll_interval) as world:
        emulator, operator = world.emulator, world.operator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        watch = StatusWatch(custom_objects, PLURAL, "trainingJobArn", "secondaryStatus")
        try:
            if args.throttle:
                emulator.control.set_faults(rate=args.throttle, kinds=["throttle"], seed=1)

            # Phase 1: the whole life of N jobs.
            names = [f"life-{i:05d}" for i in range(args.jobs)]
            emulator.control.reset_call_counts()
            writes_before = apiserver_writes(world.control_plane)
            cpu_at_start = cpu_seconds(world)
            started, started_at = time.monotonic(), time.time()
            with profiled(operator.process.pid if args.profile else None, f"trainingjobs-{args.jobs}"):
                create_seconds = create_all(custom_objects, PLURAL, [training_job(n) for n in names])
                all_created = wait_until(lambda: watch.all_seen(names, "created"), timeout, "all jobs created in SageMaker")
                all_ready = wait_until(lambda: watch.all_seen(names, "ready"), timeout, "all jobs Ready")
            cpu_to_ready = cpu_between(cpu_at_start, cpu_seconds(world))
            time.sleep(2)
            _, peak_rss_with_n = process_footprint(operator.process.pid)
            life_calls = sagemaker_calls(emulator)
            last_sagemaker_create = max(job["CreationTime"].timestamp() for job in listed(
                emulator.client("sagemaker"), "list_training_jobs", "TrainingJobSummaries"))
            operator_writes = writes_between(writes_before, apiserver_writes(world.control_plane), PLURAL)
            latencies = transition_latencies(watch, names)

            # Phase 2: N jobs running, nothing changing.
            emulator.control.set_timings(training_training=24 * 3600)
            steady_names = [f"steady-{i:05d}" for i in range(args.jobs)]
            create_all(custom_objects, PLURAL, [training_job(n) for n in steady_names])
            wait_until(lambda: watch.all_seen(steady_names, "Training"), timeout, "all steady jobs Training")
            time.sleep(args.poll_interval * 2)
            emulator.control.reset_call_counts()
            cpu_before, rss_before = process_footprint(operator.process.pid, "VmRSS")
            steady_writes_before = apiserver_writes(world.control_plane)
            time.sleep(args.steady_minutes * 60)
            steady = sagemaker_calls(emulator)
            steady_writes = writes_between(steady_writes_before, apiserver_writes(world.control_plane), PLURAL)
            cpu_after, rss_after = process_footprint(operator.process.pid, "VmRSS")

            # Phase 3: changes to some of N running jobs.
            failed = steady_names[::max(1, args.jobs // CHANGED_JOBS)][:CHANGED_JOBS]
            for name in failed:
                emulator.control.fail_training_job(watch.latest[name]["trainingJobName"], reason="bench")
                time.sleep(1 / CHANGES_PER_SECOND)
            wait_until(lambda: watch.all_seen(failed, "Failed"), timeout, "the failed jobs' status")
            change_latencies = transition_latencies(watch, failed, only="Failed")
            _, peak_rss = process_footprint(operator.process.pid)

            record = {
                **base_record("trainingjobs", args.jobs, args.throttle, args.poll_interval),
                "create_api_seconds": round(create_seconds, 2),
                "created_in_sagemaker_per_second": round(args.jobs / (last_sagemaker_create - started_at), 1),
                "created_per_second": round(args.jobs / (all_created - started), 1),
                "ready_per_second": round(args.jobs / (all_ready - started), 1),
                "cpu_seconds_create_to_ready": cpu_to_ready,
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                "change_latency_at_steady_n_p50_seconds": percentile(change_latencies, 0.5),
                "change_latency_at_steady_n_p99_seconds": percentile(change_latencies, 0.99),
                "sagemaker_calls_per_job": per_object(life_calls, args.jobs),
                "kubernetes_writes_per_job": per_object(operator_writes, args.jobs),
                "steady_calls_per_minute": round(sum(steady.values()) / args.steady_minutes, 1),
                "steady_calls_by_operation": steady,
                "steady_kubernetes_writes_per_minute": round(sum(steady_writes.values()) / args.steady_minutes, 1),
                "operator_cpu_seconds_per_steady_minute": round((cpu_after - cpu_before) / args.steady_minutes, 2),
                "operator_peak_rss_with_n_objects_mib": round(peak_rss_with_n, 1),
                "operator_peak_rss_mib": round(peak_rss, 1),
                "operator_rss_at_steady_start_and_end_mib": [round(rss_before, 1), round(rss_after, 1)],
                "faults_injected": emulator.control.call_counts()["faults"],
            }
            save(record, "TrainingJobs", [
                record["date"][:10], args.jobs, f"{int(args.throttle * 100)}%",
                f"{record['created_in_sagemaker_per_second']} / {record['created_per_second']}",
                record["ready_per_second"],
                f"{record['status_latency_p50_seconds']} / {record['status_latency_p99_seconds']}",
                f"{record['change_latency_at_steady_n_p50_seconds']} / {record['change_latency_at_steady_n_p99_seconds']}",
                f"{sum(record['sagemaker_calls_per_job'].values()):.1f}",
                f"{sum(record['kubernetes_writes_per_job'].values()):.1f}", record["steady_calls_per_minute"],
                f"{record['operator_peak_rss_with_n_objects_mib']} / {record['operator_peak_rss_mib']}",
            ])
            return 0
        finally:
            watch.stop()


if __name__ == "__main__":
    sys.exit(main())
