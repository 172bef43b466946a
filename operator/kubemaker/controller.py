"""The reconcile core every kind shares: a work queue of objects due for a pass, fed by the watch
and the SageMaker trackers, and a fixed pool of workers; an object's passes never overlap.

A kind supplies `reconcile(ctx) -> Plan` (observe, decide with a pure planner, act) and
`finalize(ctx) -> str | None` (None when the SageMaker side is cleaned up). The core turns the
outcome into status, conditions, Events and metrics, and decides when to look again:
- a refusal only the user can fix (bad request, access denied, someone else's object) is Stalled,
  with SageMaker's message, and waits for the next spec change: no hot retry loop;
- a transient fault (throttling, 5xx, timeouts, API server hiccups) is retried with backoff.
"""

from __future__ import annotations

import asyncio
import copy
import random
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import kopf
import kubernetes
from botocore.exceptions import BotoCoreError, ClientError

from . import FINALIZER
from .api.registry import InvalidSpec, undeclared_status_fields
from .aws.errors import QUOTA_CODES, ErrorKind, classify, error_code, error_message
from .aws.ownership import Owner
from .conditions import STALLED, Health, build_conditions, condition, is_true, shortened
from .metrics import RECONCILE_ERRORS, RECONCILE_TIME, RECONCILE_TOTAL, record_object
from .reconcile.common import Event, Plan
from .runtime import ObjectKey, Runtime

# Under sustained faults botocore's retry quota runs dry and errors reach us directly, so this
# backoff is what paces retries: long enough to relieve SageMaker, short enough to converge soon
# after the faults stop. Jitter keeps objects that failed together from retrying together.
MAX_BACKOFF_SECONDS = 60
BACKOFF_JITTER = 0.2

EVENT_MESSAGE_LENGTH = 1024  # an Event is read on one line of kubectl describe


