"""Change tracking for the model registry: one ListModelPackages call per model package group and
poll, however many objects follow the group.

SageMaker lists versions by group but not by modification time, and its summaries carry each
version's ModelPackageStatus and ModelApprovalStatus, so both trackers compare those with what the
objects last saw (as the execution tracker does for pipelines):
- `VersionTracker` (ModelPackage): the versions of a group created since the oldest one followed
  that SageMaker is still working on (Pending, InProgress); every resync interval, since the oldest
  one followed at all, which also shows approvals changed by other tools and versions deleted
  outside the operator. An object is woken when its version's status or approval differs from what
  it reported, or when the version left the full listing. Once every version is final, a group
  costs no listing per poll, however many versions it has.
- `ApprovedVersionTracker` (Model with modelPackageGroupRef): the group's newest approved version
  (sorted by creation time, newest first, one summary: versions are numbered in creation order);
  every Model following the group is woken when it changes. Models read it here, not from SageMaker.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..aws.clients import call
from ..aws.errors import error_message
from .context import ObjectContext, Runtime
from .outcomes import ObjectKey

log = logging.getLogger(__name__)
PAGE_SIZE = 100

# (region, assumed role or None, SageMaker group name): one client, one listing.
GroupKey = tuple[str, str | None, str]


@dataclass(frozen=True)
class ApprovedVersion:
    arn: str
    version: int | None
    status: str | None = None  # its ModelPackageStatus: only a Completed version can be deployed


@dataclass
class TrackedVersion:
    key: ObjectKey
    state: tuple[str | None, str | None]  # (ModelPackageStatus, ModelApprovalStatus) as last reported
    created: datetime.datetime


# ModelPackageStatus values that change no more (Deleting ends in the version's absence).
FINAL_STATES = ("Completed", "Failed")


@dataclass
class VersionGroup:
    namespace: str  # any namespace of the group: they share region and role, so the client
    versions: dict[str, TrackedVersion] = field(default_factory=dict)
    last_full: float = field(default_factory=time.monotonic)  # when every followed version was last listed


class VersionTracker:
    """Follows the versions ModelPackage objects registered: at most one listing per group and poll."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.groups: dict[GroupKey, VersionGroup] = {}

    def follow(self, ctx: ObjectContext, description: dict, track: bool) -> None:
        self.forget(ctx)
        if not track:
            return
        key = (ctx.region, self.runtime.aws.role_for(ctx.namespace), description["ModelPackageGroupName"])
        group = self.groups.setdefault(key, VersionGroup(ctx.namespace))
        group.versions[description["ModelPackageArn"]] = TrackedVersion(
            ctx.key, (description.get("ModelPackageStatus"), description.get("ModelApprovalStatus")),
            description["CreationTime"])

    def forget(self, ctx: ObjectContext) -> None:
        for key, group in list(self.groups.items()):
            for arn, tracked in list(group.versions.items()):
                if tracked.key == ctx.key:
                    del group.versions[arn]
            if not group.versions:
                del self.groups[key]

    async def run(self) -> None:
        while True:
            for key, group in list(self.groups.items()):
                try:
                    await self.poll(key, group)
                except Exception as error:  # one failing group must not stop the others
                    log.warning("model package tracker: listing group %s failed: %s", key[2], error_message(error))
            await asyncio.sleep(self.runtime.config.poll_interval_seconds)

    async def poll(self, key: GroupKey, group: VersionGroup) -> None:
        full = time.monotonic() - group.last_full >= self.runtime.config.resync_interval_seconds
        listed_from = [tracked for tracked in group.versions.values() if full or tracked.state[0] not in FINAL_STATES]
        if not listed_from:
            return
        region, _, name = key
        client = self.runtime.aws.client("sagemaker", group.namespace, region)
        oldest = min(tracked.created for tracked in listed_from)
        params: dict[str, Any] = dict(
            ModelPackageGroupName=name, CreationTimeAfter=oldest - datetime.timedelta(seconds=1),
            SortBy="CreationTime", SortOrder="Ascending", MaxResults=PAGE_SIZE,
        )
        listed = set()
        while True:
            page = await call(client, "list_model_packages", **params)
            for summary in page.get("ModelPackageSummaryList", []):
                listed.add(summary["ModelPackageArn"])
                tracked = group.versions.get(summary["ModelPackageArn"])
                state = (summary.get("ModelPackageStatus"), summary.get("ModelApprovalStatus"))
                if tracked is not None and state != tracked.state:
                    self.runtime.work_queue.add(tracked.key)
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        if full:
            group.last_full = time.monotonic()
            for arn, tracked in list(group.versions.items()):
                if arn not in listed:
                    self.runtime.work_queue.add(tracked.key)


