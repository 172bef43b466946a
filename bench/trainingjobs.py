"""Benchmark: the operator with N TrainingJobs, against its own local control plane and emulator.

Phase 1 (life cycle): N jobs are created concurrently through the Kubernetes API and run to
Completed (the emulator's fast timings). Measured: objects/s from create to the SageMaker job
existing and to Ready; p50/p99 latency from a SageMaker state change (the transition's start time)
to the status showing it, seen through a watch; SageMaker calls and Kubernetes writes per object.
Phase 2 (steady state): N more jobs stay in Training; SageMaker calls per minute while nothing
changes. Footprint: the operator's CPU seconds and peak RSS. Prints a JSON record, writes it to
bench/results/ and appends a row to docs/benchmarks.md. It asserts nothing.

    .venv/bin/python bench/trainingjobs.py --jobs 100 [--throttle 0.1] [--steady-minutes 1]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import platform
import re
import ssl
import sys
import threading
import time
import urllib.request
from pathlib import Path

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from kubemaker.devenv.controlplane import LocalControlPlane
from world import REPO, local_world

NAMESPACE = "default"


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


class StatusWatch:
    """Records when each object's status first showed each secondary status (receipt time)."""

    def __init__(self, custom_objects):
        self.custom_objects = custom_objects
        self.first_seen: dict[str, dict[str, float]] = {}
        self.transitions: dict[str, list[dict]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(self.custom_objects.list_namespaced_custom_object, API_GROUP, API_VERSION,
                                          NAMESPACE, "trainingjobs", timeout_seconds=60):
                    now = time.time()
                    obj = event["object"]
                    status = obj.get("status") or {}
                    seen = self.first_seen.setdefault(obj["metadata"]["name"], {})
                    for key in ("trainingJobArn",):
                        if status.get(key):
                            seen.setdefault("created", now)
                    if status.get("secondaryStatus"):
                        seen.setdefault(status["secondaryStatus"], now)
                    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready" and c["status"] == "True"]
                    if ready:
                        seen.setdefault("ready", now)
                    self.transitions[obj["metadata"]["name"]] = status.get("secondaryStatusTransitions") or []
                    if self._stop.is_set():
                        break
            except Exception:  # the watch is re-opened; a benchmark must not die on a dropped stream
                time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)


def create_all(custom_objects, names: list[str], threads: int = 16) -> float:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda n: custom_objects.create_namespaced_custom_object(
            API_GROUP, API_VERSION, NAMESPACE, "trainingjobs", training_job(n)), names))
    return time.monotonic() - started


