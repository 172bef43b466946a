"""The MonitoringSchedule planner: given the spec, the endpoint, what SageMaker shows and the recorded
status, the one next call, the health, and the ViolationsFound condition."""

from __future__ import annotations

import copy
import datetime

import pytest

from kubemaker.api.registry import InvalidSpec, parse_spec
from kubemaker.conditions import READY, RECONCILING, STALLED, build_conditions
from kubemaker.reconcile import monitoringschedule as planner
from kubemaker.runtime.outcomes import Stall

NAME = "team-churn-0a1b2c3d"
TAGS = {"kubemaker.io/uid": "u"}
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(hours=1)
JOB = "arn:aws:sagemaker:us-east-1:123456789012:processing-job/model-monitoring-202611010100-abc"


def data_quality(image: str = "analyzer:1", **job_input) -> dict:
    return {
        "dataQualityAppSpecification": {"imageUri": image},
        "dataQualityJobInput": {"endpointInput": {"localPath": "/opt/ml/processing/input", **job_input}},
        "dataQualityJobOutputConfig": {"monitoringOutputs": [
            {"s3Output": {"s3Uri": "s3://b/reports", "localPath": "/opt/ml/processing/output"}}]},
        "jobResources": {"clusterConfig": {"instanceCount": 1, "instanceType": "ml.m5.xlarge", "volumeSizeInGB": 20}},
        "roleArn": ROLE,
    }


def model_bias() -> dict:
    return {
        "modelBiasAppSpecification": {"imageUri": "clarify:1", "configUri": "s3://b/analysis.json"},
        "modelBiasJobInput": {"endpointInput": {"localPath": "/opt/ml/processing/input"},
                              "groundTruthS3Input": {"s3Uri": "s3://b/truth"}},
        "modelBiasJobOutputConfig": {"monitoringOutputs": [
            {"s3Output": {"s3Uri": "s3://b/bias", "localPath": "/opt/ml/processing/output"}}]},
        "jobResources": {"clusterConfig": {"instanceCount": 1, "instanceType": "ml.m5.xlarge", "volumeSizeInGB": 20}},
        "roleArn": ROLE,
    }


def spec(cron: str = "cron(0 * ? * * *)", **definition) -> dict:
    return {"endpointRef": {"name": "churn"},
            "monitoringScheduleConfig": {"scheduleConfig": {"scheduleExpression": cron}},
            **(definition or {"dataQuality": data_quality()})}


def desired(**spec_args) -> planner.Desired:
    model = parse_spec("MonitoringSchedule", spec(**spec_args))
    return planner.Desired(model, NAME, "churn-ep", planner.desired_definition(model, NAME, "churn-ep", TAGS), TAGS)


def ref(want: planner.Desired) -> dict:
    return want.definition_ref


def schedule(definition: str, state: str = "Scheduled", monitoring_type: str = "DataQuality",
             cron: str = "cron(0 * ? * * *)", last: dict | None = None) -> dict:
    described = {
        "MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{NAME}",
        "MonitoringScheduleName": NAME, "MonitoringScheduleStatus": state, "MonitoringType": monitoring_type,
        "CreationTime": NOW, "LastModifiedTime": NOW, "EndpointName": "churn-ep",
        "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": cron},
                                     "MonitoringJobDefinitionName": definition, "MonitoringType": monitoring_type},
    }
    if last:
        described["LastMonitoringExecutionSummary"] = last
    return described


def execution(state: str, reason: str | None = None, scheduled: datetime.datetime = LATER) -> dict:
    summary = {"MonitoringScheduleName": NAME, "ScheduledTime": scheduled, "CreationTime": scheduled,
               "LastModifiedTime": scheduled, "MonitoringExecutionStatus": state, "ProcessingJobArn": JOB}
    if reason:
        summary["FailureReason"] = reason
    return summary


def plan(want, observed, status=None, generation=1):
    return planner.plan_schedule(want, observed, status or {}, generation, "us-east-1")


# The spec ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    ({**spec(), "modelBias": model_bias()}, "exactly one of dataQuality"),
    ({k: v for k, v in spec().items() if k != "dataQuality"}, "exactly one of dataQuality"),
    ({**spec(), "dataQuality": data_quality(endpointName="other")}, "endpointRef or as the job input"),
    ({**spec(), "endpointRef": None}, "endpointRef or as the job input"),
    ({**spec(), "monitoringScheduleConfig": {"scheduleConfig": {"scheduleExpression": "x"},
                                             "monitoringJobDefinitionName": "mine"}}, "monitoringJobDefinitionName"),
])
def test_the_spec_model_refuses_what_the_operator_cannot_serve(bad, message):
    with pytest.raises(InvalidSpec) as refused:
        parse_spec("MonitoringSchedule", {k: v for k, v in bad.items() if v is not None})
    assert message in refused.value.message


