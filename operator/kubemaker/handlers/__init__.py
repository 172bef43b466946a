"""Thin kopf wiring: per kind one daemon (the object's reconcile loop), one watch-event hook that
wakes it on spec changes, and one deletion handler holding the finalizer until SageMaker is clean."""

from __future__ import annotations

from typing import Any

import kopf

from .. import API_GROUP, API_VERSION
from ..controller import KindController, run_finalizer, run_object_loop


def spec_not_yet_observed(body: kopf.Body, type: str | None, **_: Any) -> bool:
    status = body.get("status") or {}
    return type != "DELETED" and body.metadata.get("generation") != status.get("observedGeneration")


def register_kind(registry: kopf.OperatorRegistry, controller: KindController) -> None:
    resource = dict(group=API_GROUP, version=API_VERSION, plural=controller.plural, registry=registry)

    @kopf.daemon(**resource, id=f"{controller.plural}-reconcile", cancellation_timeout=30)
    async def reconcile_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, logger: Any, **_: Any) -> None:
        await run_object_loop(controller, memo.runtime, body, stopped, logger)

    # A filter, not a check inside the handler: kopf invokes a handler at a cost (a logger, a
    # context, a task), and most watch events are our own status writes, which wake nothing.
    @kopf.on.event(**resource, id=f"{controller.plural}-wake", when=spec_not_yet_observed)
    async def wake_on_change(body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.runtime.wakeups.wake((controller.kind, body.metadata.namespace, body.metadata.name))

    @kopf.on.delete(**resource, id=f"{controller.plural}-cleanup")
    async def cleanup(body: kopf.Body, memo: Any, logger: Any, **_: Any) -> None:
        await run_finalizer(controller, memo.runtime, body, logger)
