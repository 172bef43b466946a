"""Thin kopf wiring: per kind one watch-event hook that hands every object's latest body to the
reconciler (which queues it when there is something to do), and one deletion handler holding the
finalizer until SageMaker is clean."""

from __future__ import annotations

from typing import Any

import kopf

from .. import API_GROUP, API_VERSION
from ..controller import KindController, Reconciler, run_finalizer


def register_kind(registry: kopf.OperatorRegistry, reconciler: Reconciler, controller: KindController) -> None:
    resource = dict(group=API_GROUP, version=API_VERSION, plural=controller.plural, registry=registry)

    @kopf.on.event(**resource, id=f"{controller.plural}-observe")
    async def observe(body: kopf.Body, type: str | None, **_: Any) -> None:
        reconciler.observe(controller, body, type)

    @kopf.on.delete(**resource, id=f"{controller.plural}-cleanup")
    async def cleanup(body: kopf.Body, logger: Any, **_: Any) -> None:
        await reconciler.quiesce((controller.kind, body.metadata.namespace, body.metadata.name))
        await run_finalizer(controller, reconciler.runtime, body, logger)
