"""SageMaker's own state model; importing the kind modules registers their operations."""

from kubemaker_emulator.sagemaker import hosting, pipelines, processing, training, transform, tuning  # noqa: F401
from kubemaker_emulator.sagemaker import components  # noqa: F401  (inference components)
from kubemaker_emulator.sagemaker import registry  # noqa: F401  (model package groups and versions)
from kubemaker_emulator.sagemaker import monitoring  # noqa: F401  (Model Monitor)
from kubemaker_emulator.sagemaker.base import OPERATIONS

__all__ = ["OPERATIONS"]
