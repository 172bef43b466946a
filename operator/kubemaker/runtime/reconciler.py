"""The reconcile core every kind shares. One pass over an object: observe and plan (the kind's
`reconcile`: reads, then a pure planner), execute (the core: the create-once protocol, "already
exists" and "gone"), then record (status, conditions, Events, the tracker, the objects to wake) and
decide when to look again. Deletion is planned the same way (the kind's `cleanup`), with the
retention policy applied here, once.

How a pass ends:
- a refusal only the user can fix (bad request, access denied, someone else's object) is Stalled,
  with SageMaker's message, and waits for the next spec change: no hot retry loop;
- an account quota is Stalled too, and tried again at a slow interval;
- a transient fault (throttling, 5xx, timeouts, API server hiccups) is retried with backoff;
- a bug of ours is logged with its traceback, retried with backoff a few times, then Stalled as
  InternalError.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import kopf
from botocore.exceptions import BotoCoreError, ClientError

from .. import FINALIZER
from ..aws.clients import call
from ..aws.errors import QUOTA_CODES, ErrorKind, already_exists, classify, error_code, error_message, is_gone
from ..aws.ownership import describe_owner, owned_by
from ..conditions import STALLED, Health, build_conditions, condition, is_true
from ..metrics import RECONCILE_ERRORS, RECONCILE_TIME, RECONCILE_TOTAL, record_object
from . import kubeapi
from .context import ObjectContext, Runtime
from .kubeclient import TRANSPORT_ERRORS, ApiError
from .outcomes import (
    KUBERNETES,
    Cleanup,
    Event,
    KubernetesObject,
    ObjectKey,
    Plan,
    SageMakerObject,
    Stall,
    Transient,
)
from .protocols import tags_of

# Under sustained faults botocore's retry quota runs dry and errors reach us directly, so this
# backoff is what paces retries: long enough to relieve SageMaker, short enough to converge soon
# after the faults stop. Jitter keeps objects that failed together from retrying together.
MAX_BACKOFF_SECONDS = 60
BACKOFF_JITTER = 0.2
# A pass may act and look again this many times (a create, then its description): a planner that
# keeps asking for more within one pass is a bug, not a reason to spin.
MAX_STEPS_PER_PASS = 4
# Our own bugs are retried this many times (a race may pass), then Stalled as InternalError.
MAX_INTERNAL_ERRORS = 5
# An answer from the API server, or none at all: retried with backoff, like a SageMaker 5xx.
KUBERNETES_ERRORS = (ApiError, *TRANSPORT_ERRORS)


class KindController(Protocol):
    kind: str
    plural: str
    tracker: Any  # follows the SageMaker objects of the kind (runtime.tracker), or None

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        """Observes (reads only) and returns the pure planner's plan."""

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        """Observes (reads only) and returns what deleting the SageMaker side still takes."""


# Metadata no reconciliation reads, and the bulk of a small object's: managed fields, and kubectl's
# copy of the whole spec in an annotation.
UNREAD_METADATA = ("managedFields", "annotations")


def trimmed(body: Mapping[str, Any]) -> dict:
    """The parts of a body reconciliation reads, sharing kopf's (a watch event's body is never
    changed after it arrives, only replaced by the next)."""
    parts = {key: body[key] for key in ("apiVersion", "kind", "spec", "status") if key in body}
    parts["metadata"] = {key: value for key, value in body["metadata"].items() if key not in UNREAD_METADATA}
    return parts


def snapshot(body: Mapping[str, Any]) -> dict:
    """A private copy of a body, so one pass sees one consistent object."""
    return copy.deepcopy(trimmed(body))


def stalled_for_generation(status: dict, generation: int) -> bool:
    """Stalled until the spec changes; a quota Stall is not: it is tried again at its slow interval."""
    stalled = condition(status.get("conditions"), STALLED) or {}
    return (is_true(status.get("conditions"), STALLED) and stalled.get("observedGeneration") == generation
            and stalled.get("reason") not in QUOTA_CODES)