@dataclass
class ApprovedGroup:
    namespace: str
    followers: set[ObjectKey] = field(default_factory=set)
    latest: ApprovedVersion | None = None
    listed_at: float | None = None  # monotonic time of the last listing; None: never listed


@dataclass(frozen=True)
class FollowGroup:
    """What a Model pass hands its tracker: the SageMaker group it takes the latest approved version
    of (None: it takes none, and follows nothing), and the version the pass saw there."""

    group_name: str | None
    seen: ApprovedVersion | None = None


class ApprovedVersionTracker:
    """The newest approved version of each group that Models follow, listed once per group and poll."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.groups: dict[GroupKey, ApprovedGroup] = {}

    def group_key(self, ctx: ObjectContext, group_name: str) -> GroupKey:
        return (ctx.region, self.runtime.aws.role_for(ctx.namespace), group_name)

    async def latest_approved(self, ctx: ObjectContext, group_name: str) -> ApprovedVersion | None:
        """The group's newest approved version, as last listed: by the poll while the group is
        followed, else now (once: the passes of the Models about to follow it share it)."""
        group = self.groups.setdefault(self.group_key(ctx, group_name), ApprovedGroup(ctx.namespace))
        if group.listed_at is None:
            client = self.runtime.aws.client("sagemaker", ctx.namespace, ctx.region)
            group.latest, group.listed_at = await self.list_latest(client, group_name), time.monotonic()
        return group.latest

    def follow(self, ctx: ObjectContext, what: FollowGroup, track: bool) -> None:
        if what.group_name is None or not track:
            self.forget(ctx)
            return
        key = self.group_key(ctx, what.group_name)
        for other, group in list(self.groups.items()):
            if other != key:
                self._drop(other, group, ctx.key)
        group = self.groups.setdefault(key, ApprovedGroup(ctx.namespace))
        if group.listed_at is None:
            # A change after what this pass saw wakes it at the next poll.
            group.latest, group.listed_at = what.seen, time.monotonic()
        group.followers.add(ctx.key)

    def forget(self, ctx: ObjectContext) -> None:
        for key, group in list(self.groups.items()):
            self._drop(key, group, ctx.key)

    def _drop(self, key: GroupKey, group: ApprovedGroup, follower: ObjectKey) -> None:
        group.followers.discard(follower)
        if not group.followers:
            del self.groups[key]

    @staticmethod
    async def list_latest(client: Any, group_name: str) -> ApprovedVersion | None:
        page = await call(client, "list_model_packages", ModelPackageGroupName=group_name,
                          ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
        summaries = page.get("ModelPackageSummaryList") or []
        if not summaries:
            return None
        latest = summaries[0]
        return ApprovedVersion(latest["ModelPackageArn"], latest.get("ModelPackageVersion"),
                               latest.get("ModelPackageStatus"))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.config.poll_interval_seconds)
            for key, group in list(self.groups.items()):
                if not group.followers:  # listed for a pass that then failed, or whose object went
                    del self.groups[key]
                    continue
                try:
                    await self.poll(key, group)
                except Exception as error:  # one failing group must not stop the others
                    log.warning("approved version tracker: listing group %s failed: %s", key[2], error_message(error))

    async def poll(self, key: GroupKey, group: ApprovedGroup) -> None:
        region, _, name = key
        latest = await self.list_latest(self.runtime.aws.client("sagemaker", group.namespace, region), name)
        changed = latest != group.latest
        group.latest, group.listed_at = latest, time.monotonic()
        if changed:
            for follower in list(group.followers):
                self.runtime.work_queue.add(follower)
