"""Kubemaker: a Kubernetes operator for Amazon SageMaker."""

API_GROUP = "sagemaker.kubemaker.io"
API_VERSION = "v1alpha1"
# Deletion waits on this finalizer until the reconciler has cleaned up the SageMaker side.
FINALIZER = f"{API_GROUP}/cleanup"
