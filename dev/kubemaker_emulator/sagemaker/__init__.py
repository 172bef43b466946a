"""SageMaker's own state model; importing the kind modules registers their operations."""

from kubemaker_emulator.sagemaker import hosting, pipelines, training, transform, tuning  # noqa: F401
from kubemaker_emulator.sagemaker.base import OPERATIONS

__all__ = ["OPERATIONS"]
