"""Each kind's controller, and the one place that says which controller and tracker serve a kind.
kopf only watches: it hands every object's latest body to the reconciler, which queues it when
there is something to do; everything else, finalizer included, is the reconcile core's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from .. import API_GROUP, API_VERSION
from ..api.registry import KINDS
from ..runtime.context import Runtime
from ..runtime.reconciler import KindController, Reconciler
from ..runtime.registry_tracker import ApprovedVersionTracker, VersionTracker
from ..runtime.tracker import ConfigMapTracker, ExecutionTracker, ListShape, MonitoringTracker, Tracker
from .common import JobController
from .endpoint import EndpointController
from .inference_component import InferenceComponentController
from .model import ModelController
from .model_package import ModelPackageController, ModelPackageGroupController
from .monitoringschedule import MonitoringScheduleController
from .pipeline import PipelineController
from .pipelineexecution import PipelineExecutionController
from .processing import ProcessingJobController
from .trainingjob import TrainingJobController
from .transform import TransformJobController
from .tuning import TuningJobController

ENDPOINT_LIST = ListShape("list_endpoints", "Endpoints", "EndpointName")
INFERENCE_COMPONENT_LIST = ListShape("list_inference_components", "InferenceComponents", "InferenceComponentName")


def job(controller: type[JobController]) -> Callable[[Runtime], KindController]:
    return lambda runtime: controller(Tracker(runtime, controller.kind, controller.api.list_shape))


# Kind -> its controller, made with its tracker for one runtime.
CONTROLLERS: dict[str, Callable[[Runtime], KindController]] = {
    "TrainingJob": job(TrainingJobController),
    "HyperParameterTuningJob": job(TuningJobController),
    "TransformJob": job(TransformJobController),
    "Model": lambda runtime: ModelController(ApprovedVersionTracker(runtime)),
    "Endpoint": lambda runtime: EndpointController(Tracker(runtime, "Endpoint", ENDPOINT_LIST)),
    "InferenceComponent": lambda runtime: InferenceComponentController(
        Tracker(runtime, "InferenceComponent", INFERENCE_COMPONENT_LIST)),
    "Pipeline": lambda runtime: PipelineController(ConfigMapTracker(runtime)),
    "PipelineExecution": lambda runtime: PipelineExecutionController(ExecutionTracker(runtime)),
    "MonitoringSchedule": lambda runtime: MonitoringScheduleController(MonitoringTracker(runtime)),
    "ProcessingJob": job(ProcessingJobController),
    "ModelPackageGroup": lambda runtime: ModelPackageGroupController(),
    "ModelPackage": lambda runtime: ModelPackageController(VersionTracker(runtime)),
}


def build_controllers(runtime: Runtime) -> list[KindController]:
    """The controllers of every kind the API serves, in the API's order."""
    return [CONTROLLERS[info.kind](runtime) for info in KINDS]


def register_kind(registry: kopf.OperatorRegistry, reconciler: Reconciler, controller: KindController) -> None:
    @kopf.on.event(group=API_GROUP, version=API_VERSION, plural=controller.plural, registry=registry,
                   id=f"{controller.plural}-observe")
    async def observe(body: kopf.Body, type: str | None, **_: Any) -> None:
        reconciler.observe(controller, body, type)
