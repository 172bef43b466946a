"""MonitoringSchedule end to end: the real API server, the emulator and `kubemaker run`, driven with
kubectl; SageMaker calls counted by the emulator. Also: a Pipeline's status follows SageMaker's
LastModifiedTime."""

from __future__ import annotations

import datetime
import json

import yaml

from tests.e2e.helpers import apply, condition, events_for, get, slowed, wait_for
from tests.e2e.hosting import endpoint, manifest, model, ready, stalled, variant, with_condition
from tests.e2e.conftest import TENANT_A, TENANT_ROLES
from tests.e2e.test_kfp_component import run_step
from tests.e2e.test_tenants import ensure_namespace

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
CAPTURE = {"initialSamplingPercentage": 100, "destinationS3Uri": "s3://kubemaker-demo/capture",
           "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}]}
# No execution starts while calls are counted, unless a test asks for them.
QUIET = {"monitoring_execution_interval": 3600}


def data_quality(image: str = ANALYZER, **endpoint_input) -> dict:
    return {
        "dataQualityAppSpecification": {"imageUri": image},
        "dataQualityJobInput": {"endpointInput": {"localPath": "/opt/ml/processing/input/endpoint", **endpoint_input}},
        "dataQualityJobOutputConfig": {"monitoringOutputs": [
            {"s3Output": {"s3Uri": "s3://kubemaker-demo/monitoring", "localPath": "/opt/ml/processing/output"}}]},
        "jobResources": {"clusterConfig": {"instanceCount": 1, "instanceType": "ml.m5.xlarge", "volumeSizeInGB": 20}},
        "roleArn": ROLE,
    }


def schedule(name: str, definition: dict | None = None, endpoint_ref: str | None = "churn", **spec) -> dict:
    body = {"monitoringScheduleConfig": {"scheduleConfig": {"scheduleExpression": "cron(0 * ? * * *)"}},
            "dataQuality": definition or data_quality(), **spec}
    if endpoint_ref:
        body["endpointRef"] = {"name": endpoint_ref}
    return manifest("MonitoringSchedule", name, body)


def serve_endpoint(kubectl, namespace: str, capture: bool = True) -> dict:
    extra = {"dataCaptureConfig": CAPTURE} if capture else {}
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        model("churn"), endpoint("churn", [variant("main", "churn")], **extra)]}, namespace)
    return wait_for(lambda: ready(kubectl, "endpoint", namespace, "churn"), timeout=60, what="Endpoint Ready")


def calls(emulator) -> dict[str, int]:
    return emulator.control.call_counts()["calls"].get("sagemaker", {})


def definitions(emulator, stem: str) -> list[str]:
    client = emulator.client("sagemaker")
    return sorted(d["MonitoringJobDefinitionName"] for d in client.list_data_quality_job_definitions(
        NameContains=stem, MaxResults=100)["JobDefinitionSummaries"])


