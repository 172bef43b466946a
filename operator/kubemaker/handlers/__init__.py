"""Thin kopf wiring: kopf watches each kind and hands every object's latest body to the reconciler,
which queues it when there is something to do. Everything else, finalizer included, is the
reconciler's (controller.py): kopf writes nothing."""

from __future__ import annotations

from typing import Any

import kopf

from .. import API_GROUP, API_VERSION
from ..controller import KindController, Reconciler


def register_kind(registry: kopf.OperatorRegistry, reconciler: Reconciler, controller: KindController) -> None:
    @kopf.on.event(group=API_GROUP, version=API_VERSION, plural=controller.plural, registry=registry,
                   id=f"{controller.plural}-observe")
    async def observe(body: kopf.Body, type: str | None, **_: Any) -> None:
        reconciler.observe(controller, body, type)
