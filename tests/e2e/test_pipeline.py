"""Pipeline and PipelineExecution end to end: the real API server, the emulator and `kubemaker run`."""

from __future__ import annotations

import json

from tests.e2e.helpers import apply, condition, events_for, get, slowed, wait_for
from tests.e2e.hosting import ready, stalled

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
API_VERSION = "sagemaker.kubemaker.io/v1alpha1"


def definition(*step_names: str) -> dict:
    steps = [{"Name": "Prepare", "Type": "Processing", "Arguments": {"Input": {"Get": "Parameters.InputData"}}}]
    steps += [{"Name": name, "Type": "Training", "Arguments": {}} for name in step_names]
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "InputData", "Type": "String", "DefaultValue": "s3://kubemaker-demo/in/"}],
        "Steps": steps,
    }


def pipeline(name: str, **spec) -> dict:
    return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": name}, "spec": {"roleArn": ROLE, **spec}}


def execution(name: str, pipeline_name: str, input_data: str, **spec) -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "PipelineExecution",
        "metadata": {"name": name},
        "spec": {
            "pipelineRef": {"name": pipeline_name},
            "pipelineParameters": [{"name": "InputData", "value": input_data}],
            **spec,
        },
    }


def sagemaker_calls(emulator, operation: str) -> int:
    return emulator.control.call_counts()["calls"].get("sagemaker", {}).get(operation, 0)


def test_pipeline_sync_executions_steps_and_a_failing_step(operator, emulator, kubectl, namespace):
    sagemaker = emulator.client("sagemaker")
    apply(kubectl, pipeline("churn", pipelineDefinition=definition("Train")), namespace)
    obj = wait_for(lambda: ready(kubectl, "pipeline", namespace, "churn"), timeout=30, what="Pipeline Ready")
    name, arn = obj["status"]["pipelineName"], obj["status"]["pipelineArn"]
    assert sagemaker.describe_pipeline(PipelineName=name)["PipelineArn"] == arn
    tags = sagemaker.list_tags(ResourceArn=arn)["Tags"]
    assert {"Key": "kubemaker.io/uid", "Value": obj["metadata"]["uid"]} in tags

    # The same definition written as a JSON string is the same document: no UpdatePipeline.
    emulator.control.reset_call_counts()
    apply(kubectl, pipeline("churn", pipelineDefinition=json.dumps(definition("Train"))), namespace)
    wait_for(lambda: ready(kubectl, "pipeline", namespace, "churn"), timeout=30, what="Ready for the string form")
    assert sagemaker_calls(emulator, "UpdatePipeline") == 0

    # A changed definition is applied with UpdatePipeline.
    apply(kubectl, pipeline("churn", pipelineDefinition=definition("Train", "Evaluate")), namespace)
    wait_for(lambda: ready(kubectl, "pipeline", namespace, "churn"), timeout=30, what="Ready after the change")
    assert sagemaker_calls(emulator, "UpdatePipeline") == 1
    described = json.loads(sagemaker.describe_pipeline(PipelineName=name)["PipelineDefinition"])
    assert [step["Name"] for step in described["Steps"]] == ["Prepare", "Train", "Evaluate"]
    assert "Updating" in [event["reason"] for event in events_for(kubectl, namespace, "churn")]

    # Two executions with different parameters, each reporting its steps.
    apply(kubectl, execution("run-a", "churn", "s3://kubemaker-demo/in/a/"), namespace)
    apply(kubectl, execution("run-b", "churn", "s3://kubemaker-demo/in/b/"), namespace)
    runs = {
        run: wait_for(lambda run=run: ready(kubectl, "pipelineexecution", namespace, run), timeout=60, what=f"{run} Ready")
        for run in ("run-a", "run-b")
    }
    for run, letter in (("run-a", "a"), ("run-b", "b")):
        status = runs[run]["status"]
        assert status["pipelineExecutionStatus"] == "Succeeded" and status["pipelineName"] == name
        assert [(s["stepName"], s["stepStatus"]) for s in status["steps"]] == [
            ("Prepare", "Succeeded"), ("Train", "Succeeded"), ("Evaluate", "Succeeded")
        ]
        started_with = sagemaker.list_pipeline_parameters_for_execution(
            PipelineExecutionArn=status["pipelineExecutionArn"])["PipelineParameters"]
        assert started_with == [{"Name": "InputData", "Value": f"s3://kubemaker-demo/in/{letter}/"}]
    assert runs["run-a"]["status"]["pipelineExecutionArn"] != runs["run-b"]["status"]["pipelineExecutionArn"]
    wide = kubectl("get", "smpx", "-n", namespace, "-o", "wide").stdout
    assert wide.count("Prepare=Succeeded, Train=Succeeded, Evaluate=Succeeded") == 2, wide
    latest = max(runs.values(), key=lambda r: r["status"]["creationTime"])["status"]["pipelineExecutionArn"]
    wait_for(
        lambda: get(kubectl, "pipeline", namespace, "churn").get("status", {}).get("latestExecution", {}).get("pipelineExecutionArn")
        == latest,
        timeout=30, what="latest execution in the Pipeline's status",
    )

    # A failing step: Stalled, with the step and SageMaker's reason.
    emulator.control.fail_pipeline_step(name, "Train", reason="AlgorithmError: training data is empty")
    try:
        apply(kubectl, execution("run-fails", "churn", "s3://kubemaker-demo/in/empty/"), namespace)
        obj = wait_for(lambda: stalled(kubectl, "pipelineexecution", namespace, "run-fails"), timeout=60, what="Stalled")
    finally:
        emulator.control.clear_pipeline_step_failures(name)
    reported = condition(obj, "Stalled")
    assert obj["status"]["pipelineExecutionStatus"] == "Failed"
    assert reported["reason"] == "StepFailed"
    assert "step Train failed: AlgorithmError: training data is empty" in reported["message"]
    assert "Train=Failed" in obj["status"]["stepSummary"]
    warnings = [e for e in events_for(kubectl, namespace, "run-fails") if e["type"] == "Warning"]
    assert any("training data is empty" in e["message"] for e in warnings)


def test_definition_from_a_configmap_follows_its_edits(operator, emulator, kubectl, namespace):
    def configmap(*step_names: str) -> dict:
        return {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "etl-definition"},
            "data": {"definition.json": json.dumps(definition(*step_names))},
        }

    apply(kubectl, configmap("Train"), namespace)
    apply(kubectl, pipeline("etl", pipelineDefinitionFrom={
        "configMapKeyRef": {"name": "etl-definition", "key": "definition.json"}}), namespace)
    obj = wait_for(lambda: ready(kubectl, "pipeline", namespace, "etl"), timeout=30, what="Pipeline Ready")
    sagemaker = emulator.client("sagemaker")
    name = obj["status"]["pipelineName"]

    apply(kubectl, configmap("Train", "Register"), namespace)

    def steps() -> list[str]:
        described = json.loads(sagemaker.describe_pipeline(PipelineName=name)["PipelineDefinition"])
        return [step["Name"] for step in described["Steps"]]

    wait_for(lambda: steps() == ["Prepare", "Train", "Register"], timeout=30, what="UpdatePipeline from the ConfigMap")


def test_delete_stops_a_running_execution_and_the_pipeline_is_deleted(operator, emulator, kubectl, namespace):
    sagemaker = emulator.client("sagemaker")
    apply(kubectl, pipeline("slow", pipelineDefinition=definition("Train")), namespace)
    name = wait_for(lambda: ready(kubectl, "pipeline", namespace, "slow"), timeout=30, what="Ready")["status"]["pipelineName"]
    with slowed(emulator, pipeline_step_executing=30):
        apply(kubectl, execution("stop-me", "slow", "s3://kubemaker-demo/in/"), namespace)
        obj = wait_for(
            lambda: (o := get(kubectl, "pipelineexecution", namespace, "stop-me")).get("status", {}).get("pipelineExecutionStatus")
            == "Executing" and o,
            timeout=30, what="Executing",
        )
        kubectl("delete", "pipelineexecution", "stop-me", "-n", namespace, "--timeout=60s")
    arn = obj["status"]["pipelineExecutionArn"]
    assert sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Stopped"

    kubectl("delete", "pipeline", "slow", "-n", namespace, "--timeout=60s")
    assert sagemaker.list_pipelines(PipelineNamePrefix=name)["PipelineSummaries"] == []
