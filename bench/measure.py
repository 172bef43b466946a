"""What every benchmark measures the same way: when objects' status showed what (through a watch),
percentiles, Kubernetes writes from the API server's own metrics, the operator's footprint from
/proc, SageMaker calls from the emulator, and where the record and the table row go."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import math
import os
import platform
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
import urllib.request
from pathlib import Path
from typing import Iterator

import kubernetes

from kubemaker import API_GROUP, API_VERSION
from kubemaker_dev.controlplane import LocalControlPlane
from world import REPO

NAMESPACE = "default"


class StatusWatch:
    """Records, per object, when its status first showed its SageMaker ARN ("created"), each value
    of its state field, and Ready; keeps the latest status too."""

    def __init__(self, custom_objects, plural: str, arn_field: str, state_field: str):
        self.custom_objects = custom_objects
        self.plural, self.arn_field, self.state_field = plural, arn_field, state_field
        self.first_seen: dict[str, dict[str, float]] = {}
        self.latest: dict[str, dict] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(self.custom_objects.list_namespaced_custom_object, API_GROUP, API_VERSION,
                                          NAMESPACE, self.plural, timeout_seconds=60):
                    self._see(event["object"], time.time())
                    if self._stop.is_set():
                        break
            except Exception:  # the watch is re-opened; a benchmark must not die on a dropped stream
                time.sleep(0.5)

    def _see(self, obj: dict, now: float) -> None:
        status = obj.get("status") or {}
        name = obj["metadata"]["name"]
        seen = self.first_seen.setdefault(name, {})
        if status.get(self.arn_field):
            seen.setdefault("created", now)
        if status.get(self.state_field):
            seen.setdefault(status[self.state_field], now)
        if any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []):
            seen.setdefault("ready", now)
        self.latest[name] = status

    def all_seen(self, names: list[str], what: str) -> bool:
        return all(what in self.first_seen.get(name, {}) for name in names)

    def stop(self) -> None:
        self._stop.set()


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)


def create_all(custom_objects, plural: str, manifests: list[dict], threads: int = 16) -> float:
    """Creates the objects concurrently, as many clients would; returns the seconds it took."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda manifest: custom_objects.create_namespaced_custom_object(
            API_GROUP, API_VERSION, NAMESPACE, plural, manifest), manifests))
    return time.monotonic() - started


def wait_until(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic()


def apiserver_writes(control_plane: LocalControlPlane) -> dict[str, float]:
    """Mutating requests by verb and resource ("PATCH trainingjobs/status"), from the API server's
    own metrics."""
    context = ssl.create_default_context(cafile=str(control_plane._ca))
    request = urllib.request.Request(f"{control_plane.server_url}/metrics",
                                     headers={"Authorization": f"Bearer {control_plane.token}"})
    text = urllib.request.urlopen(request, context=context, timeout=10).read().decode()
    writes: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE"):
                key = f"{labels['verb']} {labels.get('resource')}/{labels.get('subresource') or ''}".rstrip("/")
                writes[key] = writes.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return writes


def writes_between(before: dict[str, float], after: dict[str, float], users_resource: str) -> dict[str, float]:
    """The operator's writes: everything but the benchmark's own creates of `users_resource` and the
    API server's renewals of its own lease."""
    delta = {key: value - before.get(key, 0) for key, value in after.items()}
    return {key: value for key, value in delta.items()
            if value and key != f"POST {users_resource}" and not key.endswith(" leases")}


def process_footprint(pid: int, memory: str = "VmHWM") -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of a process, from /proc; memory="VmRSS" for the RSS now."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    kib = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith(f"{memory}:"))
    return ticks / os.sysconf("SC_CLK_TCK"), kib / 1024


def cpu_seconds(world) -> dict[str, float]:
    """CPU seconds so far of every process of the world (the operator's once it runs): shows which
    one bounds a phase."""
    pids = {name: process.pid for name, process in world.control_plane.processes.items()}
    pids["emulator"] = world.emulator.process.pid
    if world.operator.process is not None:
        pids["operator"] = world.operator.process.pid
    return {name: process_footprint(pid)[0] for name, pid in pids.items()}


def cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 1) for name in after}


def listed(client, operation: str, key: str) -> list[dict]:
    """Every summary a SageMaker List operation returns, all pages."""
    return [item for page in client.get_paginator(operation).paginate() for item in page[key]]