def test_create_change_and_delete_leave_no_definition_behind(operator, emulator, kubectl, namespace):
    serve_endpoint(kubectl, namespace)
    with slowed(emulator, **QUIET):
        emulator.control.reset_call_counts()
        apply(kubectl, schedule("churn-drift"), namespace)
        obj = wait_for(lambda: ready(kubectl, "monitoringschedule", namespace, "churn-drift"), timeout=60, what="Ready")
        status = obj["status"]
        name, first = status["monitoringScheduleName"], status["jobDefinition"]["name"]
        assert status["monitoringScheduleStatus"] == "Scheduled" and status["monitoringType"] == "DataQuality"
        assert status["endpointName"] == get(kubectl, "endpoint", namespace, "churn")["status"]["endpointName"]
        created = calls(emulator)
        assert (created.get("CreateDataQualityJobDefinition"), created.get("CreateMonitoringSchedule")) == (1, 1)
        # The definition is looked for once before its create, never after: the pass made it.
        assert created.get("DescribeDataQualityJobDefinition") == 1
        assert definitions(emulator, namespace) == [first]
        described = emulator.client("sagemaker").describe_data_quality_job_definition(JobDefinitionName=first)
        assert described["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == status["endpointName"]
        tags = emulator.client("sagemaker").list_tags(ResourceArn=described["JobDefinitionArn"])["Tags"]
        assert {"Key": "kubemaker.io/uid", "Value": obj["metadata"]["uid"]} in tags
        wide = kubectl("get", "smmon", "churn-drift", "-n", namespace, "-o", "wide").stdout
        assert "Scheduled" in wide and "DataQuality" in wide and "cron(0 * ? * * *)" in wide

        # A definition change: a new definition, UpdateMonitoringSchedule, the old one deleted.
        emulator.control.reset_call_counts()
        apply(kubectl, schedule("churn-drift", data_quality(image=f"{ANALYZER}:2")), namespace)
        changed = wait_for(lambda: (o := ready(kubectl, "monitoringschedule", namespace, "churn-drift"))
                           and o["status"]["jobDefinition"]["name"] != first and o, timeout=60, what="changed")
        second = changed["status"]["jobDefinition"]["name"]
        assert "pendingJobDefinition" not in changed["status"]
        made = calls(emulator)
        assert {op: made.get(op) for op in ("CreateDataQualityJobDefinition", "UpdateMonitoringSchedule",
                                            "DeleteDataQualityJobDefinition", "CreateMonitoringSchedule")} == {
            "CreateDataQualityJobDefinition": 1, "UpdateMonitoringSchedule": 1,
            "DeleteDataQualityJobDefinition": 1, "CreateMonitoringSchedule": None}
        assert definitions(emulator, namespace) == [second]
        assert emulator.client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName=name)[
            "MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == second

        # A schedule change alone: UpdateMonitoringSchedule in place, no new definition.
        emulator.control.reset_call_counts()
        apply(kubectl, schedule("churn-drift", data_quality(image=f"{ANALYZER}:2"),
                                monitoringScheduleConfig={"scheduleConfig": {"scheduleExpression": "cron(0 0 ? * * *)"}}),
              namespace)
        wait_for(lambda: with_condition(kubectl, "monitoringschedule", namespace, "churn-drift", "Ready")
                 and emulator.client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName=name)[
                     "MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 0 ? * * *)",
                 timeout=60, what="rescheduled")
        rescheduled = calls(emulator)
        assert rescheduled.get("UpdateMonitoringSchedule") == 1 and "CreateDataQualityJobDefinition" not in rescheduled

        # Delete: the schedule, then its definition.
        emulator.control.reset_call_counts()
        kubectl("delete", "monitoringschedule", "churn-drift", "-n", namespace, "--timeout=60s")
        deleted = calls(emulator)
        assert (deleted.get("DeleteMonitoringSchedule"), deleted.get("DeleteDataQualityJobDefinition")) == (1, 1)
        # Definitions a lost status write would not name are looked for once, by the schedule's name.
        assert [deleted.get(f"List{kind}JobDefinitions") for kind in (
            "DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")] == [1, 1, 1, 1]
        assert definitions(emulator, namespace) == []
        assert emulator.client("sagemaker").list_monitoring_schedules(NameContains=name)[
            "MonitoringScheduleSummaries"] == []
    # Events of one reason are one Event whose count grows.
    counts = {event["reason"]: event.get("count", 1) for event in events_for(kubectl, namespace, "churn-drift")}
    assert (counts["CreatedDefinition"], counts["DeletedDefinition"], counts["Created"]) == (2, 1, 1)


def test_violations_raise_a_condition_and_a_warning_while_ready_stays_true(operator, emulator, kubectl, namespace):
    serve_endpoint(kubectl, namespace)
    name = f"{namespace}-violations"[:63]
    # Every execution finds violations until told otherwise, so what kubectl shows holds still.
    emulator.control.report_violations(name, count=4, executions=1000)
    with slowed(emulator, monitoring_execution_interval=1.0, monitoring_execution_running=0.3):
        apply(kubectl, schedule("watch", monitoringScheduleName=name), namespace)
        found = wait_for(lambda: with_condition(kubectl, "monitoringschedule", namespace, "watch", "ViolationsFound"),
                         timeout=60, what="ViolationsFound")
        violations = condition(found, "ViolationsFound")
        assert violations["reason"] == "CompletedWithViolations"
        assert "completed successfully with 4 violations" in violations["message"]
        assert condition(found, "Ready")["status"] == "True"
        last = found["status"]["lastMonitoringExecutionSummary"]
        assert last["monitoringExecutionStatus"] == "CompletedWithViolations"
        assert ":processing-job/model-monitoring-" in last["processingJobArn"]
        assert last["processingJobArn"] in violations["message"]
        row = kubectl("get", "smmon", "watch", "-n", namespace).stdout.splitlines()[1].split()
        # The next execution may be running already: the condition stays until one ends clean.
        assert (row[1], row[2], row[4]) == ("Scheduled", "DataQuality", "True")
        assert row[3] in ("CompletedWithViolations", "InProgress")
        wait_for(lambda: any(e["reason"] == "ViolationsFound" and e["type"] == "Warning"
                             for e in events_for(kubectl, namespace, "watch")), timeout=30, what="the Warning")
        # Executions with no violations clear the condition; Ready never left True.
        emulator.control.report_violations(name, executions=0)
        cleared = wait_for(lambda: (o := get(kubectl, "monitoringschedule", namespace, "watch"))
                           and condition(o, "ViolationsFound").get("status") == "False" and o, timeout=60, what="cleared")
        assert condition(cleared, "Ready")["status"] == "True"
        assert condition(cleared, "ViolationsFound")["reason"] == "Completed"
    # One Warning per execution that found violations, not one per look at the schedule.
    executions = emulator.client("sagemaker").list_monitoring_executions(
        MonitoringScheduleName=name, StatusEquals="CompletedWithViolations", MaxResults=100)
    (warning,) = [e for e in events_for(kubectl, namespace, "watch") if e["reason"] == "ViolationsFound"]
    assert warning["type"] == "Warning"
    assert 1 <= warning.get("count", 1) <= len(executions["MonitoringExecutionSummaries"])


def test_a_schedule_stopped_outside_kubernetes_is_reported_not_restarted(operator, emulator, kubectl, namespace):
    serve_endpoint(kubectl, namespace)
    with slowed(emulator, **QUIET):
        apply(kubectl, schedule("paused"), namespace)
        obj = wait_for(lambda: ready(kubectl, "monitoringschedule", namespace, "paused"), timeout=60, what="Ready")
        name = obj["status"]["monitoringScheduleName"]
        client = emulator.client("sagemaker")
        emulator.control.reset_call_counts()
        client.stop_monitoring_schedule(MonitoringScheduleName=name)
        stopped = wait_for(lambda: with_condition(kubectl, "monitoringschedule", namespace, "paused", "Reconciling"),
                           timeout=30, what="Stopped reported")
        assert condition(stopped, "Reconciling")["reason"] == "Stopped"
        assert stopped["status"]["monitoringScheduleStatus"] == "Stopped"
        assert "StartMonitoringSchedule" not in calls(emulator) and "UpdateMonitoringSchedule" not in calls(emulator)
        client.start_monitoring_schedule(MonitoringScheduleName=name)
        wait_for(lambda: ready(kubectl, "monitoringschedule", namespace, "paused"), timeout=30, what="Ready again")


def test_an_endpoint_without_data_capture_holds_the_schedule_until_capture_is_on(operator, emulator, kubectl, namespace):
    serve_endpoint(kubectl, namespace, capture=False)
    with slowed(emulator, **QUIET):
        emulator.control.reset_call_counts()
        apply(kubectl, schedule("blind"), namespace)
        waiting = wait_for(lambda: with_condition(kubectl, "monitoringschedule", namespace, "blind", "Reconciling"),
                           timeout=30, what="waiting")
        assert condition(waiting, "Reconciling")["reason"] == "DataCaptureNotEnabled"
        assert "dataCaptureConfig" in condition(waiting, "Reconciling")["message"]
        wait_for(lambda: any(e["reason"] == "DataCaptureNotEnabled" and e["type"] == "Warning"
                             for e in events_for(kubectl, namespace, "blind")), timeout=30, what="the Warning")
        assert not any(op.startswith("Create") and "Monitoring" in op or op.endswith("JobDefinition")
                       for op in calls(emulator))
        # Turning capture on (the Endpoint rolls to a new config) lets the schedule go on, unchanged.
        apply(kubectl, endpoint("churn", [variant("main", "churn")], dataCaptureConfig=CAPTURE), namespace)
        obj = wait_for(lambda: ready(kubectl, "monitoringschedule", namespace, "blind"), timeout=90, what="Ready")
        assert obj["status"]["monitoringScheduleStatus"] == "Scheduled"
    warnings = [e for e in events_for(kubectl, namespace, "blind") if e["reason"] == "DataCaptureNotEnabled"]
    assert len(warnings) == 1 and warnings[0].get("count", 1) == 1


def test_another_namespaces_endpoint_and_a_foreign_role_are_refused_with_nothing_sent(operator, emulator, kubectl,
                                                                                      namespace):
    client = emulator.client("sagemaker")
    theirs = f"{namespace}-theirs"[:63]
    client.create_model(ModelName=theirs, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": f"{ANALYZER}:model", "ModelDataUrl": "s3://kubemaker-demo/m.tar.gz"})
    client.create_endpoint_config(EndpointConfigName=theirs, DataCaptureConfig={
        "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://theirs/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}]}, ProductionVariants=[{
            "VariantName": "main", "ModelName": theirs, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    client.create_endpoint(EndpointName=theirs, EndpointConfigName=theirs, Tags=[
        {"Key": "kubemaker.io/kind", "Value": "Endpoint"}, {"Key": "kubemaker.io/namespace", "Value": "another-team"},
        {"Key": "kubemaker.io/name", "Value": "their-ep"}, {"Key": "kubemaker.io/uid", "Value": "their-uid"}])
    emulator.control.reset_call_counts()
    apply(kubectl, schedule("snoop", data_quality(endpointName=theirs), endpoint_ref=None), namespace)
    refused = wait_for(lambda: stalled(kubectl, "monitoringschedule", namespace, "snoop"), timeout=30, what="Stalled")
    message = condition(refused, "Stalled")["message"]
    assert condition(refused, "Stalled")["reason"] == "ReferenceNotAllowed"
    assert theirs in message and "another-team" in message and "allowedSageMakerReferences" in message

    foreign = {**data_quality(), "roleArn": "arn:aws:iam::999999999999:role/Admin"}
    serve_endpoint(kubectl, namespace)
    apply(kubectl, schedule("escalate", foreign), namespace)
    role = wait_for(lambda: stalled(kubectl, "monitoringschedule", namespace, "escalate"), timeout=30, what="Stalled")
    assert condition(role, "Stalled")["reason"] == "RoleNotAllowed"
    assert "spec.dataQuality.roleArn" in condition(role, "Stalled")["message"]
    made = calls(emulator)
    assert not [op for op in made if op.startswith(("Create", "Update")) and ("Monitoring" in op or "Definition" in op)]

    # What only the API server can judge is refused at apply, with the rule's message.
    both = schedule("both", data_quality(endpointName=theirs))
    refused_apply = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(both), check=False)
    assert refused_apply.returncode != 0
    assert "give the endpoint to monitor as endpointRef or as the job input's endpointInput.endpointName" in (
        refused_apply.stderr)


def test_the_kfp_sagemaker_object_step_applies_a_schedule_and_outputs_its_name(operator, emulator, kubeconfig, kubectl,
                                                                              namespace, tmp_path):
    serve_endpoint(kubectl, namespace)
    output = tmp_path / "schedule-name"
    with slowed(emulator, **QUIET):
        result = run_step(kubeconfig, yaml.safe_dump(schedule("from-pipeline")), namespace,
                          "--output-sagemaker-name", str(output))
    assert result.returncode == 0, result.stderr
    obj = get(kubectl, "monitoringschedule", namespace, "from-pipeline")
    assert output.read_text() == obj["status"]["monitoringScheduleName"]
    assert emulator.client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName=output.read_text())[
        "MonitoringScheduleStatus"] == "Scheduled"


def test_adoption_takes_the_schedule_and_its_definition_then_replaces_the_definition(operator, emulator, kubectl,
                                                                                   namespace):
    role = TENANT_ROLES[TENANT_A]
    ensure_namespace(kubectl, TENANT_A)
    suffix = namespace[-6:]
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        model(f"monitored-{suffix}", executionRoleArn=role),
        endpoint(f"monitored-{suffix}", [variant("main", f"monitored-{suffix}")], dataCaptureConfig=CAPTURE)]},
        TENANT_A)
    served = wait_for(lambda: ready(kubectl, "endpoint", TENANT_A, f"monitored-{suffix}"), timeout=60, what="Ready")
    client = emulator.client("sagemaker")
    legacy, name = f"legacy-definition-{suffix}", f"legacy-schedule-{suffix}"
    client.create_data_quality_job_definition(
        JobDefinitionName=legacy, RoleArn=role,
        DataQualityAppSpecification={"ImageUri": ANALYZER},
        DataQualityJobInput={"EndpointInput": {"EndpointName": served["status"]["endpointName"],
                                               "LocalPath": "/opt/ml/processing/input/endpoint"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": "s3://kubemaker-demo/legacy", "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}})
    client.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinitionName": legacy, "MonitoringType": "DataQuality"})

    # Not asked to adopt: the name is someone else's, and nothing is touched.
    apply(kubectl, schedule("taken", {**data_quality(), "roleArn": role}, endpoint_ref=f"monitored-{suffix}",
                            monitoringScheduleName=name), TENANT_A)
    taken = wait_for(lambda: stalled(kubectl, "monitoringschedule", TENANT_A, "taken"), timeout=30, what="NameInUse")
    assert condition(taken, "Stalled")["reason"] == "NameInUse"
    kubectl("delete", "monitoringschedule", "taken", "-n", TENANT_A, "--timeout=30s")

    with slowed(emulator, **QUIET):
        apply(kubectl, schedule(f"adopter-{suffix}", {**data_quality(), "roleArn": role},
                                endpoint_ref=f"monitored-{suffix}", monitoringScheduleName=name, adoptExisting=True),
              TENANT_A)
        adopted = wait_for(lambda: (o := ready(kubectl, "monitoringschedule", TENANT_A, f"adopter-{suffix}"))
                           and o["status"]["jobDefinition"]["name"] != legacy and o, timeout=60, what="adopted")
    assert adopted["status"]["monitoringScheduleName"] == name
    ours = adopted["status"]["jobDefinition"]["name"]
    uid = {"Key": "kubemaker.io/uid", "Value": adopted["metadata"]["uid"]}
    assert uid in client.list_tags(ResourceArn=adopted["status"]["monitoringScheduleArn"])["Tags"]
    assert client.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleConfig"][
        "MonitoringJobDefinitionName"] == ours
    # The adopted definition was the object's own once adopted: replaced, then deleted, not orphaned.
    remaining = [d["MonitoringJobDefinitionName"] for d in client.list_data_quality_job_definitions(
        EndpointName=served["status"]["endpointName"], MaxResults=100)["JobDefinitionSummaries"]]
    assert remaining == [ours]
    assert "Adopted" in [e["reason"] for e in events_for(kubectl, TENANT_A, f"adopter-{suffix}")]


def reported(obj: dict) -> datetime.datetime | None:
    text = obj["status"].get("lastModifiedTime")
    return datetime.datetime.fromisoformat(text) if text else None


def test_pipeline_status_follows_sagemakers_last_modified_time(operator, emulator, kubectl, namespace):
    pipeline_spec = {"roleArn": ROLE, "pipelineDefinition": {"Version": "2020-12-01", "Steps": [
        {"Name": "Train", "Type": "Training", "Arguments": {}}]}}
    apply(kubectl, manifest("Pipeline", "churn", pipeline_spec), namespace)
    obj = wait_for(lambda: ready(kubectl, "pipeline", namespace, "churn"), timeout=30, what="Ready")
    name = obj["status"]["pipelineName"]
    client = emulator.client("sagemaker")
    created = client.describe_pipeline(PipelineName=name)["LastModifiedTime"]
    assert reported(obj) == created
    # Changed outside Kubernetes (a description only: nothing the spec sets, so nothing to revert).
    client.update_pipeline(PipelineName=name, PipelineDescription="edited in the console")
    edited = client.describe_pipeline(PipelineName=name)["LastModifiedTime"]
    assert edited > created
    followed = wait_for(lambda: (o := get(kubectl, "pipeline", namespace, "churn")) and reported(o) == edited and o,
                        timeout=30, what="lastModifiedTime followed")
    assert condition(followed, "Ready")["status"] == "True"
