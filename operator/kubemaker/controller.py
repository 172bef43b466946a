"""The reconcile loop every kind shares: one long-lived task per object, so reconciliations of an
object never overlap, woken by spec changes and by the SageMaker trackers.

A kind supplies `reconcile(ctx) -> Plan` (observe, decide with a pure planner, act) and
`finalize(ctx) -> str | None` (None when the SageMaker side is cleaned up). This loop turns the
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

from .api.registry import InvalidSpec, undeclared_status_fields
from .aws.errors import ErrorKind, classify, error_code, error_message
from .aws.ownership import Owner
from .conditions import STALLED, Health, build_conditions, condition, is_true, shortened
from .metrics import RECONCILE_ERRORS, RECONCILE_TIME, RECONCILE_TOTAL, record_object
from .reconcile.common import Event, Plan
from .runtime import Runtime

# Under sustained faults botocore's retry quota runs dry and errors reach us directly, so this
# backoff is what paces retries: long enough to relieve SageMaker, short enough to converge soon
# after the faults stop. Jitter keeps objects that failed together from retrying together.
MAX_BACKOFF_SECONDS = 60
EVENT_MESSAGE_LENGTH = 1024  # an Event is read on one line of kubectl describe
BACKOFF_JITTER = 0.2


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
        kopf.event(self.body, type=event.type, reason=event.reason, message=message)

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


def snapshot(body: Any) -> dict:
    """A private copy of kopf's live body, so one pass sees one consistent object."""
    copied = {key: body[key] for key in ("apiVersion", "kind", "spec", "status") if key in body}
    copied["metadata"] = {key: value for key, value in body["metadata"].items() if key not in UNREAD_METADATA}
    return copy.deepcopy(copied)


def stalled_for_generation(status: dict, generation: int) -> bool:
    stalled = condition(status.get("conditions"), STALLED)
    return is_true(status.get("conditions"), STALLED) and stalled.get("observedGeneration") == generation


async def reconcile_once(controller: KindController, ctx: ObjectContext) -> tuple[Plan, bool]:
    """One reconciliation; returns the plan to report and whether the failure was transient."""
    started = time.monotonic()
    try:
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
        if isinstance(error, ClientError) and classify(error) is ErrorKind.TERMINAL:
            RECONCILE_TOTAL.labels(controller.kind, "stalled").inc()
            reason = error_code(error)
            message = f"SageMaker refused the request: {error_message(error)}"
            return Plan(health=Health.stalled(reason, message), events=[Event("Warning", reason, message)]), False
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


@dataclass
class ObjectLoop:
    """What an object's loop keeps between passes: only the status it last wrote (kopf's body may
    lag behind it, and we are its only writer) and its failure count. A pass's context and plan
    are dropped before the loop waits: thousands of waiting objects must not each hold a copy."""

    controller: KindController
    runtime: Runtime
    logger: Any
    known_status: dict | None = None
    failures: int = 0

    async def pass_once(self, body: Any) -> float | None:
        """One pass over the object; returns how long to wait for a wakeup (None: until one comes).
        Passes take turns: thousands of objects changing together would otherwise each hold a copy
        of themselves and their SageMaker answers while they wait for an I/O thread."""
        async with self.runtime.reconcile_slots:
            return await self._pass(body)

    async def _pass(self, body: Any) -> float | None:
        ctx = ObjectContext(self.runtime, self.controller.kind, self.controller.plural, snapshot(body), self.logger)
        if self.known_status is not None:
            ctx.body["status"] = copy.deepcopy(self.known_status)
        delay: float | None
        if stalled_for_generation(ctx.status, ctx.generation):
            delay = None  # the user must change the spec first
        else:
            plan, transient = await reconcile_once(self.controller, ctx)
            try:
                await report(ctx, plan)
            except kubernetes.client.ApiException as error:
                self.logger.warning("status write failed, will retry: %s", error.reason)
                transient = True
            self.known_status = ctx.status
            if transient:
                self.failures += 1
                delay = min(self.runtime.config.poll_interval_seconds * 2 ** (self.failures - 1), MAX_BACKOFF_SECONDS)
                delay *= random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
            else:
                self.failures = 0
                delay = plan.requeue_after
        record_object(ctx.key, ctx.status)
        return delay


async def run_object_loop(
    controller: KindController, runtime: Runtime, body: Any, stopped: Any, logger: Any
) -> None:
    key = (controller.kind, body["metadata"]["namespace"], body["metadata"]["name"])
    wake = runtime.wakeups.register(key)
    loop = ObjectLoop(controller, runtime, logger)
    try:
        while not stopped:
            wake.clear()
            if body["metadata"].get("deletionTimestamp"):
                return
            delay = await loop.pass_once(body)
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
    finally:
        runtime.wakeups.unregister(key)
        record_object(key, None)


async def run_finalizer(controller: KindController, runtime: Runtime, body: Any, logger: Any) -> None:
    ctx = ObjectContext(runtime, controller.kind, controller.plural, snapshot(body), logger)
    try:
        waiting = await controller.finalize(ctx)
    except Exception as error:
        kind = classify(error)
        if kind is ErrorKind.NOT_FOUND:
            return
        if kind is ErrorKind.TERMINAL:
            message = f"cleanup refused by SageMaker: {error_message(error)}; remove the finalizer to give up"
            ctx.event(Event("Warning", "CleanupFailed", message))
            raise kopf.TemporaryError(message, delay=MAX_BACKOFF_SECONDS) from error
        raise kopf.TemporaryError(f"cleanup will retry: {error_message(error)}", delay=runtime.config.poll_interval_seconds) from error
    if waiting:
        raise kopf.TemporaryError(waiting, delay=runtime.config.poll_interval_seconds)
