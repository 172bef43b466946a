"""The SageMaker state shared by every resource kind: regions, ARNs, tags, listing and paging."""

from __future__ import annotations

import base64
import heapq
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from kubemaker_emulator.errors import validation_error
from kubemaker_emulator.partitions import partition_of
from kubemaker_emulator.scheduler import Scheduler, Timer

ACCOUNT_ID = "123456789012"

Handler = Callable[["Region", dict[str, Any]], dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Registers the handler of one SageMaker operation."""

    def register(handler: Handler) -> Handler:
        OPERATIONS[name] = handler
        return handler

    return register


class OtherServices(Protocol):
    """The other AWS services SageMaker writes to (CloudWatch Logs) and reads from (S3): moto's, in the server."""

    def create_stream(self, region: str, group: str, stream: str) -> None: ...

    def put(self, region: str, group: str, stream: str, events: list[tuple[float, str]]) -> None: ...

    def read_object(self, region: str, bucket: str, key: str) -> bytes | None: ...


@dataclass
class ArmedFaults:
    """Failures asked for through the control API, waiting for the resource they target."""

    training_failures: dict[str, str] = field(default_factory=dict)
    transform_failures: dict[str, str] = field(default_factory=dict)
    # Processing job name -> (FailureReason, ExitMessage).
    processing_failures: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    endpoint_creation_failures: dict[str, str] = field(default_factory=dict)
    endpoint_update_failures: dict[str, str] = field(default_factory=dict)
    inference_component_failures: dict[str, str] = field(default_factory=dict)
    pipeline_step_failures: dict[tuple[str, str], str] = field(default_factory=dict)
    # Monitoring schedule name -> (message, how many of its next executions complete with violations).
    monitoring_violations: dict[str, tuple[str, int]] = field(default_factory=dict)


class World:
    """All regions of the emulated account, one clock, one lock."""

    def __init__(self, timings: dict[str, float], services: OtherServices, clock: Callable[[], float] = time.time):
        self.lock = threading.RLock()
        self.scheduler = Scheduler()
        self.timings = timings
        self.services = services
        self.clock = clock
        self.armed = ArmedFaults()
        self.regions: dict[str, Region] = {}

    def region(self, name: str) -> "Region":
        if name not in self.regions:
            self.regions[name] = Region(self, name)
        return self.regions[name]

    def catch_up(self) -> float:
        """Applies every state change due by now and returns now."""
        now = self.clock()
        self.scheduler.run_due(now)
        return now

    def timer(self) -> Timer:
        return Timer(self.scheduler)

    def reset(self, timings: dict[str, float]) -> None:
        self.scheduler.clear()
        self.regions.clear()
        self.armed = ArmedFaults()
        self.timings = timings


class Region:
    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.name = name
        self.partition = partition_of(name)
        self.training_jobs: dict[str, Any] = {}
        self.tuning_jobs: dict[str, Any] = {}
        self.transform_jobs: dict[str, Any] = {}
        self.processing_jobs: dict[str, Any] = {}
        self.models: dict[str, Any] = {}
        self.endpoint_configs: dict[str, Any] = {}
        self.endpoints: dict[str, Any] = {}
        self.inference_components: dict[str, Any] = {}
        # Application Auto Scaling's state (kubemaker_emulator.autoscaling), kept here so SageMaker
        # can refuse what it refuses under a registered target.
        self.scalable_targets: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.scaling_policies: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.pipelines: dict[str, Any] = {}
        # The model registry (kubemaker_emulator.sagemaker.registry): groups by name, packages by ARN.
        self.model_package_groups: dict[str, Any] = {}
        self.model_packages: dict[str, Any] = {}
        self.pipeline_executions: dict[str, Any] = {}
        self.monitoring_schedules: dict[str, Any] = {}
        self.monitoring_definitions: dict[tuple[str, str], Any] = {}  # (MonitoringType, name)
        self.monitoring_executions: list[Any] = []
        # Everything taggable, by ARN.
        self.tagged: dict[str, "Resource"] = {}

    def arn(self, kind: str, name: str) -> str:
        # SageMaker lower-cases names in ARNs.
        return f"arn:{self.partition}:sagemaker:{self.name}:{ACCOUNT_ID}:{kind}/{name.lower()}"

    @property
    def timings(self) -> dict[str, float]:
        return self.world.timings

    def now(self) -> float:
        return self.world.clock()


class Resource:
    """Something SageMaker gives an ARN and tags to."""

    def __init__(self, region: Region, name: str, arn: str, tags: list[dict[str, str]] | None, now: float):
        self.region = region
        self.name = name
        self.arn = arn
        self.tags: list[dict[str, str]] = merge_tags([], tags or [])
        # Tags AWS itself puts on (keys under aws:): listed, never counted against the limit, and
        # never changed through AddTags or DeleteTags.
        self.system_tags: list[dict[str, str]] = []
        self.system_tags_first = False  # listed before the user's (AWS promises no order)
        self.creation_time = now
        self.last_modified = now

    def register(self) -> None:
        self.region.tagged[self.arn] = self

    def unregister(self) -> None:
        self.region.tagged.pop(self.arn, None)


def seeded_fraction(*parts: Any) -> float:
    """A stable pseudo-random number in [0, 1) derived from names, so reruns look the same."""
    digest = hashlib.sha256("\x00".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def short_hex(*parts: Any, length: int = 8) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:length]


def time_window_filter(params: dict[str, Any], created: str, modified: str | None) -> Callable[[Any], bool]:
    """Builds the CreationTime/LastModifiedTime After/Before filter of a List call.

    `created` and `modified` name the request members' prefix (e.g. "CreationTime" / "LastModifiedTime").
    """
    bounds: list[tuple[str, str, float]] = []
    for prefix, attribute in ((created, "creation_time"), (modified, "last_modified")):
        if prefix is None:
            continue
        if params.get(f"{prefix}After") is not None:
            bounds.append((attribute, "after", float(params[f"{prefix}After"])))
        if params.get(f"{prefix}Before") is not None:
            bounds.append((attribute, "before", float(params[f"{prefix}Before"])))

    def accept(resource: Any) -> bool:
        for attribute, side, bound in bounds:
            value = getattr(resource, attribute)
            if side == "after" and not value > bound:
                return False
            if side == "before" and not value < bound:
                return False
        return True

    return accept


def page(
    items: Iterable[Any],
    params: dict[str, Any],
    sort_keys: dict[str, Callable[[Any], Any]],
    default_sort: str,
    default_order: str = "Ascending",
    default_max: int = 10,
) -> tuple[list[Any], str | None]:
    """Sorts and pages a List call's matches.

    The token names the sort key of the last item returned, so a page never repeats or skips an
    item when others are created between calls (AWS's tokens are opaque; this one is too). Only
    the page is sorted, so listing stays cheap with thousands of resources.
    """
    sort_by = params.get("SortBy") or default_sort
    descending = (params.get("SortOrder") or default_order) == "Descending"
    by_value = sort_keys[sort_by]

    def key_of(item: Any) -> tuple[Any, str]:
        return (by_value(item), item.name)

    token = params.get("NextToken")
    if token:
        after = _decode_token(token, sort_by)
        if descending:
            items = [item for item in items if key_of(item) < after]
        else:
            items = [item for item in items if key_of(item) > after]
    limit = params.get("MaxResults") or default_max
    pick = heapq.nlargest if descending else heapq.nsmallest
    chosen = pick(limit + 1, items, key=key_of)
    if len(chosen) <= limit:
        return chosen, None
    return chosen[:limit], _encode_token(key_of(chosen[limit - 1]), sort_by)


def _encode_token(key: tuple[Any, str], sort_by: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort_by, list(key)]).encode()).decode()


