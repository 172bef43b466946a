"""Benchmark: the operator with N ProcessingJobs, against its own local control plane and emulator,
measured the way bench/trainingjobs.py measures TrainingJobs (bench/measure.py).

Phase 1 (life cycle): N jobs created concurrently through the Kubernetes API and run to Completed
(the emulator's fast timings): objects/s to the SageMaker job existing and to Ready, SageMaker calls
and Kubernetes writes per job. Phase 2 (steady state): N more jobs stay InProgress; SageMaker calls
and Kubernetes writes per minute while nothing changes, which must not grow with N (one
ListProcessingJobs per poll interval and region, no describe). Phase 3 (changes at scale): with those
N jobs running, SageMaker fails a sample of them (10 a second); p50/p99 latency from each failure to
the status showing it. Prints a JSON record, writes it to bench/results/ and adds a row to
docs/benchmarks.md. It asserts nothing.

    .venv/bin/python bench/processingjobs.py --jobs 500 [--throttle 0.1] [--steady-minutes 1]
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

PLURAL = "processingjobs"
CHANGED_JOBS = 100
CHANGES_PER_SECOND = 10


def processing_job(name: str) -> dict:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "ProcessingJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "appSpecification": {"imageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/prep:1"},
            "processingInputs": [{"inputName": "raw", "s3Input": {
                "s3Uri": "s3://bench/raw/", "localPath": "/opt/ml/processing/input", "s3DataType": "S3Prefix"}}],
            "processingOutputConfig": {"outputs": [{"outputName": "out", "s3Output": {
                "s3Uri": f"s3://bench/prepared/{name}/", "localPath": "/opt/ml/processing/out",
                "s3UploadMode": "EndOfJob"}}]},
            "processingResources": {"clusterConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1,
                                                      "volumeSizeInGB": 30}},
        },
    }


def main() -> int:
    args = arguments(__doc__, "jobs")
    timeout = 600 + args.jobs

    with local_world("kubemaker-bench-processing-", args.poll_interval) as world:
        emulator = world.emulator
        kubernetes.config.load_kube_config(world.kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
        watch = StatusWatch(custom_objects, PLURAL, "processingJobArn", "processingJobStatus")
        try:
            if args.throttle:
                emulator.control.set_faults(rate=args.throttle, kinds=["throttle"], seed=1)

            # Phase 1: the whole life of N jobs.
            names = [f"life-{i:05d}" for i in range(args.jobs)]
            life = life_cycle(world, custom_objects, watch, [processing_job(n) for n in names], timeout,
                              f"processingjobs-{args.jobs}" if args.profile else None)
            last_sagemaker_create = max(job["CreationTime"].timestamp() for job in listed(
                emulator.client("sagemaker"), "list_processing_jobs", "ProcessingJobSummaries"))
            # Seconds from SageMaker ending each job to its status showing Completed.
            latencies = [watch.first_seen[name]["Completed"] - time_of(watch.latest[name]["processingEndTime"])
                         for name in names if "Completed" in watch.first_seen.get(name, {})]

            # Phase 2: N jobs running, nothing changing.
            emulator.control.set_timings(processing_running=24 * 3600)
            steady_names = [f"steady-{i:05d}" for i in range(args.jobs)]
            create_all(custom_objects, PLURAL, [processing_job(n) for n in steady_names])
            wait_until(lambda: watch.all_seen(steady_names, "InProgress"), timeout, "all steady jobs InProgress")
            time.sleep(args.poll_interval * 2)
            steady = steady_state(world, PLURAL, args.steady_minutes)

            # Phase 3: changes to some of N running jobs.
            failed = steady_names[::max(1, args.jobs // CHANGED_JOBS)][:CHANGED_JOBS]
            failed_at = {}
            for name in failed:
                emulator.control.fail_processing_job(watch.latest[name]["processingJobName"], reason="bench")
                failed_at[name] = time.time()
                time.sleep(1 / CHANGES_PER_SECOND)
            wait_until(lambda: watch.all_seen(failed, "Failed"), timeout, "the failed jobs' status")
            change_latencies = [max(0.0, watch.first_seen[name]["Failed"] - failed_at[name]) for name in failed]

            record = {
                **base_record(PLURAL, args.jobs, args.throttle, args.poll_interval),
                **life.fields("job", last_sagemaker_create),
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                "change_latency_at_steady_n_p50_seconds": percentile(change_latencies, 0.5),
                "change_latency_at_steady_n_p99_seconds": percentile(change_latencies, 0.99),
                **steady,
                "operator_peak_rss_mib": round(process_footprint(world.operator.process.pid)[1], 1),
                "faults_injected": emulator.control.call_counts()["faults"],
            }
            save(record, "ProcessingJobs", table_row(record, "job", "status_latency", "change_latency_at_steady_n"))
            return 0
        finally:
            watch.stop()


def time_of(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


if __name__ == "__main__":
    sys.exit(main())
