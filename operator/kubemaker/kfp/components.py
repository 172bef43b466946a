"""The components as Python functions for pipelines written with the kfp SDK (v2):

    from kubemaker.kfp.components import training_job, model, endpoint

    train = training_job(manifest=TRAINING_JOB_YAML)
    served = model(manifest=MODEL_YAML, model_data_url=train.outputs["model_artifact_uri"])
    endpoint(manifest=ENDPOINT_YAML).after(served)

Each runs `python -m kubemaker.kfp` in the operator's image (KUBEMAKER_KFP_IMAGE overrides it when
this module is imported). The pipeline's service account needs our kinds in its namespace: the chart
aggregates them into Kubeflow's kubeflow-edit role. `python -m kubemaker.kfp.components` writes the
same components as YAML into yaml/ for pipelines that load components from files.
"""

# No `from __future__ import annotations`: kfp reads the parameter annotations as objects.
import os
import sys
from pathlib import Path

from kfp import compiler, dsl

IMAGE = os.environ.get("KUBEMAKER_KFP_IMAGE", "ghcr.io/kubemaker/kubemaker:0.1.0")
COMMAND = ["python", "-m", "kubemaker.kfp"]
YAML_DIR = Path(__file__).resolve().parent / "yaml"
FIVE_DAYS = 5 * 24 * 3600  # SageMaker's longest training job runtime is 28 days; set more if needed


@dsl.container_component
def training_job(
    manifest: str,
    model_artifact_uri: dsl.OutputPath(str),
    training_job_name: dsl.OutputPath(str),
    namespace: str = "",
    timeout_seconds: int = FIVE_DAYS,
):
    """Runs a TrainingJob until it completes; outputs its model artifacts' S3 URI. Fails on Stalled."""
    return dsl.ContainerSpec(image=IMAGE, command=COMMAND, args=[
        "--manifest", manifest, "--namespace", namespace, "--timeout-seconds", timeout_seconds,
        "--output-model-artifact-uri", model_artifact_uri, "--output-sagemaker-name", training_job_name,
    ])


@dsl.container_component
def model(
    manifest: str,
    model_name: dsl.OutputPath(str),
    model_data_url: str = "",
    namespace: str = "",
    timeout_seconds: int = 3600,
):
    """Creates or updates a Model; model_data_url (e.g. a training step's model_artifact_uri), when
    given, becomes spec.primaryContainer.modelDataUrl. Outputs the SageMaker model name."""
    return dsl.ContainerSpec(image=IMAGE, command=COMMAND, args=[
        "--manifest", manifest, "--namespace", namespace, "--timeout-seconds", timeout_seconds,
        "--set", f"spec.primaryContainer.modelDataUrl={model_data_url}",
        "--output-sagemaker-name", model_name,
    ])


@dsl.container_component
def endpoint(
    manifest: str,
    endpoint_name: dsl.OutputPath(str),
    namespace: str = "",
    timeout_seconds: int = 7200,
):
    """Creates or updates an Endpoint and waits until it serves the spec; outputs the endpoint name."""
    return dsl.ContainerSpec(image=IMAGE, command=COMMAND, args=[
        "--manifest", manifest, "--namespace", namespace, "--timeout-seconds", timeout_seconds,
        "--output-endpoint-name", endpoint_name,
    ])


@dsl.container_component
def sagemaker_object(
    manifest: str,
    sagemaker_name: dsl.OutputPath(str),
    namespace: str = "",
    timeout_seconds: int = FIVE_DAYS,
):
    """Any of our kinds (tuning, transform, pipeline execution, ...): applies it, waits for Ready."""
    return dsl.ContainerSpec(image=IMAGE, command=COMMAND, args=[
        "--manifest", manifest, "--namespace", namespace, "--timeout-seconds", timeout_seconds,
        "--output-sagemaker-name", sagemaker_name,
    ])


COMPONENTS = {"training_job": training_job, "model": model, "endpoint": endpoint,
              "sagemaker_object": sagemaker_object}


def main() -> int:
    YAML_DIR.mkdir(exist_ok=True)
    for name, component in COMPONENTS.items():
        compiler.Compiler().compile(component, str(YAML_DIR / f"{name}.yaml"))
        print(YAML_DIR / f"{name}.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