def test_the_definition_request_names_the_endpoint_and_carries_the_ownership_tags():
    want = desired()
    request = want.definition
    assert request["DataQualityJobInput"]["EndpointInput"] == {"LocalPath": "/opt/ml/processing/input",
                                                               "EndpointName": "churn-ep"}
    assert request["JobDefinitionName"].startswith(f"{NAME}-") and len(request["JobDefinitionName"]) <= 63
    assert {"Key": "kubemaker.io/uid", "Value": "u"} in request["Tags"]


def test_a_definition_change_is_a_new_name_and_a_schedule_change_is_not():
    base = ref(desired())["name"]
    assert ref(desired(dataQuality=data_quality(image="analyzer:2")))["name"] != base
    assert ref(desired(cron="cron(0 0 ? * * *)"))["name"] == base
    long_a = planner.definition_name("x" * 63, {"A": 1})
    long_b = planner.definition_name("x" * 62 + "y", {"A": 1})
    assert len(long_a) <= 63 and long_a != long_b


# Creation ------------------------------------------------------------------------------------------


def test_first_the_definition_is_created_with_its_marker_then_the_schedule():
    want = desired()
    first = plan(want, planner.Observed())
    assert first.action == "create_data_quality_job_definition" and first.request == want.definition
    assert first.before == {"pendingJobDefinition": ref(want)} and first.again
    assert first.creates.describe == "describe_data_quality_job_definition"
    second = plan(want, planner.Observed(definition={"JobDefinitionArn": "arn"}), {"pendingJobDefinition": ref(want)})
    assert second.action == "create_monitoring_schedule"
    assert second.request["MonitoringScheduleConfig"] == {
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinitionName": ref(want)["name"], "MonitoringType": "DataQuality"}
    assert second.before["createPending"]["name"] == NAME and second.record == {
        "monitoringScheduleArn": "MonitoringScheduleArn"}


def test_a_definition_left_from_an_earlier_spec_is_deleted_before_creating():
    want = desired()
    old = {"name": f"{NAME}-00000000", "monitoringType": "ModelBias"}
    step = plan(want, planner.Observed(), {"pendingJobDefinition": old})
    assert (step.action, step.request) == ("delete_model_bias_job_definition", {"JobDefinitionName": old["name"]})
    assert step.status == {"pendingJobDefinition": None}


def test_a_schedule_deleted_outside_the_operator_is_stalled():
    with pytest.raises(Stall) as stalled:
        plan(desired(), planner.Observed(), {"monitoringScheduleArn": "arn"})
    assert stalled.value.reason == "NotFound"


# Running -------------------------------------------------------------------------------------------


def test_pending_waits_and_scheduled_is_ready_with_status_in_sagemaker_words():
    want = desired()
    current = ref(want)
    pending = plan(want, planner.Observed(schedule(current["name"], "Pending")))
    assert pending.health.state == RECONCILING and pending.action is None and pending.track
    ready = plan(want, planner.Observed(schedule(current["name"])), {"pendingJobDefinition": current})
    assert ready.health.state == READY and ready.action is None
    assert ready.status["monitoringScheduleStatus"] == "Scheduled" and ready.status["endpointName"] == "churn-ep"
    assert ready.status["jobDefinition"] == current and ready.status["pendingJobDefinition"] is None
    assert ready.follow["MonitoringScheduleName"] == NAME


def test_a_failed_schedule_is_stalled_with_its_reason():
    want = desired()
    described = {**schedule(ref(want)["name"], "Failed"), "FailureReason": "role cannot be assumed"}
    step = plan(want, planner.Observed(described))
    assert step.health.state == STALLED and "role cannot be assumed" in step.health.message


def test_a_stopped_schedule_is_reported_not_restarted():
    want = desired()
    step = plan(want, planner.Observed(schedule(ref(want)["name"], "Stopped")), {"jobDefinition": ref(want)})
    assert step.action is None and step.health.state == RECONCILING and step.health.reason == "Stopped"


def test_a_schedule_expression_change_updates_the_schedule_in_place():
    want = desired(cron="cron(0 0 ? * * *)")
    step = plan(want, planner.Observed(schedule(ref(want)["name"])), {"jobDefinition": ref(want)})
    assert step.action == "update_monitoring_schedule"
    assert step.request["MonitoringScheduleConfig"]["ScheduleConfig"] == {"ScheduleExpression": "cron(0 0 ? * * *)"}
    assert step.request["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == ref(want)["name"]


# A definition change: new definition, UpdateMonitoringSchedule, old one deleted ----------------------


def test_a_definition_change_creates_updates_then_deletes_the_old_one():
    old, new = desired(), desired(dataQuality=data_quality(image="analyzer:2"))
    status = {"jobDefinition": ref(old), "pendingJobDefinition": None}
    running_old = planner.Observed(schedule(ref(old)["name"]))

    create = plan(new, running_old, status)
    assert create.action == "create_data_quality_job_definition" and create.request == new.definition
    assert create.before == {"pendingJobDefinition": ref(new)} and create.status["jobDefinition"] == ref(old)

    status["pendingJobDefinition"] = ref(new)
    update = plan(new, planner.Observed(schedule(ref(old)["name"]), definition={"JobDefinitionArn": "arn"}), status)
    assert update.action == "update_monitoring_schedule"
    assert update.request["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == ref(new)["name"]

    waiting = plan(new, planner.Observed(schedule(ref(new)["name"], "Pending")), status)
    assert waiting.action is None and waiting.health.state == RECONCILING

    delete = plan(new, planner.Observed(schedule(ref(new)["name"])), status)
    assert (delete.action, delete.request) == ("delete_data_quality_job_definition", {"JobDefinitionName": ref(old)["name"]})
    assert delete.status["jobDefinition"] == ref(new) and delete.status["pendingJobDefinition"] is None

    status.update(delete.status)
    done = plan(new, planner.Observed(schedule(ref(new)["name"])), status)
    assert done.action is None and done.health.state == READY


def test_a_change_of_type_deletes_the_old_definition_with_its_own_type():
    old, new = desired(), desired(modelBias=model_bias())
    status = {"jobDefinition": ref(new) | {"name": ref(old)["name"], "monitoringType": "DataQuality"},
              "pendingJobDefinition": ref(new)}
    update = plan(new, planner.Observed(schedule(ref(old)["name"]), definition={"JobDefinitionArn": "a"}), status)
    assert update.request["MonitoringScheduleConfig"]["MonitoringType"] == "ModelBias"
    delete = plan(new, planner.Observed(schedule(ref(new)["name"], monitoring_type="ModelBias")), status)
    assert delete.action == "delete_data_quality_job_definition"


def test_a_definition_made_for_a_spec_that_changed_again_is_deleted_not_orphaned():
    first, second, third = (desired(dataQuality=data_quality(image=f"analyzer:{n}")) for n in (1, 2, 3))
    # The update to the second definition settled, then the spec moved on before status caught up.
    status = {"jobDefinition": ref(first), "pendingJobDefinition": ref(second)}
    step = plan(third, planner.Observed(schedule(ref(second)["name"])), status)
    assert step.request == {"JobDefinitionName": ref(first)["name"]}
    status.update(step.status)
    assert status == {"jobDefinition": ref(second), "pendingJobDefinition": None} | {
        k: v for k, v in step.status.items() if k not in ("jobDefinition", "pendingJobDefinition")}
    create = plan(third, planner.Observed(schedule(ref(second)["name"])), status)
    assert create.action == "create_data_quality_job_definition" and create.request == third.definition
    # A definition made but never run is deleted when the spec moves on again.
    status = {"jobDefinition": ref(first), "pendingJobDefinition": ref(second)}
    superseded = plan(third, planner.Observed(schedule(ref(first)["name"])), status)
    assert superseded.request == {"JobDefinitionName": ref(second)["name"]}
    assert superseded.status["pendingJobDefinition"] is None and superseded.status["jobDefinition"] == ref(first)


# Executions ----------------------------------------------------------------------------------------


def test_violations_set_the_condition_and_one_warning_event_and_the_schedule_stays_ready():
    want = desired()
    reason = "CompletedWithViolations: Job completed successfully with 3 violations."
    observed = planner.Observed(schedule(ref(want)["name"], last=execution("CompletedWithViolations", reason)))
    first = plan(want, observed, {"jobDefinition": ref(want)})
    assert first.health.state == READY
    (signal,) = first.signals
    assert (signal.type, signal.status, signal.reason) == ("ViolationsFound", "True", "CompletedWithViolations")
    assert reason in signal.message and JOB in signal.message
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "ViolationsFound")]
    assert first.status["lastMonitoringExecutionSummary"]["processingJobArn"] == JOB
    again = plan(want, observed, {**first.status})
    assert again.signals == first.signals and again.events == []


def test_a_clean_execution_clears_the_condition_and_a_failed_one_warns_without_touching_it():
    want = desired()
    clean = plan(want, planner.Observed(schedule(ref(want)["name"], last=execution("Completed"))))
    assert [(s.type, s.status) for s in clean.signals] == [("ViolationsFound", "False")]
    failed = plan(want, planner.Observed(schedule(ref(want)["name"], last=execution("Failed", "Job inputs had no data"))))
    assert failed.signals == [] and [(e.type, e.reason) for e in failed.events] == [
        ("Warning", "MonitoringExecutionFailed")]
    running = plan(want, planner.Observed(schedule(ref(want)["name"], last=execution("InProgress"))))
    assert running.signals == [] and running.events == []


def test_a_pass_that_sets_no_signal_keeps_the_condition_and_ready_flips_leave_it_alone():
    violations = planner.execution_signals(
        schedule("d", last=execution("CompletedWithViolations", "3 violations")), {})[0]
    from kubemaker.conditions import Health
    first = build_conditions(Health.ready("Scheduled", "ok"), 1, None, now="t1", signals=violations)
    assert [c["type"] for c in first] == ["Ready", "ViolationsFound"]
    retrying = build_conditions(Health.reconciling("Retrying", "throttled"), 1, first, now="t2")
    assert next(c for c in retrying if c["type"] == "ViolationsFound") == first[1]
    cleared = build_conditions(Health.ready("Scheduled", "ok"), 1, retrying, now="t3",
                               signals=[planner.Signal("ViolationsFound", "False", "Completed", "clean")])
    found = next(c for c in cleared if c["type"] == "ViolationsFound")
    assert (found["status"], found["lastTransitionTime"]) == ("False", "t3")
    assert [c["type"] for c in cleared].count("Reconciling") == 0


# The endpoint --------------------------------------------------------------------------------------


def endpoint_object(capture: dict | None = None, ready: bool = True, created: bool = True) -> dict:
    spec_ = {"productionVariants": []}
    if capture is not None:
        spec_["dataCaptureConfig"] = capture
    status = {"endpointName": "churn-ep", "endpointArn": "arn"} if created else {}
    status |= {"observedGeneration": 1,
               "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return {"metadata": {"generation": 1}, "spec": spec_, "status": status}


CAPTURE = {"initialSamplingPercentage": 100, "destinationS3Uri": "s3://b/c", "captureOptions": [{"captureMode": "Input"}]}


@pytest.mark.parametrize("endpoint, exists, reason", [
    (None, False, "WaitingForEndpoint"),
    (endpoint_object(CAPTURE, created=False), False, "WaitingForEndpoint"),
    (endpoint_object(None), False, "DataCaptureNotEnabled"),
    (endpoint_object({**CAPTURE, "enableCapture": False}), True, "DataCaptureNotEnabled"),
    (endpoint_object(CAPTURE, ready=False), False, "WaitingForEndpoint"),
])
def test_the_schedule_waits_for_an_endpoint_that_exists_and_captures_data(endpoint, exists, reason):
    waiting = planner.referenced_endpoint("churn", endpoint, exists, None, "us-east-1", "us-east-1")
    assert waiting.health.state == RECONCILING and waiting.health.reason == reason and waiting.action is None
    assert waiting.look_again == "poll"


def test_data_capture_off_warns_once_and_an_endpoint_updating_later_does_not_hold_the_schedule():
    first = planner.referenced_endpoint("churn", endpoint_object(None), False, None, "us-east-1", "us-east-1")
    assert [e.reason for e in first.events] == ["DataCaptureNotEnabled"]
    again = planner.referenced_endpoint("churn", endpoint_object(None), False, "DataCaptureNotEnabled", "us-east-1",
                                        "us-east-1")
    assert again.events == []
    later = planner.referenced_endpoint("churn", endpoint_object(CAPTURE, ready=False), True, None, "us-east-1",
                                        "us-east-1")
    assert later == "churn-ep"


def test_an_endpoint_in_another_region_is_stalled_not_waited_for():
    elsewhere = endpoint_object(CAPTURE)
    elsewhere["spec"]["region"] = "eu-west-1"
    step = planner.referenced_endpoint("churn", elsewhere, False, None, "us-east-1", "us-east-1")
    assert step.health.state == STALLED and step.health.reason == "EndpointInAnotherRegion"
    assert planner.referenced_endpoint("churn", elsewhere, False, None, "eu-west-1", "us-east-1") == "churn-ep"


def test_an_endpoint_named_in_sagemaker_must_capture_too():
    assert planner.named_endpoint("ep", {"DataCaptureConfig": {"EnableCapture": True}}, None) == "ep"
    off = planner.named_endpoint("ep", {"DataCaptureConfig": {"EnableCapture": False}}, None)
    assert off.health.reason == "DataCaptureNotEnabled"
    assert planner.named_endpoint("ep", {}, None).health.reason == "DataCaptureNotEnabled"
    assert planner.named_endpoint("ep", None, None).health.reason == "WaitingForEndpoint"


def test_status_from_a_described_schedule_is_declared():
    from kubemaker.api.registry import undeclared_status_fields
    want = desired()
    step = plan(want, planner.Observed(schedule(ref(want)["name"], last=execution("Completed"))))
    status = copy.deepcopy(step.status)
    assert undeclared_status_fields("MonitoringSchedule", {k: v for k, v in status.items() if v is not None}) == []
