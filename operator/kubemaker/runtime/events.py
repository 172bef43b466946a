"""Kubernetes Events for the objects we reconcile, posted in the background by a few writers at
once: a burst of state changes (a thousand jobs starting together) must neither hold up the passes
that report them nor queue behind one another for minutes.

Similar Events are aggregated as client-go's event correlator does: one Event per object, type and
reason, whose `count` and `lastTimestamp` (and message: the latest) grow with each occurrence. An
occurrence whose Event is still waiting to be posted joins it, so a backlog holds at most one entry
per object and reason; one whose Event was posted recently is a patch of that Event. Only a backlog
of MAX_PENDING_EVENTS different entries drops, and every drop is counted."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..metrics import EVENTS_AGGREGATED, EVENTS_DROPPED
from .kubeclient import MERGE_PATCH, ApiError, KubeClient

logger = logging.getLogger(__name__)

COMPONENT = "kubemaker"
# Writers, each with a thread of its own: posting must not queue behind status writes for the
# shared threads, and a burst of thousands of state changes needs more than one at a time.
POSTING_WRITERS = 4
# Different (object, type, reason) entries waiting while the API server is slow; beyond this many
# a new one is dropped (and counted): Events are a courtesy, status is the record. 5000 jobs that
# start together wait for about six each.
MAX_PENDING_EVENTS = 50_000
# Posted Events remembered for aggregation, as client-go's correlator's cache.
POSTED_CACHE_SIZE = 4096
RETRY_DELAYS_SECONDS = (1, 5)
# Status first: while a burst of passes runs or waits for workers, an Event waits too, this long at
# most, and its object's further occurrences join it meanwhile. The API server serves the writes
# that make progress before the courtesy.
MAX_DEFER_SECONDS = 10.0
BUSY_RECHECK_SECONDS = 0.2
SENDING_RECHECK_SECONDS = 0.05
RETRIED_STATUSES = {429, 500, 502, 503, 504}
# Names are at most 253 characters; the API server appends five random ones to generateName.
EVENT_NAME_PREFIX_LENGTH = 200

CorrelationKey = tuple[str, str, str]  # the involved object's uid, the type, the reason


@dataclass(slots=True)
class PendingEvent:
    involved: dict
    type: str
    reason: str
    message: str
    first: str
    last: str
    count: int = 1


@dataclass(slots=True)
class PostedEvent:
    namespace: str
    name: str
    count: int


def involved_object(body: dict) -> dict:
    metadata = body["metadata"]
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
    }


def now_timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventPoster:
    def __init__(self, kube: KubeClient, instance: str | None = None,
                 busy: Callable[[], bool] = lambda: False) -> None:
        self._kube = kube
        self._busy = busy
        self._instance = instance or socket.gethostname()
        self._pending: dict[CorrelationKey, PendingEvent] = {}
        self._due: asyncio.Queue[CorrelationKey] = asyncio.Queue()
        self._posted: collections.OrderedDict[CorrelationKey, PostedEvent] = collections.OrderedDict()
        self._sending: set[CorrelationKey] = set()
        self._threads = concurrent.futures.ThreadPoolExecutor(POSTING_WRITERS, thread_name_prefix="events")

    def post(self, body: dict, type: str, reason: str, message: str) -> None:
        key = (body["metadata"].get("uid") or "", type, reason)
        now = now_timestamp()
        waiting = self._pending.get(key)
        if waiting is not None:
            waiting.count += 1
            waiting.message, waiting.last = message, now
            EVENTS_AGGREGATED.inc()
            return
        if len(self._pending) >= MAX_PENDING_EVENTS:
            EVENTS_DROPPED.labels("backlog").inc()
            logger.warning("dropped Event %s for %s: %d Events are waiting", reason, body["metadata"].get("name"),
                           MAX_PENDING_EVENTS)
            return
        self._pending[key] = PendingEvent(involved_object(body), type, reason, message, now, now)
        self._due.put_nowait(key)

    async def run(self) -> None:
        await asyncio.gather(*(self._write() for _ in range(POSTING_WRITERS)))

    async def _write(self) -> None:
        while True:
            key = await self._due.get()
            await self._defer_while_busy()
            if key in self._sending:  # one write per key at a time, so counts add up
                self._due.put_nowait(key)
                await asyncio.sleep(SENDING_RECHECK_SECONDS)
                continue
            event = self._pending.pop(key)  # occurrences from now on make a new entry
            self._sending.add(key)
            try:
                await self._send(key, event)
            finally:
                self._sending.discard(key)

    async def _defer_while_busy(self) -> None:
        deadline = asyncio.get_running_loop().time() + MAX_DEFER_SECONDS
        while self._busy() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(BUSY_RECHECK_SECONDS)

    async def _send(self, key: CorrelationKey, event: PendingEvent) -> None:
        for delay in (*RETRY_DELAYS_SECONDS, None):
            try:
                posted = self._posted.get(key)
                if posted is None or not await self._in_thread(self._patch, posted, event):
                    name = await self._in_thread(self._create, event)
                    self._posted[key] = PostedEvent(event.involved["namespace"], name, event.count)
                    while len(self._posted) > POSTED_CACHE_SIZE:
                        self._posted.popitem(last=False)
                else:
                    posted.count += event.count
                    self._posted.move_to_end(key)
                    EVENTS_AGGREGATED.inc()  # the entry's first occurrence; the rest joined it while waiting
                return
            except Exception as error:  # an API answer, or no connection at all
                refused = isinstance(error, ApiError) and error.status not in RETRIED_STATUSES
                if refused or delay is None:
                    EVENTS_DROPPED.labels("refused" if refused else "unreachable").inc(event.count)
                    logger.warning("could not post Event %s for %s/%s: %s", event.reason,
                                   event.involved["namespace"], event.involved["name"], error)
                    return
                await asyncio.sleep(delay)

    async def _in_thread(self, send: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, send, *args)

    def _patch(self, posted: PostedEvent, event: PendingEvent) -> bool:
        """Counts the occurrences on the Event already posted; False when it is gone (the API server
        keeps Events an hour)."""
        try:
            self._kube.request("PATCH", f"/api/v1/namespaces/{posted.namespace}/events/{posted.name}",
                               {"count": posted.count + event.count, "message": event.message,
                                "lastTimestamp": event.last}, content_type=MERGE_PATCH, read=False)
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def _create(self, event: PendingEvent) -> str:
        namespace = event.involved["namespace"]
        created = self._kube.request("POST", f"/api/v1/namespaces/{namespace}/events", {
            "metadata": {"generateName": f"{event.involved['name'][:EVENT_NAME_PREFIX_LENGTH]}.",
                         "namespace": namespace},
            "involvedObject": event.involved,
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "count": event.count,
            "firstTimestamp": event.first,
            "lastTimestamp": event.last,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
        })
        return str(created["metadata"]["name"])