class Stall(Exception):
    """Reconciliation cannot progress until the user changes something."""

    def __init__(self, reason: str, message: str, status: dict | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status or {}


@dataclass
class ObjectContext:
    runtime: Runtime
    kind: str
    plural: str
    body: dict
    logger: logging.Logger | logging.LoggerAdapter

    @property
    def namespace(self) -> str:
        return self.body["metadata"]["namespace"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def uid(self) -> str:
        return self.body["metadata"]["uid"]

    @property
    def generation(self) -> int:
        return self.body["metadata"].get("generation", 1)

    @property
    def deleting(self) -> bool:
        return bool(self.body["metadata"].get("deletionTimestamp"))

    @property
    def finalizers(self) -> list[str]:
        return self.body["metadata"].get("finalizers") or []

    async def add_finalizer(self) -> None:
        """Adds our finalizer if missing: appended to a list others may share, or set as the whole
        list only if the object is still the version we read."""
        if FINALIZER in self.finalizers:
            return
        if self.finalizers:
            patch = [{"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}]
        else:
            patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": self.body["metadata"]["resourceVersion"]},
                     {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]
        await self.runtime.patch_object(self.plural, self.namespace, self.name, patch)
        self.body["metadata"]["finalizers"] = [*self.finalizers, FINALIZER]

    async def remove_finalizer(self) -> None:
        """Removes exactly our entry, failing (to be retried) if the list changed under us."""
        index = self.finalizers.index(FINALIZER)
        path = f"/metadata/finalizers/{index}"
        await self.runtime.patch_object(self.plural, self.namespace, self.name,
                                        [{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}])

    @property
    def spec(self) -> dict:
        return self.body.get("spec") or {}

    @property
    def status(self) -> dict:
        return self.body.get("status") or {}

    @property
    def region(self) -> str:
        return self.spec.get("region") or self.runtime.config.region

    @property
    def owner(self) -> Owner:
        return Owner(self.kind, self.namespace, self.name, self.uid)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    def client(self, service: str = "sagemaker") -> Any:
        return self.runtime.aws.client(service, self.namespace, self.region)

    def event(self, event: Event) -> None:
        message = shortened(event.message, EVENT_MESSAGE_LENGTH)
        self.runtime.events.post(self.body, event.type, event.reason, message)

    async def write_status(self, fields: dict) -> None:
        """Writes status fields now (e.g. the create-pending marker before a create call)."""
        if self.runtime.config.strict_status:
            undeclared = undeclared_status_fields(self.kind, {k: v for k, v in fields.items() if v is not None})
            if undeclared:
                raise RuntimeError(f"status fields missing from the {self.kind} schema: {', '.join(undeclared)}")
        await self.runtime.patch_status(self.plural, self.namespace, self.name, fields)
        self.body.setdefault("status", {}).update(fields)


class KindController(Protocol):
    kind: str
    plural: str

    async def reconcile(self, ctx: ObjectContext) -> Plan: ...

    async def finalize(self, ctx: ObjectContext) -> str | None: ...


# Metadata no reconciliation reads, and the bulk of a small object's: managed fields, and kubectl's
# copy of the whole spec in an annotation.
UNREAD_METADATA = ("managedFields", "annotations")


def trimmed(body: Any) -> dict:
    """The parts of a body reconciliation reads, sharing kopf's (a watch event's body is never
    changed after it arrives, only replaced by the next)."""
    parts = {key: body[key] for key in ("apiVersion", "kind", "spec", "status") if key in body}
    parts["metadata"] = {key: value for key, value in body["metadata"].items() if key not in UNREAD_METADATA}
    return parts


def snapshot(body: Any) -> dict:
    """A private copy of a body, so one pass sees one consistent object."""
    return copy.deepcopy(trimmed(body))


def stalled_for_generation(status: dict, generation: int) -> bool:
    """Stalled until the spec changes; a quota Stall is not: it is tried again at its slow interval."""
    stalled = condition(status.get("conditions"), STALLED)
    return (is_true(status.get("conditions"), STALLED) and stalled.get("observedGeneration") == generation
            and stalled.get("reason") not in QUOTA_CODES)


async def reconcile_once(controller: KindController, ctx: ObjectContext) -> tuple[Plan, bool]:
    """One reconciliation; returns the plan to report and whether the failure was transient."""
    started = time.monotonic()
    try:
        await ctx.add_finalizer()  # before anything exists in SageMaker: deletion waits for cleanup
        plan = await controller.reconcile(ctx)
        RECONCILE_TOTAL.labels(controller.kind, "success").inc()
        return plan, False
    except Stall as stall:
        RECONCILE_TOTAL.labels(controller.kind, "stalled").inc()
        return Plan(
            health=Health.stalled(stall.reason, stall.message),
            status=stall.status,
            events=[Event("Warning", stall.reason, stall.message)],
        ), False
    except InvalidSpec as invalid:
        RECONCILE_TOTAL.labels(controller.kind, "stalled").inc()
        return Plan(
            health=Health.stalled("InvalidSpec", str(invalid)), events=[Event("Warning", "InvalidSpec", str(invalid))]
        ), False
    except Exception as error:  # classified below: AWS, Kubernetes or our own bug
        RECONCILE_ERRORS.labels(controller.kind).inc()
        if isinstance(error, ClientError) and classify(error) in (ErrorKind.TERMINAL, ErrorKind.QUOTA):
            RECONCILE_TOTAL.labels(controller.kind, "stalled").inc()
            reason = error_code(error)
            message = f"SageMaker refused the request: {error_message(error)}"
            recheck = None
            if classify(error) is ErrorKind.QUOTA:
                # Quotas are raised outside Kubernetes: look again now and then, with no spec change.
                recheck = ctx.runtime.config.quota_recheck_interval_seconds
                message += f" (an account quota: tried again every {recheck:g} s)"
            return Plan(health=Health.stalled(reason, message), events=[Event("Warning", reason, message)],
                        requeue_after=recheck), False
        if not isinstance(error, (ClientError, BotoCoreError, kubernetes.client.ApiException)):
            ctx.logger.exception("reconcile failed unexpectedly; retrying with backoff")
        RECONCILE_TOTAL.labels(controller.kind, "retry").inc()
        ctx.logger.warning("transient error, will retry: %s", error_message(error))
        return Plan(health=Health.reconciling("Retrying", f"will retry: {error_message(error)}")), True
    finally:
        RECONCILE_TIME.labels(controller.kind).observe(time.monotonic() - started)


async def report(ctx: ObjectContext, plan: Plan) -> None:
    """Writes status (only when it changed) and records the plan's Events."""
    conditions = build_conditions(plan.health, ctx.generation, ctx.status.get("conditions"))
    desired = {**plan.status, "conditions": conditions, "observedGeneration": ctx.generation}
    current = ctx.status
    changed = {key: value for key, value in desired.items() if current.get(key) != value}
    if changed:
        try:
            await ctx.write_status(changed)
        except kubernetes.client.ApiException as error:
            if error.status != 404:  # a deleted object needs no status
                raise
    for event in plan.events:
        ctx.event(event)


@dataclass(slots=True)
class ObjectState:
    """What the operator keeps of an object between passes: the latest body the watch showed (its
    spec and metadata; kopf keeps no copy of its own for us), the status this operator last wrote
    (the watch's lags behind it, and we are its only writer) and its failure count. A pass's
    context and plan are dropped when the pass ends: thousands of waiting objects must not each
    hold a copy of themselves and their SageMaker answers."""

    controller: KindController
    body: dict
    status: dict
    status_written: bool = False
    failures: int = 0


class Reconciler:
    """The reconcile core every kind shares, as controller-runtime's: the watch hands each object's
    latest body to `observe`, which queues its key when there is something to do; a fixed pool of
    workers (`maxConcurrentReconciles`) takes keys from the queue, one pass each, and queues the
    key again after the delay the pass asked for. The queue never hands one key to two workers, so
    an object's passes never overlap. Memory per object is its key, its body and its status, not a
    task per object waiting for its next pass."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue = runtime.work_queue
        self.objects: dict[ObjectKey, ObjectState] = {}
        self.settings: Any = None  # kopf's, for per-object loggers

    def observe(self, controller: KindController, body: dict, event_type: str | None) -> None:
        """Takes the object from a watch event; queues it if it is new, its spec is unobserved, or
        it is being deleted and still carries our finalizer."""
        metadata = body["metadata"]
        key = (controller.kind, metadata["namespace"], metadata["name"])
        if event_type == "DELETED":
            self.forget(key)
            return
        latest = trimmed(body)
        status = latest.pop("status", None) or {}
        state = self.objects.get(key)
        if state is None or state.body["metadata"]["uid"] != metadata["uid"]:
            self.objects[key] = ObjectState(controller, latest, status)
            self.queue.add(key)
            return
        state.body = latest
        if not state.status_written:
            state.status = status
        if metadata.get("generation") != state.status.get("observedGeneration") or metadata.get("deletionTimestamp"):
            self.queue.add(key)

    def forget(self, key: ObjectKey) -> None:
        if self.objects.pop(key, None) is not None:
            self.queue.forget(key)
            record_object(key, None)

    async def run(self) -> None:
        workers = [asyncio.create_task(self._work()) for _ in range(self.runtime.config.max_concurrent_reconciles)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            state = self.objects.get(key)
            delay: float | None = None
            try:
                if state is not None:
                    delay = await self._pass(key, state)
            except Exception:  # our own bug: never lose the worker, and look again later
                logging.getLogger(__name__).exception("reconcile pass for %s failed unexpectedly", key)
                delay = MAX_BACKOFF_SECONDS
            finally:
                self.queue.done(key)
            if delay is not None and self.objects.get(key) is state:
                self.queue.add_after(key, delay)

    async def _pass(self, key: ObjectKey, state: ObjectState) -> float | None:
        """One pass over the object; returns when to look again (None: when something changes)."""
        body = snapshot(state.body)
        body["status"] = copy.deepcopy(state.status)
        logger = kopf.LocalObjectLogger(body=body, settings=self.settings)
        ctx = ObjectContext(self.runtime, state.controller.kind, state.controller.plural, body, logger)
        if ctx.deleting:
            return await self._finalize(key, state, ctx)
        if stalled_for_generation(ctx.status, ctx.generation):
            delay = None  # the user must change the spec first
        else:
            plan, transient = await reconcile_once(state.controller, ctx)
            try:
                await report(ctx, plan)
            except kubernetes.client.ApiException as error:
                logger.warning("status write failed, will retry: %s", error.reason)
                transient = True
            state.status, state.status_written = ctx.status, True
            delay = self._backoff(state) if transient else plan.requeue_after
            if not transient:
                state.failures = 0
        record_object(key, ctx.status)
        return delay

    def _backoff(self, state: ObjectState) -> float:
        state.failures += 1
        delay = min(self.runtime.config.poll_interval_seconds * 2 ** (state.failures - 1), MAX_BACKOFF_SECONDS)
        return delay * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)

    async def _finalize(self, key: ObjectKey, state: ObjectState, ctx: ObjectContext) -> float | None:
        """Cleans up SageMaker, then lets Kubernetes delete the object by removing our finalizer."""
        if FINALIZER not in ctx.finalizers:
            self.forget(key)
            return None
        try:
            waiting = await state.controller.finalize(ctx)
        except Exception as error:  # classified: gone already, refused for good, or transient
            kind = classify(error)
            if kind is ErrorKind.TERMINAL:
                message = f"cleanup refused by SageMaker: {error_message(error)}; remove the finalizer to give up"
                ctx.event(Event("Warning", "CleanupFailed", message))
                return MAX_BACKOFF_SECONDS
            if kind is not ErrorKind.NOT_FOUND:
                ctx.logger.warning("cleanup will retry: %s", error_message(error))
                return self._backoff(state)
            waiting = None
        if waiting:
            ctx.logger.info("cleanup waiting: %s", waiting)
            return self.runtime.config.poll_interval_seconds
        try:
            await ctx.remove_finalizer()
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                ctx.logger.warning("finalizer removal will retry: %s", error.reason)
                return self._backoff(state)
        self.forget(key)
        return None
