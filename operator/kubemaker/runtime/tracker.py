"""Change tracking: what wakes an object when its SageMaker side (or a ConfigMap it reads) changed.
Every tracker has the same two entry points, which the reconcile core calls: `follow(ctx, what,
track)` after a pass (what the pass described; track False: it can no longer change), and
`forget(ctx)` when the object is deleted.

The batched tracker: one List call per kind, region and account per poll interval.

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

from ..aws.clients import answered_at, call
from ..aws.errors import error_message
from .context import ObjectContext, Runtime
from .kubeclient import ApiError
from .outcomes import ObjectKey

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
    """Lists what SageMaker modified since a watermark and wakes only the objects whose SageMaker
    counterpart changed."""

    def __init__(self, runtime: Runtime, kind: str, shape: ListShape):
        self.runtime = runtime
        self.kind = kind
        self.shape = shape
        self.groups: dict[tuple[str, str | None], Group] = {}

    def follow(self, ctx: ObjectContext, description: dict, track: bool) -> None:
        if not track:
            self._untrack(ctx.region, ctx.namespace, description[self.shape.name_key])
            return
        role = self.runtime.aws.role_for(ctx.namespace)
        group = self.groups.get((ctx.region, role))
        if group is None:
            group = self.groups[(ctx.region, role)] = Group(ctx.region, role)
        group.objects[description[self.shape.name_key]] = Tracked(
            ctx.key, ctx.namespace, description.get("LastModifiedTime") or description["CreationTime"],
            description["CreationTime"])

    def forget(self, ctx: ObjectContext) -> None:
        self._untrack(ctx.region, ctx.namespace, ctx.sagemaker_name)

    def _untrack(self, region: str, namespace: str, sagemaker_name: str) -> None:
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

    def _list(self, group: Group, params: dict[str, Any]) -> Listing:
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


MONITORING_SCHEDULES = ListShape("list_monitoring_schedules", "MonitoringScheduleSummaries", "MonitoringScheduleName")
MONITORING_EXECUTIONS = ListShape("list_monitoring_executions", "MonitoringExecutionSummaries",
                                  "MonitoringScheduleName")


class MonitoringTracker(Tracker):
    """Monitoring schedules, and the executions they start on their own, with two List calls per
    region and account per poll: ListMonitoringSchedules as the batched Tracker lists, and
    ListMonitoringExecutions (account-wide, by LastModifiedTimeAfter), which wakes a schedule whose
    executions changed since the last one its object reported. However many schedules, no Describe
    per schedule per poll."""

    def __init__(self, runtime: Runtime):
        super().__init__(runtime, "MonitoringSchedule", MONITORING_SCHEDULES)
        # Per group: the LastModifiedTime of each schedule's last execution its object reported, and
        # the executions' own watermark.
        self.reported: dict[tuple[str, str | None], dict[str, datetime.datetime]] = {}
        self.execution_watermarks: dict[tuple[str, str | None], datetime.datetime] = {}

    def follow(self, ctx: ObjectContext, description: dict, track: bool) -> None:
        super().follow(ctx, description, track)
        reported = self.reported.setdefault((ctx.region, self.runtime.aws.role_for(ctx.namespace)), {})
        name = description[self.shape.name_key]
        if not track:
            reported.pop(name, None)
            return
        last = description.get("LastMonitoringExecutionSummary") or {}
        reported[name] = last.get("LastModifiedTime") or description["CreationTime"]

    def forget(self, ctx: ObjectContext) -> None:
        super().forget(ctx)
        self.reported.get((ctx.region, self.runtime.aws.role_for(ctx.namespace)), {}).pop(ctx.sagemaker_name, None)

    async def poll(self, group: Group) -> None:
        await super().poll(group)
        key = (group.region, group.role)
        watermark = self.execution_watermarks.get(key)
        if watermark is None:
            # Each object's first pass described its schedule: executions from now on are news.
            if group.watermark is not None:
                self.execution_watermarks[key] = group.watermark
            return
        reported = self.reported.get(key, {})
        client = self.runtime.aws.client("sagemaker", next(iter(group.objects.values())).namespace, group.region)
        pages = Listing(client, MONITORING_EXECUTIONS, {"LastModifiedTimeAfter": watermark})
        async for summary in pages:
            name = summary[MONITORING_EXECUTIONS.name_key]
            tracked = group.objects.get(name)
            seen = reported.get(name)
            if tracked is not None and (seen is None or summary["LastModifiedTime"] > seen):
                self.runtime.work_queue.add(tracked.key)
        if pages.answered_at is not None and pages.answered_at - WATERMARK_OVERLAP > watermark:
            self.execution_watermarks[key] = pages.answered_at - WATERMARK_OVERLAP


# Steps move on while an execution's own status stays Executing, and no listing shows that: a
# running execution also re-reads its steps every this many poll intervals.
STEP_REFRESH_POLLS = 6


@dataclass
class TrackedExecution:
    key: ObjectKey
    status: str
    created: datetime.datetime


@dataclass
class PipelineGroup:
    namespace: str  # any namespace of the group: they share region and role, so the client
    executions: dict[str, TrackedExecution] = field(default_factory=dict)


class ExecutionTracker:
    """Notices execution status changes with one ListPipelineExecutions call per pipeline per poll.

    SageMaker cannot list executions account-wide or by modification time, and its summaries carry
    no LastModifiedTime, so the batched Tracker does not fit. Executions are listed per pipeline
    (by ARN, with the region and role of the objects that run it), created since the oldest one
    tracked, oldest first, and an object is woken when its execution's status differs from the one
    it last reported. However many executions of a pipeline run, that is one call per poll (a page
    holds 100), instead of a describe per execution."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.groups: dict[tuple[str, str | None, str], PipelineGroup] = {}

    def follow(self, ctx: ObjectContext, description: dict, track: bool) -> None:
        pipeline_arn, arn = description["PipelineArn"], description["PipelineExecutionArn"]
        key = (ctx.region, self.runtime.aws.role_for(ctx.namespace), pipeline_arn)
        if track:
            group = self.groups.setdefault(key, PipelineGroup(ctx.namespace))
            group.executions[arn] = TrackedExecution(ctx.key, description["PipelineExecutionStatus"],
                                                     description["CreationTime"])
            return
        followed = self.groups.get(key)
        if followed is not None:
            followed.executions.pop(arn, None)
            if not followed.executions:
                del self.groups[key]

    def forget(self, ctx: ObjectContext) -> None:
        arn = ctx.status.get("pipelineExecutionArn")
        if arn is None:
            return  # never started: nothing tracked
        for key, group in list(self.groups.items()):
            if group.executions.pop(arn, None) is not None and not group.executions:
                del self.groups[key]

    async def run(self) -> None:
        while True:
            for (region, _, pipeline_arn), group in list(self.groups.items()):
                try:
                    await self.poll(region, pipeline_arn, group)
                except Exception as error:  # one failing pipeline must not stop the others
                    log.warning("execution tracker: listing %s failed: %s", pipeline_arn, error_message(error))
            await asyncio.sleep(self.runtime.config.poll_interval_seconds)

    async def poll(self, region: str, pipeline_arn: str, group: PipelineGroup) -> None:
        if not group.executions:
            return
        client = self.runtime.aws.client("sagemaker", group.namespace, region)
        oldest = min(tracked.created for tracked in group.executions.values())
        params = dict(
            PipelineName=pipeline_arn, CreatedAfter=oldest - datetime.timedelta(seconds=1),
            SortBy="CreationTime", SortOrder="Ascending", MaxResults=PAGE_SIZE,
        )
        while True:
            page = await call(client, "list_pipeline_executions", **params)
            for summary in page.get("PipelineExecutionSummaries", []):
                tracked = group.executions.get(summary.get("PipelineExecutionArn"))
                if tracked is not None and summary.get("PipelineExecutionStatus") != tracked.status:
                    self.runtime.work_queue.add(tracked.key)
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]