def wait_until(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic()


def apiserver_writes(control_plane: LocalControlPlane) -> dict[str, float]:
    """Mutating requests by resource, from the API server's own metrics."""
    context = ssl.create_default_context(cafile=str(control_plane._ca))
    request = urllib.request.Request(f"{control_plane.server_url}/metrics",
                                     headers={"Authorization": f"Bearer {control_plane.token}"})
    text = urllib.request.urlopen(request, context=context, timeout=10).read().decode()
    writes: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE"):
                key = f"{labels.get('resource')}/{labels.get('subresource') or ''}".rstrip("/")
                writes[key] = writes.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return writes


def process_footprint(pid: int) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    peak = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    return ticks / 100, peak / 1024


def sagemaker_calls(emulator) -> dict[str, int]:
    return emulator.control.call_counts()["calls"].get("sagemaker", {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--throttle", type=float, default=0.0, help="share of SageMaker calls throttled")
    parser.add_argument("--steady-minutes", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    args = parser.parse_args()

    with local_world("kubemaker-bench-", args.poll_interval) as world:
        control_plane, emulator, operator = world.control_plane, world.emulator, world.operator
        kubeconfig = world.kubeconfig
        watch = None
        try:
            kubernetes.config.load_kube_config(kubeconfig)
            custom_objects = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient())
            watch = StatusWatch(custom_objects)
            if args.throttle:
                emulator.control.set_faults(rate=args.throttle, kinds=["throttle"], seed=1)

            # Phase 1: the whole life of N jobs.
            names = [f"life-{i:05d}" for i in range(args.jobs)]
            emulator.control.reset_call_counts()
            writes_before = apiserver_writes(control_plane)
            started = time.monotonic()
            create_seconds = create_all(custom_objects, names)
            all_created = wait_until(lambda: all("created" in watch.first_seen.get(n, {}) for n in names),
                                     1800, "all jobs created in SageMaker")
            all_ready = wait_until(lambda: all("ready" in watch.first_seen.get(n, {}) for n in names),
                                   1800, "all jobs Ready")
            time.sleep(2)
            life_calls = sagemaker_calls(emulator)
            writes_after = apiserver_writes(control_plane)
            latencies = []
            for name in names:
                for transition in watch.transitions.get(name, []):
                    seen = watch.first_seen.get(name, {}).get(transition["status"])
                    if seen and transition.get("startTime"):
                        changed = datetime.datetime.fromisoformat(transition["startTime"]).timestamp()
                        latencies.append(max(0.0, seen - changed))
            writes = {key: writes_after.get(key, 0) - writes_before.get(key, 0) for key in writes_after}
            operator_writes = {key: value for key, value in writes.items() if value and key != "trainingjobs"}

            # Phase 2: N jobs running, nothing changing.
            emulator.control.set_timings(training_training=24 * 3600)
            steady_names = [f"steady-{i:05d}" for i in range(args.jobs)]
            create_all(custom_objects, steady_names)
            wait_until(lambda: all(watch.first_seen.get(n, {}).get("Training") for n in steady_names),
                       1800, "all steady jobs Training")
            time.sleep(args.poll_interval * 2)
            emulator.control.reset_call_counts()
            cpu_before, _ = process_footprint(operator.process.pid)
            time.sleep(args.steady_minutes * 60)
            steady = sagemaker_calls(emulator)
            cpu_after, peak_rss = process_footprint(operator.process.pid)
            faults = emulator.control.call_counts()["faults"]

            record = {
                "benchmark": "trainingjobs",
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, python {platform.python_version()}",
                "jobs": args.jobs,
                "throttle_rate": args.throttle,
                "poll_interval_seconds": args.poll_interval,
                "create_api_seconds": round(create_seconds, 2),
                "created_per_second": round(args.jobs / (all_created - started), 1),
                "ready_per_second": round(args.jobs / (all_ready - started), 1),
                "status_latency_p50_seconds": percentile(latencies, 0.5),
                "status_latency_p99_seconds": percentile(latencies, 0.99),
                "sagemaker_calls_per_job": {op: round(n / args.jobs, 2) for op, n in sorted(life_calls.items())},
                "kubernetes_writes_per_job": {k: round(v / args.jobs, 2) for k, v in sorted(operator_writes.items())},
                "steady_calls_per_minute": round(sum(steady.values()) / args.steady_minutes, 1),
                "steady_calls_by_operation": steady,
                "operator_cpu_seconds_per_steady_minute": round((cpu_after - cpu_before) / args.steady_minutes, 2),
                "operator_peak_rss_mib": round(peak_rss, 1),
                "faults_injected_in_steady_phase": faults,
            }
            print(json.dumps(record, indent=2))
            results = REPO / "bench" / "results"
            results.mkdir(exist_ok=True)
            (results / f"trainingjobs-{args.jobs}-{int(args.throttle * 100)}.json").write_text(json.dumps(record, indent=2))
            with open(REPO / "docs" / "benchmarks.md", "a") as table:
                table.write(
                    f"| {record['date'][:10]} | {args.jobs} | {int(args.throttle * 100)}% | {record['created_per_second']} | "
                    f"{record['ready_per_second']} | {record['status_latency_p50_seconds']} / "
                    f"{record['status_latency_p99_seconds']} | "
                    f"{sum(record['sagemaker_calls_per_job'].values()):.1f} | "
                    f"{sum(record['kubernetes_writes_per_job'].values()):.1f} | {record['steady_calls_per_minute']} | "
                    f"{record['operator_peak_rss_mib']} |\n"
                )
            return 0
        finally:
            if watch:
                watch.stop()


if __name__ == "__main__":
    sys.exit(main())
