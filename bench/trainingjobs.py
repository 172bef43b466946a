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

import datetime
import sys
import time

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from measure import (NAMESPACE, StatusWatch, arguments, base_record, create_all, life_cycle, listed, percentile,
                     process_footprint, save, steady_state, table_row, wait_until)
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
    args = arguments(__doc__, "jobs")
    timeout = 600 + args.jobs

    with local_world("kubemaker-bench-", args.poll_interval) as world:
        emulator = world.emulator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        watch = StatusWatch(custom_objects, PLURAL, "trainingJobArn", "secondaryStatus")
        try:
            if args.throttle:
                emulator.control.set_faults(rate=args.throttle, kinds=["throttle"], seed=1)

            # Phase 1: the whole life of N jobs.
            names = [f"life-{i:05d}" for i in range(args.jobs)]
            life = life_cycle(world, custom_objects, watch, [training_job(n) for n in names], timeout,
                              f"trainingjobs-{args.jobs}" if args.profile else None)
            last_sagemaker_create = max(job["CreationTime"].timestamp() for job in listed(
                emulator.client("sagemaker"), "list_training_jobs", "TrainingJobSummaries"))
            latencies = transition_latencies(watch, names)

            # Phase 2: N jobs running, nothing changing.
            emulator.control.set_timings(training_training=24 * 3600)
            steady_names = [f"steady-{i:05d}" for i in range(args.jobs)]
            create_all(custom_objects, PLURAL, [training_job(n) for n in steady_names])
            wait_until(lambda: watch.all_seen(steady_names, "Training"), timeout, "all steady jobs Training")
            time.sleep(args.poll_interval * 2)
            steady = steady_state(world, PLURAL, args.steady_minutes)

            # Phase 3: changes to some of N running jobs.
            failed = steady_names[::max(1, args.jobs // CHANGED_JOBS)][:CHANGED_JOBS]
            for name in failed:
                emulator.control.fail_training_job(watch.latest[name]["trainingJobName"], reason="bench")
                time.sleep(1 / CHANGES_PER_SECOND)
            wait_until(lambda: watch.all_seen(failed, "Failed"), timeout, "the failed jobs' status")
            change_latencies = transition_latencies(watch, failed, only="Failed")

            record = {
                **base_record("trainingjobs", args.jobs, args.throttle, args.poll_interval),
                **life.fields("job", last_sagemaker_create),
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                "change_latency_at_steady_n_p50_seconds": percentile(change_latencies, 0.5),
                "change_latency_at_steady_n_p99_seconds": percentile(change_latencies, 0.99),
                **steady,
                "operator_peak_rss_mib": round(process_footprint(world.operator.process.pid)[1], 1),
                "faults_injected": emulator.control.call_counts()["faults"],
            }
            save(record, "TrainingJobs", table_row(record, "job", "status_latency", "change_latency_at_steady_n"))
            return 0
        finally:
            watch.stop()

if __name__ == "__main__":
    sys.exit(main())
