"""An example pipeline: train, register the model, serve it (TrainingJob -> Model -> Endpoint).

    python -m kubemaker.kfp.example_pipeline train-and-deploy.yaml   # compile, then upload to KFP

The training job uses generateName, so every run trains anew (jobs are immutable); the Model and the
Endpoint keep their names, so a run makes a new model revision and moves the endpoint to it.
"""

# No `from __future__ import annotations`: kfp reads the parameter annotations as objects.
import sys

from kfp import compiler, dsl

from .components import endpoint, model, training_job
from .example_manifests import ENDPOINT, MODEL, TRAINING_JOB


@dsl.pipeline(name="train-and-deploy", description="Train with SageMaker, register the model, serve it.")
def train_and_deploy(namespace: str = ""):
    train = training_job(manifest=TRAINING_JOB, namespace=namespace)
    served = model(manifest=MODEL, namespace=namespace, model_data_url=train.outputs["model_artifact_uri"])
    endpoint(manifest=ENDPOINT, namespace=namespace).after(served)


if __name__ == "__main__":
    compiler.Compiler().compile(train_and_deploy, sys.argv[1] if len(sys.argv) > 1 else "train-and-deploy.yaml")
