"""Leader election on a `coordination.k8s.io/v1` Lease, with the semantics of client-go's
tools/leaderelection (which controller-runtime uses):

- a candidate reads the Lease every retry period; it takes it when nobody holds it, or when the
  record has not changed for the holder's leaseDurationSeconds *by the candidate's own clock* (it
  times how long it has seen the same resourceVersion, so clock skew between replicas does not
  matter); taking it from another holder increments leaseTransitions;
- every write is an update at the resourceVersion read (optimistic concurrency): of two candidates
  only one wins, the other gets a Conflict and keeps waiting;
- the leader renews every retry period and steps down when it has not renewed within the renew
  deadline, which is shorter than the lease duration, so it stops before anyone else may start;
- on shutdown the leader releases the Lease (no holder, leaseDurationSeconds 1, as client-go's
  ReleaseOnCancel), and a standby takes over at its next retry instead of waiting out the lease.

The decisions are pure functions of (the Lease read, when its record last changed, now, our
identity); `LeaderElector` does the I/O around them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import enum
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass

from ..config import LeaderElectionConfig
from ..metrics import LEADER, LEADER_TRANSITIONS
from .kubeclient import ApiError, KubeClient

log = logging.getLogger(__name__)

# client-go waits between RetryPeriod and RetryPeriod * (1 + JitterFactor) between tries to acquire,
# so standbys that saw the same release do not all try at the same instant.
ACQUIRE_JITTER = 1.2
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
# The elector's own threads, each with its own connection.
LEASE_THREADS = 2


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it, holding it
    ACQUIRE = "acquire"  # free or expired: take it over (a new transition)
    RENEW = "renew"  # ours: renew it
    WAIT = "wait"  # another holder's, still valid


@dataclass(frozen=True)
class LeaseRecord:
    holder: str  # empty: nobody (released, or never held)
    lease_duration_seconds: int
    transitions: int
    acquire_time: str | None
    resource_version: str

    @classmethod
    def from_lease(cls, lease: dict) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            lease_duration_seconds=spec.get("leaseDurationSeconds") or 0,
            transitions=spec.get("leaseTransitions") or 0,
            acquire_time=spec.get("acquireTime"),
            resource_version=lease["metadata"]["resourceVersion"],
        )


def decide(record: LeaseRecord | None, identity: str, record_seen_since: float, now: float) -> Action:
    """What a replica does with the Lease it just read. `record_seen_since`: when (by our monotonic
    clock) we first saw this record's resourceVersion; `now`: the same clock."""
    if record is None:
        return Action.CREATE
    if record.holder == identity:
        return Action.RENEW
    if record.holder and now < record_seen_since + record.lease_duration_seconds:
        return Action.WAIT
    return Action.ACQUIRE


def must_step_down(last_renewal: float, now: float, renew_deadline: float) -> bool:
    """A leader that has not renewed for the renew deadline stops leading: others may take the Lease
    once it is lease-duration old, and the renew deadline is shorter."""
    return now - last_renewal >= renew_deadline