# Referenced ConfigMaps are read again every this many poll intervals.
CONFIGMAP_REFRESH_POLLS = 6


@dataclass(frozen=True)
class ConfigMapRead:
    """The ConfigMap a pass read (None: the object reads none), and the version it saw (None: the
    ConfigMap did not exist)."""

    name: str | None
    resource_version: str | None = None


class ConfigMapTracker:
    """Notices edits of the ConfigMaps that hold pipeline definitions.

    The operator may only get ConfigMaps by name: list and watch would hand it every ConfigMap in the
    cluster. So each referenced ConfigMap is read every CONFIGMAP_REFRESH_POLLS poll intervals (one
    GET, however many objects share it), and its readers are woken when its resourceVersion moved."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.readers: dict[tuple[str, str], set[ObjectKey]] = {}
        self.versions: dict[tuple[str, str], str] = {}

    def follow(self, ctx: ObjectContext, read: ConfigMapRead, track: bool) -> None:
        self.forget(ctx)
        if read.name is None:
            return
        configmap = (ctx.namespace, read.name)
        self.readers.setdefault(configmap, set()).add(ctx.key)
        if read.resource_version is not None:
            self.versions[configmap] = read.resource_version

    def forget(self, ctx: ObjectContext) -> None:
        for configmap, readers in list(self.readers.items()):
            readers.discard(ctx.key)
            if not readers:
                del self.readers[configmap]
                self.versions.pop(configmap, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.config.poll_interval_seconds * CONFIGMAP_REFRESH_POLLS)
            for (namespace, name), readers in list(self.readers.items()):
                try:
                    configmap = await self.runtime.read_config_map(namespace, name)
                except ApiError as error:
                    log.warning("reading ConfigMap %s/%s failed: %s", namespace, name, error.reason)
                    continue
                except Exception as error:  # e.g. the API server restarting: this loop must outlive it
                    log.warning("reading ConfigMap %s/%s failed: %s", namespace, name, error)
                    continue
                version = configmap["metadata"]["resourceVersion"] if configmap else None  # None: deleted
                if version != self.versions.get((namespace, name)):
                    for key in list(readers):
                        self.runtime.work_queue.add(key)
