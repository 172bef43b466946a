"""Kubernetes Events for the objects we reconcile, posted in the background by a few writers at
once: a burst of state changes (a thousand jobs starting together) must neither hold up the passes
that report them nor queue behind one another for minutes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import socket
from typing import Any, NamedTuple

import kubernetes

from ..metrics import EVENTS_DROPPED

logger = logging.getLogger(__name__)

COMPONENT = "kubemaker"
# Writers, each with a thread of its own: posting must not queue behind status writes for the
# shared threads, and a burst of thousands of state changes needs more than one at a time.
POSTING_WRITERS = 8
# Events wait here while the API server is slow; beyond this many, new ones are dropped (and
# logged): Events are a courtesy, status is the record.
MAX_PENDING_EVENTS = 10_000
RETRY_DELAYS_SECONDS = (1, 5)
RETRIED_STATUSES = {429, 500, 502, 503, 504}
# Names are at most 253 characters; the API server appends five random ones to generateName.
EVENT_NAME_PREFIX_LENGTH = 200


class PendingEvent(NamedTuple):
    involved: dict
    type: str
    reason: str
    message: str


def involved_object(body: dict) -> dict:
    metadata = body["metadata"]
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
    }


class EventPoster:
    def __init__(self, core: Any, instance: str | None = None) -> None:
        self._core = core
        self._instance = instance or socket.gethostname()
        self._pending: asyncio.Queue[PendingEvent] = asyncio.Queue(MAX_PENDING_EVENTS)
        self._threads = concurrent.futures.ThreadPoolExecutor(POSTING_WRITERS, thread_name_prefix="events")

    def post(self, body: dict, type: str, reason: str, message: str) -> None:
        try:
            self._pending.put_nowait(PendingEvent(involved_object(body), type, reason, message))
        except asyncio.QueueFull:
            EVENTS_DROPPED.labels("backlog").inc()
            logger.warning("dropped Event %s for %s: %d Events are waiting", reason, body["metadata"].get("name"),
                           MAX_PENDING_EVENTS)

    async def run(self) -> None:
        await asyncio.gather(*(self._write() for _ in range(POSTING_WRITERS)))

    async def _write(self) -> None:
        while True:
            event = await self._pending.get()
            for delay in (*RETRY_DELAYS_SECONDS, None):
                try:
                    await asyncio.get_running_loop().run_in_executor(self._threads, self._create, event)
                    break
                except Exception as error:  # an API answer, or no connection at all
                    refused = isinstance(error, kubernetes.client.ApiException) and error.status not in RETRIED_STATUSES
                    if refused or delay is None:
                        EVENTS_DROPPED.labels("refused" if refused else "unreachable").inc()
                        logger.warning("could not post Event %s for %s/%s: %s", event.reason,
                                       event.involved["namespace"], event.involved["name"], error)
                        break
                    await asyncio.sleep(delay)

    def _create(self, event: PendingEvent) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        namespace = event.involved["namespace"]
        response = self._core.create_namespaced_event(namespace, {
            "metadata": {"generateName": f"{event.involved['name'][:EVENT_NAME_PREFIX_LENGTH]}.",
                         "namespace": namespace},
            "involvedObject": event.involved,
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
        }, _preload_content=False)  # the created Event is not read: skip parsing it
        response.drain_conn()
        response.release_conn()