async def execute(ctx: ObjectContext, plan: Plan) -> None:
    """Makes the plan's call: the create-once protocol, once for every kind. The marker in `before`
    is written first; SageMaker's unique names (or a client token) turn a repeated create into
    "already exists", which is fine when the object carries our tags."""
    action, request = plan.action, plan.request
    assert action is not None and request is not None  # run_pass executes only plans with a call
    if plan.before:
        await ctx.write_status(plan.before)
    try:
        response = await send(ctx, plan.service, action, request)
    except Exception as error:
        if action.startswith(("delete_", "deregister_")) and gone(error):
            return
        if isinstance(plan.creates, KubernetesObject) and kubeapi.already_exists(error):
            await kubeapi.require_ours(ctx, plan.creates, request)
            return
        if isinstance(plan.creates, SageMakerObject) and already_exists(error):
            await require_ours(ctx, plan.service, plan.creates, request)
            return
        if "createPending" in plan.before:
            # Nothing was made: the name is derived again, and a retry after an unseen success
            # finds the object by it instead of making a second one.
            await ctx.write_status({"createPending": None})
        raise
    if isinstance(plan.creates, KubernetesObject):
        ctx.made.add(request["metadata"]["name"])
    elif plan.creates is not None:
        ctx.made.add(request[plan.creates.name_member])
    for field_name, member in plan.record.items():
        plan.status[field_name] = response[member]


async def send(ctx: ObjectContext, service: str, action: str, request: dict[str, Any]) -> dict:
    """One call of a plan or cleanup: to the Kubernetes API, or to the AWS service."""
    if service == KUBERNETES:
        return await kubeapi.send(ctx, action, request)
    return await call(ctx.client(service), action, **request)


def gone(error: BaseException) -> bool:
    return is_gone(error) or kubeapi.is_gone(error)


async def require_ours(ctx: ObjectContext, service: str, made: SageMakerObject, request: dict[str, Any]) -> None:
    """A create found its name taken: ours (an interrupted pass made it), or someone else's: Stall."""
    name = request[made.name_member]
    arn = (await call(ctx.client(service), made.describe, **{made.name_member: name}))[made.arn_member]
    tags = await tags_of(ctx.client(service), arn)
    if not owned_by(tags, ctx.owner):
        raise Stall("NameInUse", f"a SageMaker {made.noun} named {name} already exists and belongs to "
                    f"{describe_owner(tags)}; choose another name, or set adoptExisting: true to take it over",
                    status={"createPending": None})
    ctx.made.add(name)


async def run_pass(controller: KindController, ctx: ObjectContext) -> Plan:
    """Observe, plan, execute, as often as the plan asks to look again; the plan to record, with
    the Events of every step."""
    await ctx.add_finalizer()  # before anything exists in SageMaker: deletion waits for cleanup
    events: list[Event] = []
    for _ in range(MAX_STEPS_PER_PASS):
        plan = await controller.reconcile(ctx)
        plan.events = events + plan.events
        if plan.action is None:
            return plan
        await execute(ctx, plan)
        if not plan.again:
            return plan
        events = plan.events
        if plan.status:
            await ctx.write_status(plan.status)  # what the call answered, before looking again
    raise RuntimeError(f"{ctx.kind} planner asked to look again more than {MAX_STEPS_PER_PASS} times in one pass")


@dataclass
class Verdict:
    plan: Plan
    transient: bool = False
    internal: bool = False


def judge(kind: str, ctx: ObjectContext, error: BaseException) -> Verdict:
    """What an error ends a pass with; the same judgement for reconcile and cleanup."""
    if isinstance(error, Stall):
        RECONCILE_TOTAL.labels(kind, "stalled").inc()
        return Verdict(Plan(health=Health.stalled(error.reason, error.message), status=error.status,
                            events=[Event("Warning", error.reason, error.message)]))
    RECONCILE_ERRORS.labels(kind).inc()
    if isinstance(error, ClientError) and classify(error) in (ErrorKind.TERMINAL, ErrorKind.QUOTA):
        RECONCILE_TOTAL.labels(kind, "stalled").inc()
        reason = error_code(error)
        message = f"SageMaker refused the request: {error_message(error)}"
        recheck = None
        if classify(error) is ErrorKind.QUOTA:
            # Quotas are raised outside Kubernetes: look again now and then, with no spec change.
            recheck = ctx.runtime.config.quota_recheck_interval_seconds
            message += f" (an account quota: tried again every {recheck:g} s)"
        return Verdict(Plan(health=Health.stalled(reason, message), events=[Event("Warning", reason, message)],
                            requeue_after=recheck))
    RECONCILE_TOTAL.labels(kind, "retry").inc()
    internal = not isinstance(error, (ClientError, BotoCoreError, Transient, *KUBERNETES_ERRORS))
    if internal:
        ctx.logger.error("pass failed unexpectedly; retrying with backoff", exc_info=error)
    else:
        ctx.logger.warning("transient error, will retry: %s", error_message(error))
    return Verdict(Plan(health=Health.reconciling("Retrying", f"will retry: {error_message(error)}")),
                   transient=True, internal=internal)


