"""Kubemaker: a Kubernetes operator for Amazon SageMaker."""

API_GROUP = "sagemaker.kubemaker.io"
API_VERSION = "v1alpha1"
# kopf holds deletion with this finalizer until the SageMaker side is cleaned up.
FINALIZER = f"{API_GROUP}/cleanup"
