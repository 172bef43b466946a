"""What a pass works with: the process-wide `Runtime` (configuration, AWS clients, the Kubernetes
client, the work queue, the objects the watch has shown) and one object's `ObjectContext`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import API_GROUP, API_VERSION, FINALIZER
from ..api.common import KindInfo
from ..api.registry import kind_info, undeclared_status_fields
from ..aws.clients import AwsClients
from ..aws.ownership import Owner
from ..conditions import shortened
from ..config import OperatorConfig
from ..names import derived_name
from .events import POSTING_WRITERS, EventPoster
from .kubeclient import JSON_PATCH, MERGE_PATCH, ApiError, Connection, KubeClient
from .outcomes import Event, ObjectKey
from .workqueue import WorkQueue

EVENT_MESSAGE_LENGTH = 1024  # an Event is read on one line of kubectl describe
# Room for a revision suffix (-r<n>) in the names of kinds SageMaker cannot rename, so a derived
# name keeps its whole uid hash.
REVISION_SUFFIX_ROOM = 4
# Blocking Kubernetes client calls run in this many threads (AWS calls have their own, see
# aws.clients); the default pool (cores + 4) would queue a busy operator's status writes.
WORKER_THREADS = 16
# A burst: passes wait for a worker, or this many run at once. Events wait while it lasts (events.py).
BURST_PASSES = 8


@dataclass
class Runtime:
    config: OperatorConfig
    aws: AwsClients
    kube: KubeClient
    # Keys of objects due for a pass: the watch and the trackers add, the reconciler's workers take.
    work_queue: WorkQueue[ObjectKey] = field(default_factory=WorkQueue)
    events: EventPoster = field(init=False)
    # The latest body (with the status this operator last wrote) of each object the watch has shown:
    # references are read here, never with a GET per pass.
    objects: Callable[[ObjectKey], dict | None] = lambda key: None
    namespace_objects: Callable[[str, str], list[dict]] = lambda kind, namespace: []

    def __post_init__(self) -> None:
        self.events = EventPoster(self.kube, busy=self.in_burst)

    def in_burst(self) -> bool:
        return len(self.work_queue) > 0 or self.work_queue.in_flight() >= BURST_PASSES

    @classmethod
    def create(cls, config: OperatorConfig, connection: Connection) -> Runtime:
        # A connection for each thread that may call: the shared workers and the Event writers.
        return cls(config=config, aws=AwsClients(config), kube=KubeClient(connection, WORKER_THREADS + POSTING_WRITERS))

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict) -> None:
        # The answer (the whole object) is not read: the watch brings it, and parsing it is a
        # measurable share of a busy operator's CPU.
        await asyncio.to_thread(self.kube.request, "PATCH", f"{custom_path(plural, namespace, name)}/status",
                                {"status": status}, content_type=MERGE_PATCH, read=False)

    async def patch_object(self, plural: str, namespace: str, name: str, json_patch: list[dict]) -> None:
        await asyncio.to_thread(self.kube.request, "PATCH", custom_path(plural, namespace, name), json_patch,
                                content_type=JSON_PATCH, read=False)

    async def kubernetes_request(self, method: str, path: str, body: dict | None = None,
                                 query: list[tuple[str, str]] | None = None) -> dict:
        """One call to the Kubernetes API by path (runtime.kubeapi builds them), its answer as JSON."""
        return await asyncio.to_thread(self.kube.request, method, path, body, query=query) or {}

    async def read_config_map(self, namespace: str, name: str) -> dict | None:
        """The ConfigMap, or None when it does not exist."""
        try:
            return await self.kubernetes_request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except ApiError as error:
            if error.status == 404:
                return None
            raise


def custom_path(plural: str, namespace: str, name: str) -> str:
    return f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{plural}/{name}"


@dataclass
class ObjectContext:
    runtime: Runtime
    kind: str
    plural: str
    body: dict
    logger: logging.Logger | logging.LoggerAdapter
    # SageMaker names this pass created (or found ours after "already exists"): no need to check
    # their tags again when the pass looks at them.
    made: set[str] = field(default_factory=set)

    @property
    def namespace(self) -> str:
        return self.body["metadata"]["namespace"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def uid(self) -> str:
        return self.body["metadata"]["uid"]

    @property
    def generation(self) -> int:
        return self.body["metadata"].get("generation", 1)

    @property
    def deleting(self) -> bool:
        return bool(self.body["metadata"].get("deletionTimestamp"))

    @property
    def finalizers(self) -> list[str]:
        return self.body["metadata"].get("finalizers") or []

    async def add_finalizer(self) -> None:
        """Adds our finalizer if missing: appended to a list others may share, or set as the whole
        list only if the object is still the version we read."""
        if FINALIZER in self.finalizers:
            return
        patch: list[dict[str, Any]]
        if self.finalizers:
            patch = [{"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}]
        else:
            version = self.body["metadata"]["resourceVersion"]
            patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": version},
                     {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]
        await self.runtime.patch_object(self.plural, self.namespace, self.name, patch)
        self.body["metadata"]["finalizers"] = [*self.finalizers, FINALIZER]

    async def remove_finalizer(self) -> None:
        """Removes exactly our entry, failing (to be retried) if the list changed under us."""
        index = self.finalizers.index(FINALIZER)
        path = f"/metadata/finalizers/{index}"
        await self.runtime.patch_object(self.plural, self.namespace, self.name,
                                        [{"op": "test", "path": path, "value": FINALIZER},
                                         {"op": "remove", "path": path}])

    @property
    def spec(self) -> dict:
        return self.body.get("spec") or {}

    @property
    def status(self) -> dict:
        return self.body.get("status") or {}

    @property
    def region(self) -> str:
        return self.spec.get("region") or self.runtime.config.region

    @property
    def owner(self) -> Owner:
        return Owner(self.kind, self.namespace, self.name, self.uid)

    @property
    def key(self) -> ObjectKey:
        return (self.kind, self.namespace, self.name)

    @property
    def info(self) -> KindInfo:
        return kind_info(self.kind)

    @property
    def sagemaker_name(self) -> str:
        """The SageMaker name: the spec's, else the one status recorded, else one derived from the
        object (its uid hash makes it new for a re-created object). A kind with revisions (a new
        SageMaker object per change) records the revision's name, so only the spec's counts."""
        info = self.info
        given = self.spec.get(info.name_field)
        if info.revisioned:
            return given or derived_name(self.namespace, self.name, self.uid,
                                         info.name_max_length - REVISION_SUFFIX_ROOM)
        return given or self.status.get(info.name_field) or derived_name(
            self.namespace, self.name, self.uid, info.name_max_length)

    def referenced(self, kind: str, name: str) -> dict | None:
        """Another object of this namespace, as the watch last showed it (None: it does not exist)."""
        return self.runtime.objects((kind, self.namespace, name))

    def client(self, service: str = "sagemaker") -> Any:
        return self.runtime.aws.client(service, self.namespace, self.region)

    def event(self, event: Event) -> None:
        message = shortened(event.message, EVENT_MESSAGE_LENGTH)
        self.runtime.events.post(self.body, event.type, event.reason, message)

    async def write_status(self, fields: dict) -> None:
        """Writes status fields now (e.g. the create-pending marker before a create call)."""
        if self.runtime.config.strict_status:
            undeclared = undeclared_status_fields(self.kind, {k: v for k, v in fields.items() if v is not None})
            if undeclared:
                raise RuntimeError(f"status fields missing from the {self.kind} schema: {', '.join(undeclared)}")
        await self.runtime.patch_status(self.plural, self.namespace, self.name, fields)
        self.body.setdefault("status", {}).update(fields)