def _decode_token(token: str, sort_by: str) -> tuple[Any, str]:
    try:
        token_sort, key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise validation_error("Invalid pagination token") from None
    if token_sort != sort_by:
        raise validation_error("The pagination token does not match the request's sort order")
    return tuple(key)  # type: ignore[return-value]


# Paging by position ------------------------------------------------------------------------------


def offset_page(items: list[Any], params: dict[str, Any], scope: str, default_max: int) -> tuple[list[Any], str | None]:
    """Pages a short list kept in order (tags, an execution's parameters).

    The token is opaque and bound to what is listed (`scope`, e.g. the ARN): one that is not ours, or
    that names another listing, is refused as AWS refuses it, never taken as the first page.
    """
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            token_scope, start = json.loads(base64.urlsafe_b64decode(token.encode()))
        except (ValueError, TypeError):
            raise validation_error("Invalid pagination token") from None
        if token_scope != scope or not isinstance(start, int) or start < 0:
            raise validation_error("Invalid pagination token")
    limit = params.get("MaxResults") or default_max
    chosen = items[start : start + limit]
    if start + limit >= len(items):
        return chosen, None
    return chosen, base64.urlsafe_b64encode(json.dumps([scope, start + limit]).encode()).decode()


# Tags ---------------------------------------------------------------------------------------------

MAX_TAGS = 50
# ListTags answers 50 tags when MaxResults is not given (its minimum).
DEFAULT_LIST_TAGS = 50
RESERVED_TAG_PREFIX = "aws:"


def refuse_reserved_keys(keys: Iterable[str]) -> None:
    """AWS reserves tag keys starting with aws: (in any case) for its own tags: users may not add,
    change or delete them."""
    reserved = [key for key in keys if key.lower().startswith(RESERVED_TAG_PREFIX)]
    if reserved:
        raise validation_error(f"Tag keys starting with 'aws:' are reserved for AWS use: {', '.join(reserved)}")


def merge_tags(existing: list[dict[str, str]], added: list[dict[str, str]]) -> list[dict[str, str]]:
    refuse_reserved_keys(tag["Key"] for tag in added)
    by_key = {tag["Key"]: tag for tag in existing}
    for tag in added:
        by_key[tag["Key"]] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
    if len(by_key) > MAX_TAGS:
        raise validation_error(f"Resource cannot have more than {MAX_TAGS} tags")
    return list(by_key.values())


def tagged_resource(region: Region, arn: str) -> Resource:
    resource = region.tagged.get(arn)
    if resource is None:
        raise validation_error(f"Resource {arn} does not exist.")
    return resource


@operation("AddTags")
def add_tags(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    resource = tagged_resource(region, params["ResourceArn"])
    resource.tags = merge_tags(resource.tags, params["Tags"])
    return {"Tags": params["Tags"]}


@operation("DeleteTags")
def delete_tags(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    resource = tagged_resource(region, params["ResourceArn"])
    refuse_reserved_keys(params["TagKeys"])
    removed = set(params["TagKeys"])
    resource.tags = [tag for tag in resource.tags if tag["Key"] not in removed]
    return {}


@operation("ListTags")
def list_tags(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    resource = tagged_resource(region, params["ResourceArn"])
    listed = resource.system_tags + resource.tags if resource.system_tags_first else resource.tags + resource.system_tags
    tags, token = offset_page(listed, params, resource.arn, DEFAULT_LIST_TAGS)
    answer: dict[str, Any] = {"Tags": tags}
    if token:
        answer["NextToken"] = token
    return answer
