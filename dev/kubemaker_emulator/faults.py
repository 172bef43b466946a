"""Fault injection and call counting, for tests of retries and for benchmarks."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("throttle", "5xx", "latency", "validation")
# Services faults may target, as named in the request's signing scope.
FAULT_SERVICES = ("sagemaker", "application-autoscaling")


@dataclass
class FaultRule:
    rate: float
    kinds: tuple[str, ...]
    operations: frozenset[str] | None
    services: frozenset[str]
    latency_ms: int
    remaining: int | None
    message: str | None = None


@dataclass
class Fault:
    kind: str
    latency_ms: int = 0
    # For 5xx: alternates InternalFailure (500) and ServiceUnavailable (503).
    status: int = 400
    message: str | None = None  # for validation: SageMaker's words to answer with


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rule: FaultRule | None = None
        self._random = random.Random()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._faults: Counter[str] = Counter()
        self._faulted_calls: Counter[tuple[str, str]] = Counter()

    def configure(
        self,
        rate: float = 1.0,
        kinds: list[str] | None = None,
        operations: list[str] | None = None,
        services: list[str] | None = None,
        latency_ms: int = 0,
        count: int | None = None,
        seed: int | None = None,
        message: str | None = None,
    ) -> None:
        kinds = kinds or ["throttle"]
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {list(FAULT_KINDS)}")
        services = services or ["sagemaker"]
        unknown = sorted(set(services) - set(FAULT_SERVICES))
        if unknown:
            raise ValueError(f"faults apply to {list(FAULT_SERVICES)}, not {unknown}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, not {rate}")
        if "latency" in kinds and latency_ms <= 0:
            raise ValueError("latency faults need latency_ms > 0")
        with self._lock:
            self._rule = FaultRule(
                rate=rate,
                kinds=tuple(kinds),
                operations=frozenset(operations) if operations else None,
                services=frozenset(services),
                latency_ms=latency_ms,
                remaining=count,
                message=message,
            )
            if seed is not None:
                self._random.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._rule = None

    def on_call(self, service: str, operation: str) -> Fault | None:
        """Counts the call and decides whether it is faulted."""
        with self._lock:
            self._calls[(service, operation)] += 1
            rule = self._rule
            if rule is None or service not in rule.services:
                return None
            if rule.operations is not None and operation not in rule.operations:
                return None
            if self._random.random() >= rule.rate:
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rule = None
            kind = self._random.choice(rule.kinds)
            self._faults[kind] += 1
            self._faulted_calls[(service, operation)] += 1
            status = 400
            if kind == "5xx":
                status = 500 if self._faults[kind] % 2 else 503
            return Fault(kind=kind, latency_ms=rule.latency_ms, status=status, message=rule.message)

    def counts(self) -> dict[str, Any]:
        with self._lock:
            calls: dict[str, dict[str, int]] = {}
            for (service, operation), count in sorted(self._calls.items()):
                calls.setdefault(service, {})[operation] = count
            faulted: dict[str, dict[str, int]] = {}
            for (service, operation), count in sorted(self._faulted_calls.items()):
                faulted.setdefault(service, {})[operation] = count
            return {"calls": calls, "faults": dict(self._faults), "faulted_calls": faulted}

    def reset_counts(self) -> None:
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._faulted_calls.clear()
