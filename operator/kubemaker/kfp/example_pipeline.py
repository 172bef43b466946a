"""Example pipelines: train, register the model, serve it (TrainingJob -> Model -> Endpoint).

    python -m kubemaker.kfp.example_pipeline train-and-deploy.yaml   # compile, then upload to KFP
    python -m kubemaker.kfp.example_pipeline --on-cluster train-on-cluster.yaml

The second trains on the cluster's own nodes (placement: Cluster) and serves from SageMaker: the same
steps, with one field of the TrainingJob changed.

The training job uses generateName, so every run trains anew (jobs are immutable); the Model and the
Endpoint keep their names, so a run makes a new model revision and moves the endpoint to it.
"""

# No `from __future__ import annotations`: kfp reads the parameter annotations as objects.
import sys

from kfp import compiler, dsl

from .components import endpoint, model, training_job
from .example_manifests import ENDPOINT, MODEL, TRAINING_JOB, TRAINING_JOB_ON_CLUSTER


@dsl.pipeline(name="train-and-deploy", description="Train with SageMaker, register the model, serve it.")
def train_and_deploy(namespace: str = ""):
    train = training_job(manifest=TRAINING_JOB, namespace=namespace)
    served = model(manifest=MODEL, namespace=namespace, model_data_url=train.outputs["model_artifact_uri"])
    endpoint(manifest=ENDPOINT, namespace=namespace).after(served)


@dsl.pipeline(name="train-on-cluster-serve-on-sagemaker",
              description="Train on the cluster's own nodes, register the model, serve it from SageMaker.")
def train_on_cluster_serve_on_sagemaker(namespace: str = ""):
    train = training_job(manifest=TRAINING_JOB_ON_CLUSTER, namespace=namespace)
    served = model(manifest=MODEL, namespace=namespace, model_data_url=train.outputs["model_artifact_uri"])
    endpoint(manifest=ENDPOINT, namespace=namespace).after(served)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    on_cluster = "--on-cluster" in arguments
    paths = [argument for argument in arguments if argument != "--on-cluster"]
    pipeline, default = ((train_on_cluster_serve_on_sagemaker, "train-on-cluster.yaml") if on_cluster
                         else (train_and_deploy, "train-and-deploy.yaml"))
    compiler.Compiler().compile(pipeline, paths[0] if paths else default)
