"""Small helpers for driving the cluster as a user would."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, Callable

import yaml


def apply(kubectl, manifest: dict | str, namespace: str | None = None) -> None:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
    args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
    kubectl(*args, input=text)


def get(kubectl, resource: str, namespace: str, name: str) -> dict:
    return json.loads(kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout)


def wait_for(probe: Callable[[], Any], timeout: float = 60, interval: float = 0.5,
             what: str | Callable[[], Any] = "condition") -> Any:
    """Polls `probe` until it returns something truthy; fails with the last value seen (or, when
    `what` is a callable, with what it shows, e.g. the whole object)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    if callable(what):
        raise AssertionError(f"timed out after {timeout}s; state: {what()!r}")
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def condition(obj: dict, condition_type: str) -> dict:
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found.get("type") == condition_type:
            return found
    return {}


def events_for(kubectl, namespace: str, name: str) -> list[dict]:
    listing = json.loads(
        kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout
    )
    return listing["items"]


def event_reasons(kubectl, namespace: str, name: str) -> list[str]:
    """The reason of each occurrence: an Event aggregating several (its count) counts as many."""
    return [event["reason"] for event in events_for(kubectl, namespace, name) for _ in range(event.get("count") or 1)]


@contextlib.contextmanager
def slowed(emulator, **phase_seconds: float):
    """Lengthens emulator phases (see emulator/timings.py) for the block, to act on things mid-run."""
    before = emulator.control.timings()
    emulator.control.set_timings(**phase_seconds)
    try:
        yield
    finally:
        emulator.control.set_timings(**{phase: before[phase] for phase in phase_seconds})


# Polling at the e2e interval (0.5 s) lists each kind per region and account: some dozens of calls
# in 3 s, more on a loaded machine. One object retrying without backoff makes hundreds.
HOT_LOOP_CALLS = 100


def assert_no_hot_loop(emulator, outcomes: object = "") -> None:
    """With everything settled, the operator's SageMaker calls stay at polling level."""
    emulator.control.reset_call_counts()
    time.sleep(3)
    calls = emulator.control.call_counts()["calls"].get("sagemaker", {})
    assert sum(calls.values()) < HOT_LOOP_CALLS, f"{calls} SageMaker calls in 3 s with nothing to do: {outcomes}"
