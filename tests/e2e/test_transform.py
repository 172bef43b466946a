"""TransformJob end to end: the real API server, the emulator and `kubemaker run`, driven with kubectl."""

from __future__ import annotations

from tests.e2e.helpers import apply, condition, event_reasons, get, slowed, wait_for
from tests.e2e.hosting import manifest, ready, stalled, with_condition
from tests.e2e.test_trainingjob import training_job

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest"


def transform_job(name: str, **model) -> dict:
    return {
        "apiVersion": "sagemaker.kubemaker.io/v1alpha1",
        "kind": "TransformJob",
        "metadata": {"name": name},
        "spec": {
            **model,
            "batchStrategy": "MultiRecord",
            "maxPayloadInMB": 6,
            "transformInput": {
                "contentType": "text/csv",
                "splitType": "Line",
                "dataSource": {"s3DataSource": {"s3DataType": "S3Prefix", "s3Uri": "s3://kubemaker-demo/batch/input/"}},
            },
            "transformOutput": {"s3OutputPath": f"s3://kubemaker-demo/batch/{name}/", "assembleWith": "Line"},
            "transformResources": {"instanceType": "ml.m5.large", "instanceCount": 1},
            "dataProcessing": {"inputFilter": "$[1:]", "joinSource": "Input"},
        },
    }


def sagemaker_model(emulator, name: str) -> str:
    emulator.client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://kubemaker-demo/batch/model.tar.gz"},
    )
    return name


def test_batch_transform_by_model_name_completes_with_output_location(operator, emulator, kubectl, namespace):
    model = sagemaker_model(emulator, f"{namespace}-scorer"[:63])
    apply(kubectl, transform_job("score", modelName=model), namespace)
    obj = wait_for(lambda: ready(kubectl, "transformjob", namespace, "score"), timeout=60, what="Ready")

    status = obj["status"]
    assert status["transformJobStatus"] == "Completed"
    assert status["transformOutput"]["s3OutputPath"] == "s3://kubemaker-demo/batch/score/"
    assert status["modelName"] == model
    description = emulator.client("sagemaker").describe_transform_job(TransformJobName=status["transformJobName"])
    assert description["DataProcessing"]["JoinSource"] == "Input"
    tags = emulator.client("sagemaker").list_tags(ResourceArn=status["transformJobArn"])["Tags"]
    assert {"Key": "kubemaker.io/uid", "Value": obj["metadata"]["uid"]} in tags
    wide = kubectl("get", "smbt", "score", "-n", namespace, "-o", "wide").stdout
    assert "Completed" in wide and "s3://kubemaker-demo/batch/score/" in wide
    reasons = event_reasons(kubectl, namespace, "score")
    assert reasons.count("Created") == 1 and "TransformCompleted" in reasons


def test_batch_transform_from_a_model_built_from_a_training_job(operator, emulator, kubectl, namespace):
    # All three at once: the Model waits for the TrainingJob, the TransformJob for the Model.
    apply(kubectl, training_job("train"), namespace)
    apply(kubectl, manifest("Model", "scorer", {
        "executionRoleArn": ROLE,
        "primaryContainer": {"image": IMAGE, "modelDataFrom": {"trainingJobRef": {"name": "train"}}},
    }), namespace)
    apply(kubectl, transform_job("nightly", modelRef={"name": "scorer"}), namespace)
    waiting = wait_for(lambda: with_condition(kubectl, "transformjob", namespace, "nightly", "Reconciling"), timeout=30, what="waiting")
    assert condition(waiting, "Reconciling")["reason"] == "WaitingForModel"
    assert "Model scorer" in condition(waiting, "Reconciling")["message"]

    obj = wait_for(lambda: ready(kubectl, "transformjob", namespace, "nightly"), timeout=90, what="Ready")
    model = get(kubectl, "model", namespace, "scorer")
    trained = get(kubectl, "trainingjob", namespace, "train")
    assert obj["status"]["transformJobStatus"] == "Completed"
    assert obj["status"]["modelName"] == model["status"]["modelName"]
    described = emulator.client("sagemaker").describe_model(ModelName=model["status"]["modelName"])
    assert described["PrimaryContainer"]["ModelDataUrl"] == trained["status"]["modelArtifacts"]["s3ModelArtifacts"]
    assert obj["status"]["transformOutput"]["s3OutputPath"] == "s3://kubemaker-demo/batch/nightly/"


def test_failed_transform_is_stalled_with_the_reason(operator, emulator, kubectl, namespace):
    model = sagemaker_model(emulator, f"{namespace}-broken"[:63])
    job_name = f"{namespace}-fails"[:63]
    emulator.control.fail_transform_job(job_name, reason="ClientError: input is not CSV")
    apply(kubectl, transform_job("fails", modelName=model, transformJobName=job_name), namespace)
    obj = wait_for(lambda: stalled(kubectl, "transformjob", namespace, "fails"), timeout=60, what="Stalled")
    assert obj["status"]["transformJobStatus"] == "Failed"
    assert "input is not CSV" in condition(obj, "Stalled")["message"]


def test_delete_stops_the_running_transform(operator, emulator, kubectl, namespace):
    model = sagemaker_model(emulator, f"{namespace}-slow"[:63])
    with slowed(emulator, transform_running=30):
        apply(kubectl, transform_job("stop-me", modelName=model), namespace)
        obj = wait_for(
            lambda: (o := get(kubectl, "transformjob", namespace, "stop-me")).get("status", {}).get("transformJobStatus")
            == "InProgress" and o,
            timeout=30, what="InProgress",
        )
        kubectl("delete", "transformjob", "stop-me", "-n", namespace, "--timeout=60s")
    description = emulator.client("sagemaker").describe_transform_job(TransformJobName=obj["status"]["transformJobName"])
    assert description["TransformJobStatus"] == "Stopped"
