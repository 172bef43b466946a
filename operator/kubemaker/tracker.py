"""Batched change tracking: one List call per kind, region and account per poll interval.

Instead of describing every running job every interval (thousands of calls a minute at scale), a
tracker lists what SageMaker modified since its watermark and wakes only the objects whose
SageMaker counterpart changed; they then describe just that one. A slower full listing catches
anything a watermark could miss (clock skew, eventual consistency) and objects deleted outside the
operator, which leave the listing without a modification time to notice.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .aws.clients import answered_at, call
from .aws.errors import error_message
from .runtime import ObjectKey, Runtime

log = logging.getLogger(__name__)
PAGE_SIZE = 100
# Watermarks step back this far: SageMaker may publish a change a little after its timestamp.
WATERMARK_OVERLAP = datetime.timedelta(seconds=10)


@dataclass(frozen=True)
class ListShape:
    operation: str  # boto3 method, e.g. list_training_jobs
    summaries_key: str
    name_key: str


@dataclass
class Tracked:
    key: ObjectKey
    namespace: str
    last_modified: datetime.datetime
    created: datetime.datetime


@dataclass
class Group:
    """Everything tracked through one client: the same region and the same assumed role."""

    region: str
    role: str | None
    # SageMaker's time (its Date header) of the last listing, less the overlap; None before the
    # first, which lists every tracked object instead: our own clock may run ahead of SageMaker's.
    watermark: datetime.datetime | None = None
    objects: dict[str, Tracked] = field(default_factory=dict)
    last_resync: float = field(default_factory=time.monotonic)


class Tracker:
    def __init__(self, runtime: Runtime, kind: str, shape: ListShape):
        self.runtime = runtime
        self.kind = kind
        self.shape = shape
        self.groups: dict[tuple[str, str | None], Group] = {}

    def track(
        self, namespace: str, region: str, sagemaker_name: str, key: ObjectKey,
        last_modified: datetime.datetime, created: datetime.datetime,
    ) -> None:
        role = self.runtime.aws.role_for(namespace)
        group = self.groups.get((region, role))
        if group is None:
            group = self.groups[(region, role)] = Group(region, role)
        group.objects[sagemaker_name] = Tracked(key, namespace, last_modified, created)

    def untrack(self, region: str, namespace: str, sagemaker_name: str) -> None:
        group = self.groups.get((region, self.runtime.aws.role_for(namespace)))
        if group is not None:
            group.objects.pop(sagemaker_name, None)

    async def run(self) -> None:
        while True:
            for group in list(self.groups.values()):
                if not group.objects:
                    continue
                try:
                    await self.poll(group)
                except Exception as error:  # one failing account must not stop the others
                    log.warning("%s tracker: listing in %s failed: %s", self.kind, group.region, error_message(error))
            await asyncio.sleep(self.runtime.config.poll_interval_seconds)

    async def poll(self, group: Group) -> None:
        full = (group.watermark is None
                or time.monotonic() - group.last_resync >= self.runtime.config.resync_interval_seconds)
        if full:
            oldest = min(tracked.created for tracked in group.objects.values())
            params: dict[str, Any] = {"CreationTimeAfter": oldest - datetime.timedelta(seconds=1)}
        else:
            params = {"LastModifiedTimeAfter": group.watermark}
        newest = None
        listed = set()
        pages = self._list(group, params)
        async for summary in pages:
            listed.add(summary[self.shape.name_key])
            modified = summary.get("LastModifiedTime")
            if modified is None:
                continue
            newest = modified if newest is None or modified > newest else newest
            tracked = group.objects.get(summary[self.shape.name_key])
            if tracked is not None and modified > tracked.last_modified:
                self.runtime.work_queue.add(tracked.key)
        if full:
            # Deleted behind the operator's back: gone from the listing without a modification.
            for name, tracked in list(group.objects.items()):
                if name not in listed:
                    self.runtime.work_queue.add(tracked.key)
        # Everything modified before the listing began, less the overlap, has been seen. Stepping
        # back from the newest change instead would list the last burst of changes again at every
        # poll while nothing changes: five pages a poll after a thousand jobs started together.
        candidate = (pages.answered_at or newest)
        if candidate is not None and (group.watermark is None or candidate - WATERMARK_OVERLAP > group.watermark):
            group.watermark = candidate - WATERMARK_OVERLAP
        if full:
            group.last_resync = time.monotonic()

    def _list(self, group: Group, params: dict[str, Any]) -> "Listing":
        namespace = next(iter(group.objects.values())).namespace
        client = self.runtime.aws.client("sagemaker", namespace, group.region)
        return Listing(client, self.shape, params)


class Listing:
    """The summaries of one paginated listing; records when SageMaker answered its first page."""

    def __init__(self, client: Any, shape: ListShape, params: dict[str, Any]):
        self.client, self.shape, self.params = client, shape, params
        self.answered_at: datetime.datetime | None = None

    async def __aiter__(self):
        token = None
        while True:
            page_params = dict(self.params, MaxResults=PAGE_SIZE, **({"NextToken": token} if token else {}))
            page = await call(self.client, self.shape.operation, **page_params)
            if self.answered_at is None:
                self.answered_at = answered_at(page)
            for summary in page.get(self.shape.summaries_key, []):
                yield summary
            token = page.get("NextToken")
            if not token:
                return
