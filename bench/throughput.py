"""Benchmark: how fast the operator turns a burst of N new TrainingJobs into SageMaker jobs, as a
share of what the API server itself allows on this machine.

For each N, in a world of its own (control plane, emulator, operator):
1. Baselines, with no operator running, the benchmark's client 16 threads at a time (as in every
   benchmark here), each in a namespace of its own and deleted after:
   - create-only: the client creates N TrainingJobs; the API server's own rate for one write each;
   - protocol: the client makes, per object, the writes an operator needs before an ARN shows (the
     create, a finalizer, the status): the most any operator keeping that protocol can reach here.
2. The operator starts, every kind's watch opens, and nothing exists: its idle RSS.
3. Burst: the client creates N TrainingJobs the same way. Measured: created/s (N over the time
   from the first create until every status shows its SageMaker ARN) and its ratio to each
   baseline; the CPU seconds each process spent, in the baselines and until every ARN shows (which
   one bounds the burst); time to first ARN per object (from its create returning to its status
   showing the ARN), p50 and p99; peak RSS once every job is Ready; Events posted when every job
   is Ready and once posting has caught up, aggregated and dropped; and the urllib3 "Connection
   pool is full" warnings in the operator's log.

Prints one JSON record per N, writes each to bench/results/ and adds a row to docs/benchmarks.md.
It asserts nothing.

    .venv/bin/python bench/throughput.py [--sizes 10,100,200,1000,5000] [--profile]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time
import urllib.request

import kubernetes
from measure import (
    NAMESPACE,
    StatusWatch,
    base_record,
    cpu_between,
    cpu_seconds,
    percentile,
    process_footprint,
    profiled,
    save,
    wait_until,
)
from trainingjobs import PLURAL, training_job
from world import local_world

from kubemaker import API_GROUP, API_VERSION
from kubemaker.api.registry import parse_spec_as
from kubemaker.api.training_job import TrainingJobSpec, build_create_training_job_request
from kubemaker.conditions import build_conditions
from kubemaker.reconcile import trainingjob as planner
from kubemaker_emulator.process import DEFAULT_REGION

BASELINE_NAMESPACE = "baseline"
PROTOCOL_FINALIZER = "bench.kubemaker.io/protocol"
JSON_PATCH = "application/json-patch+json"
CLIENT_THREADS = 16
IDLE_SECONDS = 10
EVENTS_SETTLED_SECONDS = 15


def create_timed(custom_objects, namespace: str, manifests: list[dict]) -> tuple[float, dict[str, float]]:
    """Creates the objects CLIENT_THREADS at a time; the seconds it took, and when each create
    returned (wall clock)."""
    returned: dict[str, float] = {}

    def create(manifest: dict) -> None:
        custom_objects.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, manifest)
        returned[manifest["metadata"]["name"]] = time.time()

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(create, manifests))
    return time.monotonic() - started, returned


def baseline_rate(world, custom_objects, core, jobs: int) -> tuple[float, dict[str, float]]:
    """Objects/s the client alone gets from the API server, and the CPU seconds each process spent
    on it; the objects are deleted after."""
    namespace = f"{BASELINE_NAMESPACE}-create"
    manifests = baseline_manifests(core, namespace, jobs)
    # The first create pays for the client's connection and the API server's first look at the
    # kind: the operator's burst does not, so neither does the baseline.
    create_timed(custom_objects, namespace, manifests[:1])
    cpu_before = world_cpu(world)
    seconds, _ = create_timed(custom_objects, namespace, manifests[1:])
    cpu = cpu_between(cpu_before, world_cpu(world))
    custom_objects.delete_collection_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL)
    core.delete_namespace(namespace)  # never finishes without a controller-manager; harmless
    return jobs / seconds, cpu


def protocol_baseline_rate(world, custom_objects, core, jobs: int) -> tuple[float, dict[str, float]]:
    """Objects/s when the client itself makes, per object, the writes the operator's protocol needs
    before an ARN shows: the create, a finalizer (JSON patch) and the status the operator writes
    for a new job (merge patch). Its ratio to the create-only baseline is the most any operator
    keeping that protocol can reach on this API server."""
    namespace = f"{BASELINE_NAMESPACE}-protocol"
    manifests = baseline_manifests(core, namespace, jobs)
    status = new_job_status(world.emulator, manifests[0]["spec"])
    finalizer = [{"op": "add", "path": "/metadata/finalizers", "value": [PROTOCOL_FINALIZER]}]
    unfinalized = [{"op": "remove", "path": "/metadata/finalizers"}]

    def make(manifest: dict) -> None:
        name = manifest["metadata"]["name"]
        custom_objects.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, manifest)
        custom_objects.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name, finalizer,
                                                      _content_type=JSON_PATCH)
        custom_objects.patch_namespaced_custom_object_status(API_GROUP, API_VERSION, namespace, PLURAL, name,
                                                             {"status": status})

    def release(manifest: dict) -> None:
        custom_objects.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL,
                                                      manifest["metadata"]["name"], unfinalized,
                                                      _content_type=JSON_PATCH)

    make(manifests[0])
    cpu_before = world_cpu(world)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(make, manifests[1:]))
    seconds = time.monotonic() - started
    cpu = cpu_between(cpu_before, world_cpu(world))
    custom_objects.delete_collection_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL)
    with concurrent.futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(release, manifests))
    core.delete_namespace(namespace)
    return jobs / seconds, cpu


def baseline_manifests(core, namespace: str, jobs: int) -> list[dict]:
    """A namespace of the baseline's own, and jobs + 1 manifests for it (the first one warms up)."""
    core.create_namespace({"metadata": {"name": namespace}})
    manifests = [training_job(f"base-{i:05d}") for i in range(jobs + 1)]
    for manifest in manifests:
        manifest["metadata"]["namespace"] = namespace
    return manifests