def internal_error(error_text: str, failures: int) -> Plan:
    message = (f"the operator failed {failures} times in a row on this object: {error_text}; "
               "see the operator's log, and change the spec to try again")
    return Plan(health=Health.stalled("InternalError", message), events=[Event("Warning", "InternalError", message)])


async def report(ctx: ObjectContext, plan: Plan) -> None:
    """Writes status (only when it changed) and records the plan's Events."""
    conditions = build_conditions(plan.health, ctx.generation, ctx.status.get("conditions"), signals=plan.signals)
    desired = {**plan.status, "conditions": conditions, "observedGeneration": ctx.generation}
    current = ctx.status
    changed = {key: value for key, value in desired.items() if current.get(key) != value}
    if changed:
        try:
            await ctx.write_status(changed)
        except ApiError as error:
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
    internal_failures: int = 0

    def latest(self) -> dict:
        return {**self.body, "status": self.status}


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
        runtime.objects = self.latest
        runtime.namespace_objects = self.latest_in

    def latest(self, key: ObjectKey) -> dict | None:
        """The object's latest body with the status this operator last wrote (shared: read only)."""
        state = self.objects.get(key)
        return None if state is None else state.latest()

    def latest_in(self, kind: str, namespace: str) -> list[dict]:
        return [state.latest() for key, state in list(self.objects.items()) if key[0] == kind and key[1] == namespace]

    def observe(self, controller: KindController, body: Mapping[str, Any], event_type: str | None) -> None:
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
        seen_generation = state.body["metadata"].get("generation")
        state.body = latest
        if not state.status_written:
            state.status = status
        # A pass under way reconciles the generation it was last shown: the watch echoing the first
        # pass's own writes (finalizer, create-pending marker) before that pass has recorded its
        # status must not queue a second pass, which would only describe the object once more.
        in_flight = self.queue.processing(key) and metadata.get("generation") == seen_generation
        unobserved = metadata.get("generation") != state.status.get("observedGeneration") and not in_flight
        if unobserved or metadata.get("deletionTimestamp"):
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
            except Exception:  # a bug outside any pass's judgement: never lose the worker
                logging.getLogger(__name__).exception("reconcile pass for %s failed unexpectedly", key)
                delay = MAX_BACKOFF_SECONDS
            finally:
                self.queue.done(key)
            if delay is not None and self.objects.get(key) is state:
                self.queue.add_after(key, delay)

    def context(self, state: ObjectState) -> ObjectContext:
        body = snapshot(state.body)
        body["status"] = copy.deepcopy(state.status)
        # kopf reads only the object's identifiers, with .get: the plain dict serves as its Body.
        logger = kopf.LocalObjectLogger(body=cast(kopf.Body, body), settings=self.settings)
        return ObjectContext(self.runtime, state.controller.kind, state.controller.plural, body, logger)

    async def _pass(self, key: ObjectKey, state: ObjectState) -> float | None:
        """One pass over the object; returns when to look again (None: when something changes)."""
        ctx = self.context(state)
        if ctx.deleting:
            return await self._finalize(key, state, ctx)
        if stalled_for_generation(ctx.status, ctx.generation):
            record_object(key, ctx.status)
            return None  # the user must change the spec first
        kind = state.controller.kind
        started = time.monotonic()
        try:
            plan = await run_pass(state.controller, ctx)
            RECONCILE_TOTAL.labels(kind, "success").inc()
            verdict = Verdict(plan)
        except Exception as error:
            verdict = judge(kind, ctx, error)
            if verdict.internal:
                state.internal_failures += 1
                if state.internal_failures >= MAX_INTERNAL_ERRORS:
                    verdict = Verdict(internal_error(error_message(error), state.internal_failures))
        finally:
            RECONCILE_TIME.labels(kind).observe(time.monotonic() - started)
        plan, transient = verdict.plan, verdict.transient
        try:
            await report(ctx, plan)
        except KUBERNETES_ERRORS as error:  # an error answer, or the API server unreachable
            ctx.logger.warning("status write failed, will retry: %s", error)
            transient = True
        state.status, state.status_written = ctx.status, True
        self._follow(state.controller, ctx, plan)
        delay: float | None
        if transient:
            delay = self._backoff(state)
        else:
            state.failures = 0
            if not verdict.internal:
                state.internal_failures = 0
            delay = self._delay(plan)
        record_object(key, ctx.status)
        return delay

    def _follow(self, controller: KindController, ctx: ObjectContext, plan: Plan) -> None:
        """Feeds the kind's tracker, and wakes the objects the plan names, once status is written
        (they read it)."""
        if controller.tracker is not None and plan.follow is not None:
            controller.tracker.follow(ctx, plan.follow, plan.track)
        self._wake(ctx, plan.wake)

    def _wake(self, ctx: ObjectContext, keys: list[tuple[str, str]]) -> None:
        for kind, name in keys:
            self.queue.add((kind, ctx.namespace, name))

    def _delay(self, plan: Plan) -> float | None:
        if plan.requeue_after is not None:
            return plan.requeue_after
        if plan.look_again == "poll":
            return self.runtime.config.poll_interval_seconds
        if plan.look_again == "resync":
            return self.runtime.config.resync_interval_seconds
        return None

    def _backoff(self, state: ObjectState) -> float:
        state.failures += 1
        delay = min(self.runtime.config.poll_interval_seconds * 2 ** (state.failures - 1), MAX_BACKOFF_SECONDS)
        return delay * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)

    async def _finalize(self, key: ObjectKey, state: ObjectState, ctx: ObjectContext) -> float | None:
        """Cleans up SageMaker (unless the object retains it), then lets Kubernetes delete the
        object by removing our finalizer."""
        if FINALIZER not in ctx.finalizers:
            self.forget(key)
            return None
        controller = state.controller
        if ctx.spec.get("deletionPolicy") != "Retain":
            try:
                cleanup = await controller.cleanup(ctx)
                for step in cleanup.calls:
                    await delete(ctx, step)
            except Exception as error:
                if not is_gone(error):
                    return self._cleanup_failed(state, ctx, error)
                cleanup = Cleanup()  # what it was to clean up is gone already
            for event in cleanup.events:
                ctx.event(event)
            if cleanup.waiting:
                ctx.logger.info("cleanup waiting: %s", cleanup.waiting)
                return self.runtime.config.poll_interval_seconds
            self._wake(ctx, cleanup.wake)
        if controller.tracker is not None:
            controller.tracker.forget(ctx)
        try:
            await ctx.remove_finalizer()
        except KUBERNETES_ERRORS as error:
            if not kubeapi.is_gone(error):
                ctx.logger.warning("finalizer removal will retry: %s", error)
                return self._backoff(state)
        self.forget(key)
        return None

    def _cleanup_failed(self, state: ObjectState, ctx: ObjectContext, error: Exception) -> float:
        verdict = judge(state.controller.kind, ctx, error)
        if verdict.transient:
            return self._backoff(state)
        refusal = error_message(error) if isinstance(error, ClientError) else verdict.plan.health.message
        message = f"cleanup refused by SageMaker: {refusal}; remove the finalizer to give up"
        ctx.event(Event("Warning", "CleanupFailed", message))
        return MAX_BACKOFF_SECONDS


async def delete(ctx: ObjectContext, step: Any) -> None:
    """One call of a cleanup; a target already gone is done."""
    try:
        await send(ctx, step.service, step.action, step.request)
    except Exception as error:
        if not gone(error):
            raise