def sagemaker_calls(emulator) -> dict[str, int]:
    return emulator.control.call_counts()["calls"].get("sagemaker", {})


def per_object(counts: dict[str, float], objects: int) -> dict[str, float]:
    return {key: round(value / objects, 2) for key, value in sorted(counts.items())}


def arguments(doc: str, count: str) -> argparse.Namespace:
    """The options every benchmark takes; `count` names how many objects (--jobs, --endpoints)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(f"--{count}", type=int, default=100)
    parser.add_argument("--throttle", type=float, default=0.0, help="share of SageMaker calls throttled")
    parser.add_argument("--steady-minutes", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="sample the operator with py-spy while objects are created")
    return parser.parse_args()


def base_record(benchmark: str, objects: int, throttle: float, poll_interval: float) -> dict:
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
        "objects": objects,
        "throttle_rate": throttle,
        "poll_interval_seconds": poll_interval,
    }


def save(record: dict, section: str, row: list) -> None:
    """Prints the record, writes it to bench/results/ and adds a row to the section's table in
    docs/benchmarks.md (the table under the heading that starts with `section`)."""
    print(json.dumps(record, indent=2))
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    stem = f"{record['benchmark']}-{record['objects']}-{int(record['throttle_rate'] * 100)}"
    (results / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    page = REPO / "docs" / "benchmarks.md"
    lines = page.read_text().splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith(f"## {section}"))
    table_start = next(i for i in range(heading, len(lines)) if lines[i].startswith("|"))
    table_end = next((i for i in range(table_start, len(lines)) if not lines[i].startswith("|")), len(lines))
    lines.insert(table_end, "| " + " | ".join(str(cell) for cell in row) + " |")
    page.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def profiled(pid: int | None, name: str) -> Iterator[None]:
    """Samples the process with py-spy while the block runs (pid None: no profiling); writes the
    collapsed stacks to bench/results/ and prints where the operator spends its time."""
    if pid is None:
        yield
        return
    stacks = REPO / "bench" / "results" / f"{name}.stacks"
    stacks.parent.mkdir(exist_ok=True)
    sampler = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid),
                                "--format", "raw", "--rate", "50", "--gil", "--nolineno", "--nonblocking",
                                "--output", str(stacks)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=60)
    print(hot_spots(stacks))


def hot_spots(stacks: Path, top: int = 20) -> str:
    """The functions in the most samples, inclusive and on their own, from py-spy's collapsed stacks
    (sampled only while a thread holds the GIL, so this is where the operator's Python CPU goes)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in stacks.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # py-spy's own remarks, not a stack
        total += int(count)
        for frame in set(frames.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        leaf = frames.rsplit(";", 1)[-1]
        own[leaf] = own.get(leaf, 0) + int(count)
    lines = [f"samples holding the GIL: {total}"]
    for title, counts in (("inclusive", inclusive), ("own", own)):
        lines.append(f"-- {title}")
        for frame, count in sorted(counts.items(), key=lambda item: -item[1])[:top]:
            lines.append(f"{100 * count / max(total, 1):5.1f}%  {frame}")
    return "\n".join(lines)


@dataclass
class LifeCycle:
    """Phase 1 of a benchmark: N objects created together and run to Ready."""

    objects: int
    create_api_seconds: float
    started: float  # wall clock, to compare with SageMaker's CreationTime
    created_seconds: float  # until every status showed its ARN
    ready_seconds: float
    cpu_seconds: dict[str, float]
    calls: dict[str, int]
    writes: dict[str, float]
    peak_rss: float

    def fields(self, noun: str, last_sagemaker_create: float) -> dict:
        return {
            "create_api_seconds": round(self.create_api_seconds, 2),
            "created_in_sagemaker_per_second": round(self.objects / (last_sagemaker_create - self.started), 1),
            "created_per_second": round(self.objects / self.created_seconds, 1),
            "ready_per_second": round(self.objects / self.ready_seconds, 1),
            "cpu_seconds_create_to_ready": self.cpu_seconds,
            f"sagemaker_calls_per_{noun}": per_object(self.calls, self.objects),
            f"kubernetes_writes_per_{noun}": per_object(self.writes, self.objects),
            "operator_peak_rss_with_n_objects_mib": round(self.peak_rss, 1),
        }


def life_cycle(world, custom_objects, watch: StatusWatch, manifests: list[dict], timeout: float,
               profile_name: str | None) -> LifeCycle:
    """Creates the objects together and waits until SageMaker has each and each is Ready, counting
    what it cost; samples the operator with py-spy meanwhile when given a profile name."""
    names = [manifest["metadata"]["name"] for manifest in manifests]
    pid = world.operator.process.pid
    world.emulator.control.reset_call_counts()
    writes_before = apiserver_writes(world.control_plane)
    cpu_at_start = cpu_seconds(world)
    started, started_at = time.monotonic(), time.time()
    with profiled(pid if profile_name else None, profile_name or ""):
        create_api_seconds = create_all(custom_objects, watch.plural, manifests)
        all_created = wait_until(lambda: watch.all_seen(names, "created"), timeout, f"all {watch.plural} created")
        all_ready = wait_until(lambda: watch.all_seen(names, "ready"), timeout, f"all {watch.plural} Ready")
    cpu = cpu_between(cpu_at_start, cpu_seconds(world))
    time.sleep(2)  # the last status writes and Events land
    return LifeCycle(
        len(names), create_api_seconds, started_at, all_created - started, all_ready - started, cpu,
        sagemaker_calls(world.emulator), writes_between(writes_before, apiserver_writes(world.control_plane),
                                                        watch.plural),
        process_footprint(pid)[1],
    )


def settle(world, window: float = 10, timeout: float = 600) -> None:
    """Waits until the operator describes nothing for a whole window: after a burst, objects whose
    passes were queued still catch up on changes their status already shows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        world.emulator.control.reset_call_counts()
        time.sleep(window)
        if not any(operation.startswith("Describe") for operation in sagemaker_calls(world.emulator)):
            return
    raise SystemExit(f"the operator kept describing for {timeout}s with nothing changing")


def steady_state(world, plural: str, minutes: float) -> dict:
    """What the operator calls and writes, its CPU and its RSS over `minutes` while nothing changes."""
    settle(world)
    pid = world.operator.process.pid
    world.emulator.control.reset_call_counts()
    cpu_before, rss_before = process_footprint(pid, "VmRSS")
    writes_before = apiserver_writes(world.control_plane)
    rss_by_minute = []  # growth would show here: a leak per poll adds up over a long run
    started = time.monotonic()
    for minute in range(1, math.ceil(minutes) + 1):
        time.sleep(max(0.0, started + min(minute, minutes) * 60 - time.monotonic()))
        rss_by_minute.append(round(process_footprint(pid, "VmRSS")[1], 1))
    calls = sagemaker_calls(world.emulator)
    writes = writes_between(writes_before, apiserver_writes(world.control_plane), plural)
    cpu_after, rss_after = process_footprint(pid, "VmRSS")
    return {
        "steady_calls_per_minute": round(sum(calls.values()) / minutes, 1),
        "steady_calls_by_operation": calls,
        "steady_kubernetes_writes_per_minute": round(sum(writes.values()) / minutes, 1),
        "operator_cpu_seconds_per_steady_minute": round((cpu_after - cpu_before) / minutes, 2),
        "operator_rss_at_steady_start_and_end_mib": [round(rss_before, 1), round(rss_after, 1)],
        "operator_rss_by_steady_minute_mib": rss_by_minute,
    }


def table_row(record: dict, noun: str, *latencies: str) -> list:
    """The row docs/benchmarks.md shows for a record; `latencies` name its latency fields' stems."""
    return [
        record["date"][:10], record["objects"], f"{int(record['throttle_rate'] * 100)}%",
        f"{record['created_in_sagemaker_per_second']} / {record['created_per_second']}", record["ready_per_second"],
        *(f"{record[f'{stem}_p50_seconds']} / {record[f'{stem}_p99_seconds']}" for stem in latencies),
        f"{sum(record[f'sagemaker_calls_per_{noun}'].values()):.1f}",
        f"{sum(record[f'kubernetes_writes_per_{noun}'].values()):.1f}", record["steady_calls_per_minute"],
        f"{record['operator_peak_rss_with_n_objects_mib']} / {record['operator_peak_rss_mib']}",
    ]
