"""Process-wide state shared by the handlers: configuration, AWS clients, the Kubernetes client,
the work queue and the SageMaker trackers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from . import API_GROUP, API_VERSION
from .aws.clients import AwsClients
from .config import OperatorConfig
from .events import POSTING_WRITERS, EventPoster
from .workqueue import WorkQueue

ObjectKey = tuple[str, str, str]  # (kind, namespace, name)
# Blocking Kubernetes client calls run in this many threads (AWS calls have their own, see
# aws.clients); the default pool (cores + 4) would queue a busy operator's status writes.
WORKER_THREADS = 32


@dataclass
class Runtime:
    config: OperatorConfig
    aws: AwsClients
    custom_objects: Any
    core: Any
    # Keys of objects due for a pass: the watch and the trackers add, the reconciler's workers take.
    work_queue: WorkQueue = field(default_factory=WorkQueue)
    trackers: dict[str, Any] = field(default_factory=dict)
    events: EventPoster = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventPoster(self.core)

    @classmethod
    def create(cls, config: OperatorConfig) -> "Runtime":
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        configuration = kubernetes.client.Configuration.get_default_copy()
        # One connection per thread: the shared workers and the Event writers.
        configuration.connection_pool_maxsize = WORKER_THREADS + POSTING_WRITERS
        api_client = kubernetes.client.ApiClient(configuration)
        return cls(
            config=config,
            aws=AwsClients(config),
            custom_objects=kubernetes.client.CustomObjectsApi(api_client),
            core=kubernetes.client.CoreV1Api(api_client),
        )

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict) -> None:
        # The answer (the whole object) is not read: the watch brings it, and parsing it is a
        # measurable share of a busy operator's CPU.
        response = await asyncio.to_thread(
            self.custom_objects.patch_namespaced_custom_object_status,
            API_GROUP, API_VERSION, namespace, plural, name, {"status": status}, _preload_content=False,
        )
        response.drain_conn()
        response.release_conn()

    async def patch_object(self, plural: str, namespace: str, name: str, json_patch: list[dict]) -> None:
        response = await asyncio.to_thread(
            self.custom_objects.patch_namespaced_custom_object,
            API_GROUP, API_VERSION, namespace, plural, name, json_patch,
            _content_type="application/json-patch+json", _preload_content=False,
        )
        response.drain_conn()
        response.release_conn()

    async def get_object(self, plural: str, namespace: str, name: str) -> dict | None:
        try:
            return await asyncio.to_thread(
                self.custom_objects.get_namespaced_custom_object, API_GROUP, API_VERSION, namespace, plural, name
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise
