"""SageMaker's own state model; importing the kind modules registers their operations."""

from kubemaker.emulator.sagemaker import hosting, training  # noqa: F401  (registers operations)
from kubemaker.emulator.sagemaker.base import OPERATIONS

__all__ = ["OPERATIONS"]