def micro_time(moment: datetime.datetime) -> str:
    """The Lease's MicroTime format."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def held_spec(action: Action, record: LeaseRecord | None, identity: str, lease_duration_seconds: int,
              wall_now: datetime.datetime) -> dict:
    """The Lease spec that CREATE, ACQUIRE or RENEW writes: a renewal keeps the acquire time and the
    transition count, a takeover counts one more transition."""
    now = micro_time(wall_now)
    spec = {"holderIdentity": identity, "leaseDurationSeconds": lease_duration_seconds, "renewTime": now,
            "acquireTime": now, "leaseTransitions": 0}
    if action is Action.RENEW and record is not None:
        spec["acquireTime"] = record.acquire_time or now
        spec["leaseTransitions"] = record.transitions
    elif action is Action.ACQUIRE and record is not None:
        spec["leaseTransitions"] = record.transitions + 1
    return spec


def released_spec(record: LeaseRecord, wall_now: datetime.datetime) -> dict:
    """What the leader writes on shutdown: no holder, so the next candidate takes it at once; a
    one-second duration for candidates that only look at the duration."""
    now = micro_time(wall_now)
    return {"leaseDurationSeconds": 1, "renewTime": now, "acquireTime": now, "leaseTransitions": record.transitions}


def default_identity() -> str:
    """The pod's name (POD_NAME, from the downward API) or the host's, and a random part: a restarted
    container in the same pod is a new candidate, never mistaken for the old leader."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """Campaigns for the Lease (`acquire`), then keeps it (`hold`) until it cannot, and gives it back
    on shutdown (`release`). Its calls run in threads of their own with their own connections: a busy
    operator's status writes must never make a renewal wait for a thread and miss the deadline."""

    def __init__(self, kube: KubeClient, config: LeaderElectionConfig, namespace: str, identity: str) -> None:
        self.kube = kube
        self.config = config
        self.name = config.lease_name
        self.namespace = namespace
        self.identity = identity
        self.leading = False
        self.holder = ""  # the holder in the last Lease read
        self._threads = concurrent.futures.ThreadPoolExecutor(LEASE_THREADS, thread_name_prefix="lease")
        self._seen_version: str | None = None
        self._seen_since = 0.0
        self._last_renewal = 0.0

    @property
    def lease(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def acquire(self) -> None:
        """Returns once this replica holds the Lease."""
        log.info("waiting to become leader: lease %s, identity %s", self.lease, self.identity)
        while not await self._try_acquire_or_renew(self.config.renew_deadline_seconds):
            await asyncio.sleep(self.config.retry_period_seconds * random.uniform(1, 1 + ACQUIRE_JITTER))
        self.leading = True
        LEADER.set(1)
        LEADER_TRANSITIONS.labels("acquired").inc()
        log.info("became leader: lease %s, identity %s", self.lease, self.identity)

    async def hold(self) -> None:
        """Renews the Lease every retry period; returns when leadership is lost: not renewed within the
        renew deadline (API server unreachable, or too slow), or taken by another holder."""
        while True:
            await asyncio.sleep(min(self.config.retry_period_seconds, self._time_left()))
            if self._time_left() <= 0:
                reason = f"not renewed within the renew deadline ({self.config.renew_deadline_seconds:g} s)"
                break
            if not await self._try_acquire_or_renew(self._time_left()) and self.holder not in ("", self.identity):
                reason = f"taken by {self.holder}"
                break
        self.leading = False
        LEADER.set(0)
        LEADER_TRANSITIONS.labels("lost").inc()
        log.error("lost leadership of lease %s: %s", self.lease, reason)

    async def release(self) -> None:
        """Gives the Lease back if we hold it, so a standby takes over without waiting for it to expire."""
        if not self.leading:
            return
        self.leading = False
        LEADER.set(0)
        try:
            lease = await asyncio.wait_for(self._read(self.config.renew_deadline_seconds),
                                           self.config.renew_deadline_seconds)
            if lease is None or LeaseRecord.from_lease(lease).holder != self.identity:
                return
            record = LeaseRecord.from_lease(lease)
            body = {"metadata": {"name": self.name, "namespace": self.namespace,
                                 "resourceVersion": record.resource_version},
                    "spec": released_spec(record, datetime.datetime.now(datetime.UTC))}
            await asyncio.wait_for(self._call("PUT", body, timeout=self.config.renew_deadline_seconds),
                                   self.config.renew_deadline_seconds)
        except Exception as error:  # any failure: the Lease then expires on its own
            log.warning("could not release lease %s (%s); a standby takes over when it expires", self.lease,
                        describe(error))
            return
        LEADER_TRANSITIONS.labels("released").inc()
        log.info("released lease %s", self.lease)

    def _time_left(self) -> float:
        return self._last_renewal + self.config.renew_deadline_seconds - time.monotonic()

    async def _try_acquire_or_renew(self, timeout: float) -> bool:
        """One look at the Lease and, when `decide` says so, one write; True if we hold it afterwards.
        Bounded by `timeout`, whatever the API server does."""
        started = time.monotonic()
        try:
            return await asyncio.wait_for(self._attempt(started, timeout), max(timeout, 0.001))
        except Exception as error:  # an API answer, no connection, or the timeout: a failed try
            log.warning("lease %s: %s", self.lease, describe(error))
            return False

    async def _attempt(self, started: float, timeout: float) -> bool:
        lease = await self._read(timeout)
        record = LeaseRecord.from_lease(lease) if lease is not None else None
        now = time.monotonic()
        self._see(record, now)
        self.holder = record.holder if record else ""
        action = decide(record, self.identity, self._seen_since, now)
        if action is Action.WAIT:
            return False
        spec = held_spec(action, record, self.identity, self.config.lease_duration_seconds,
                         datetime.datetime.now(datetime.UTC))
        metadata = {"name": self.name, "namespace": self.namespace}
        if action is Action.CREATE:
            written = await self._call("POST", {"metadata": metadata, "spec": spec}, timeout=timeout)
        else:
            assert record is not None  # decide() answers CREATE exactly when there is no Lease
            metadata["resourceVersion"] = record.resource_version  # a Conflict if anyone wrote since
            written = await self._call("PUT", {"metadata": metadata, "spec": spec}, timeout=timeout)
        self._see(LeaseRecord.from_lease(written), time.monotonic())
        self.holder = self.identity
        # From when the try began: the others' clocks started no earlier than our write.
        self._last_renewal = started
        if action is Action.ACQUIRE and record is not None and record.holder:
            log.info("lease %s: took over from %s, which did not renew it for %d s", self.lease, record.holder,
                     record.lease_duration_seconds)
        return True

    def _see(self, record: LeaseRecord | None, now: float) -> None:
        version = record.resource_version if record else None
        if version != self._seen_version:
            self._seen_version, self._seen_since = version, now

    async def _read(self, timeout: float) -> dict | None:
        try:
            return await self._call("GET", None, timeout=timeout)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def _call(self, method: str, body: dict | None, timeout: float) -> dict:
        """One request on the Lease (a create goes to the collection); the request's own timeout ends
        the thread's wait too, not only ours."""
        path = LEASES.format(namespace=self.namespace) + ("" if method == "POST" else f"/{self.name}")
        return await asyncio.get_running_loop().run_in_executor(self._threads, lambda: self.kube.request(
            method, path, body, timeout=max(timeout, 0.5)))


def describe(error: BaseException) -> str:
    if isinstance(error, ApiError):
        return f"{error.status} {error.reason}"
    if isinstance(error, asyncio.TimeoutError):
        return "no answer in time"
    return str(error) or type(error).__name__