def new_job_status(emulator, spec: dict) -> dict:
    """The status the operator writes once a new job exists: the planner's, from the emulator's
    description of a job made from the spec."""
    request = build_create_training_job_request(parse_spec_as(TrainingJobSpec, spec), "bench-protocol", {})
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_training_job(**request)
    description = sagemaker.describe_training_job(TrainingJobName="bench-protocol")
    plan = planner.plan_observed(spec, {}, description, {}, DEFAULT_REGION, None)
    return {**plan.status, "conditions": build_conditions(plan.health, 1, None), "observedGeneration": 1}


def world_cpu(world) -> dict[str, float]:
    """CPU seconds so far of the world's processes and of this client: which of them bounds a phase
    on this machine's cores."""
    return {**cpu_seconds(world), "benchmark client": time.process_time()}


def operator_metrics(url: str) -> dict[str, float]:
    """The operator's Event counters, summed over their labels."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("kubemaker_events_"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name.endswith("_total"):
                totals[name] = totals.get(name, 0) + float(line.rsplit(" ", 1)[1])
    return totals


def events_in(core, namespace: str) -> tuple[int, int]:
    """Event objects in the namespace, and the occurrences they count."""
    events = core.list_namespaced_event(namespace).items
    return len(events), sum(event.count or 1 for event in events)


def settled_events(core, timeout: float) -> tuple[int, int]:
    """The namespace's Events once posting has caught up (no new occurrence for EVENTS_SETTLED_SECONDS):
    in a burst they trail status."""
    deadline = time.monotonic() + timeout
    last, since = events_in(core, NAMESPACE), time.monotonic()
    while time.monotonic() - since < EVENTS_SETTLED_SECONDS and time.monotonic() < deadline:
        time.sleep(1)
        now = events_in(core, NAMESPACE)
        if now != last:
            last, since = now, time.monotonic()
    return last


def run(jobs: int, poll_interval: float, profile: bool) -> dict:
    timeout = 600 + jobs
    with local_world("kubemaker-throughput-", poll_interval, start_operator=False) as world:
        kubernetes.config.load_kube_config(world.kubeconfig)
        api_client = kubernetes.client.ApiClient()
        custom_objects = kubernetes.client.CustomObjectsApi(api_client)
        core = kubernetes.client.CoreV1Api(api_client)
        baseline, baseline_cpu = baseline_rate(world, custom_objects, core, jobs)
        protocol, protocol_cpu = protocol_baseline_rate(world, custom_objects, core, jobs)

        operator = world.start_operator()
        time.sleep(IDLE_SECONDS)
        idle_rss = process_footprint(operator.process.pid, "VmRSS")[1]

        watch = StatusWatch(custom_objects, PLURAL, "trainingJobArn", "secondaryStatus")
        try:
            names = [f"burst-{i:05d}" for i in range(jobs)]
            started = time.time()
            cpu_before = world_cpu(world)
            with profiled(operator.process.pid if profile else None, f"throughput-{jobs}"):
                create_seconds, returned = create_timed(custom_objects, NAMESPACE, [training_job(n) for n in names])
                wait_until(lambda: watch.all_seen(names, "created"), timeout, "every ARN in status")
            burst_cpu = cpu_between(cpu_before, world_cpu(world))
            all_created = max(watch.first_seen[name]["created"] for name in names)
            first_arn = [max(0.0, watch.first_seen[name]["created"] - returned[name]) for name in names]
            wait_until(lambda: watch.all_seen(names, "ready"), timeout, "every job Ready")
            peak_rss = process_footprint(operator.process.pid)[1]
            events_at_ready = events_in(core, NAMESPACE)[1]
            event_objects, occurrences = settled_events(core, timeout)
            counters = operator_metrics(operator.metrics_url)
        finally:
            watch.stop()
        created_per_second = jobs / (all_created - started)
        log = (world.workdir / "operator.log").read_text(errors="replace")
        return {
            **base_record("throughput", jobs, 0.0, poll_interval),
            "baseline_created_per_second": round(baseline, 1),
            "create_api_seconds": round(create_seconds, 2),
            "baseline_cpu_seconds": baseline_cpu,
            "protocol_baseline_per_second": round(protocol, 1),
            "protocol_baseline_cpu_seconds": protocol_cpu,
            "created_share_of_protocol_baseline": round(created_per_second / protocol, 2),
            "burst_cpu_seconds": burst_cpu,
            "created_per_second": round(created_per_second, 1),
            "created_share_of_baseline": round(created_per_second / baseline, 2),
            "time_to_first_arn_p50_seconds": percentile(first_arn, 0.5),
            "time_to_first_arn_p99_seconds": percentile(first_arn, 0.99),
            "operator_idle_rss_mib": round(idle_rss, 1),
            "operator_peak_rss_mib": round(peak_rss, 1),
            "event_occurrences_when_all_ready": events_at_ready,
            "event_objects": event_objects,
            "event_occurrences": occurrences,
            "event_counters": counters,
            "connection_pool_full_warnings": log.count("Connection pool is full"),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,200,1000,5000")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="sample the operator with py-spy during the burst")
    args = parser.parse_args()
    for jobs in (int(size) for size in args.sizes.split(",")):
        record = run(jobs, args.poll_interval, args.profile)
        cpu = record["burst_cpu_seconds"]
        save(record, "Throughput", [
            record["date"][:10], jobs, record["baseline_created_per_second"], record["protocol_baseline_per_second"],
            record["created_per_second"], record["created_share_of_baseline"],
            record["created_share_of_protocol_baseline"],
            f"{record['time_to_first_arn_p50_seconds']} / {record['time_to_first_arn_p99_seconds']}",
            f"{cpu['kube-apiserver']} / {cpu['operator']} / {cpu['emulator']} / {cpu['benchmark client']}",
            record["operator_idle_rss_mib"], record["operator_peak_rss_mib"],
            f"{record['event_occurrences']} in {record['event_objects']}",
            int(record["event_counters"].get("kubemaker_events_dropped_total", 0)),
            record["connection_pool_full_warnings"],
        ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
