"""`kubemaker run`: the operator process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
from typing import Any

import kopf
import prometheus_client

from . import API_GROUP
from .config import OperatorConfig
from .handlers import register_kind
from .handlers.endpoint import LIST_SHAPE as ENDPOINT_LIST, EndpointController
from .handlers.model import ModelController
from .handlers.pipeline import ConfigMapTracker, PipelineController
from .handlers.pipelineexecution import ExecutionTracker, PipelineExecutionController
from .handlers.trainingjob import LIST_SHAPE as TRAINING_JOB_LIST, TrainingJobController
from .handlers.transform import LIST_SHAPE as TRANSFORM_JOB_LIST, TransformJobController
from .handlers.tuning import LIST_SHAPE as TUNING_JOB_LIST, TuningJobController
from .runtime import WORKER_THREADS, Runtime
from .tracker import Tracker

FINALIZER = f"{API_GROUP}/cleanup"
# The API server stores JSON nested up to 10000 levels (Go's limit), and a pipelineDefinition object
# may be that deep. kopf, the Kubernetes client and the operator parse, copy and serialise it with
# Python's recursion, which stops at 1000 frames by default: one such object made the watch fail
# and the operator exit, again on every restart. Three frames per level (copy.deepcopy takes two);
# at this depth a thread's 8 MiB stack still holds the C JSON parser's recursion.
OPERATOR_RECURSION_LIMIT = 32_000


class NoDiffBase(kopf.DiffBaseStorage):
    """Keeps no last-handled copy of the spec: our handlers are level-based and never read diffs,
    and a copy in an annotation would fail on large specs (annotations are limited to 256 KiB in
    all, and kubectl's last-applied copy is there already). Nor does it build the essence kopf
    would diff against it: a deep copy of the whole object on every watch event, which profiling
    showed as a sixth of the operator's event handling at 1000 objects."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        return None


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    training_tracker = runtime.trackers.setdefault("TrainingJob", Tracker(runtime, "TrainingJob", TRAINING_JOB_LIST))
    register_kind(registry, TrainingJobController(training_tracker))
    register_kind(registry, ModelController())
    endpoint_tracker = runtime.trackers.setdefault("Endpoint", Tracker(runtime, "Endpoint", ENDPOINT_LIST))
    register_kind(registry, EndpointController(endpoint_tracker))
    tuning_tracker = runtime.trackers.setdefault(
        "HyperParameterTuningJob", Tracker(runtime, "HyperParameterTuningJob", TUNING_JOB_LIST)
    )
    register_kind(registry, TuningJobController(tuning_tracker))
    transform_tracker = runtime.trackers.setdefault("TransformJob", Tracker(runtime, "TransformJob", TRANSFORM_JOB_LIST))
    register_kind(registry, TransformJobController(transform_tracker))
    register_kind(registry, PipelineController(runtime.trackers.setdefault("ConfigMap", ConfigMapTracker(runtime))))
    execution_tracker = runtime.trackers.setdefault("PipelineExecution", ExecutionTracker(runtime))
    register_kind(registry, PipelineExecutionController(execution_tracker))

    # A private registry does not get kopf's default login handlers.
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.posting.reporting_component = "kubemaker"
        settings.posting.level = logging.WARNING  # only explicit Events, not every log line
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="io")
        )
        memo.runtime = runtime
        memo.tracker_tasks = [asyncio.create_task(tracker.run()) for tracker in runtime.trackers.values()]

    @kopf.on.cleanup(registry=registry)
    async def stop_trackers(memo: Any, **_: Any) -> None:
        for task in getattr(memo, "tracker_tasks", []):
            task.cancel()

    return registry


class WakeHookNoise(logging.Filter):
    """kopf logs every run of the wake hook (one per watch event): noise at any scale."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith("Handler '") and "-wake' succeeded" in record.getMessage())


def run(config: OperatorConfig, verbose: bool = False) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), OPERATOR_RECURSION_LIMIT))
    kopf.configure(
        verbose=verbose,
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("kopf.objects").addFilter(WakeHookNoise())
    runtime = Runtime.create(config)
    if config.metrics_port:
        prometheus_client.start_http_server(config.metrics_port)
    kopf.run(
        registry=build_registry(runtime),
        memo=kopf.Memo(),
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        standalone=config.peering is None,
        peering_name=config.peering,
        liveness_endpoint=f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None,
    )
