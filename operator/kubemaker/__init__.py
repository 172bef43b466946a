"""Kubemaker: a Kubernetes operator for Amazon SageMaker."""

API_GROUP = "sagemaker.kubemaker.io"
API_VERSION = "v1alpha1"
