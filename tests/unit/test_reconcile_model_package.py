"""The registry planners as tables: groups, versions (approval sent, kept, or changed elsewhere),
and a Model's registry source (fixed version, latest approved, waiting)."""

from __future__ import annotations

import pytest

from kubemaker.api.model import ModelSpec, build_create_model_request, model_fingerprint
from kubemaker.api.model_package import (
    ModelPackageSpec,
    build_create_model_package_request,
    client_token,
    version_fingerprint,
)
from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import model as model_planner
from kubemaker.reconcile import model_package as planner
from kubemaker.runtime.outcomes import Plan

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/team-churn/1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


def version(state="Completed", approval="PendingManualApproval", description=None, number=1) -> dict:
    answer = {"ModelPackageArn": ARN, "ModelPackageGroupName": "team-churn", "ModelPackageVersion": number,
              "ModelPackageStatus": state, "ModelApprovalStatus": approval}
    if description is not None:
        answer["ApprovalDescription"] = description
    return answer


@pytest.mark.parametrize("state, health, reason", [
    ("InProgress", RECONCILING, "InProgress"),
    ("Pending", RECONCILING, "Pending"),
    ("Completed", READY, "Completed"),
    ("Failed", STALLED, "Failed"),
    ("DeleteFailed", STALLED, "DeleteFailed"),
])
def test_group_is_ready_once_completed(state, health, reason):
    plan = planner.plan_group({"ModelPackageGroupName": "team-churn", "ModelPackageGroupArn": "arn:g",
                               "ModelPackageGroupStatus": state}, "us-east-1")
    assert (plan.health.state, plan.health.reason) == (health, reason)
    assert plan.status["modelPackageGroupStatus"] == state and plan.action is None
    assert plan.look_again == {"Completed": "resync", "Pending": "poll", "InProgress": "poll"}.get(state)


@pytest.mark.parametrize("desired, applied, observed, sends, now_applied", [
    # The spec's approval, sent once.
    ({"ModelApprovalStatus": "Approved"}, {"modelApprovalStatus": "PendingManualApproval"},
     version(), {"ModelApprovalStatus": "Approved"}, {"modelApprovalStatus": "Approved"}),
    # A description only UpdateModelPackage takes, after a create that set the status.
    ({"ModelApprovalStatus": "Approved", "ApprovalDescription": "ok"}, {"modelApprovalStatus": "Approved"},
     version(approval="Approved"), {"ApprovalDescription": "ok"},
     {"modelApprovalStatus": "Approved", "approvalDescription": "ok"}),
    # Already what SageMaker shows (set elsewhere first): recorded, nothing sent.
    ({"ModelApprovalStatus": "Approved"}, {"modelApprovalStatus": "PendingManualApproval"},
     version(approval="Approved"), None, {"modelApprovalStatus": "Approved"}),
    # Changed elsewhere and the spec unchanged: not reverted.
    ({"ModelApprovalStatus": "PendingManualApproval"}, {"modelApprovalStatus": "PendingManualApproval"},
     version(approval="Rejected"), None, {"modelApprovalStatus": "PendingManualApproval"}),
    # The spec leaves approval to other tools.
    ({}, {"modelApprovalStatus": None}, version(approval="Approved"), None, {"modelApprovalStatus": None}),
])
def test_version_sends_only_what_the_spec_changed(desired, applied, observed, sends, now_applied):
    plan = planner.plan_version(observed, desired, applied, observed["ModelApprovalStatus"], [], "us-east-1")
    if sends is None:
        assert plan.action is None and plan.health.state == READY
    else:
        assert plan.action == "update_model_package"
        assert plan.request == {"ModelPackageArn": ARN, **sends} and plan.requeue_after == 0
    assert plan.status["appliedApproval"] == now_applied


def test_an_approval_changed_elsewhere_is_reported_once_and_not_reverted():
    applied = {"modelApprovalStatus": "PendingManualApproval"}
    desired = {"ModelApprovalStatus": "PendingManualApproval"}
    plan = planner.plan_version(version(approval="Approved"), desired, applied, "PendingManualApproval", [], "us-east-1")
    assert plan.action is None and plan.status["modelApprovalStatus"] == "Approved"
    assert [e.reason for e in plan.events] == ["ApprovalChangedOutside"]
    again = planner.plan_version(version(approval="Approved"), desired, applied, "Approved", [], "us-east-1")
    assert again.events == []


@pytest.mark.parametrize("state, health", [("Pending", RECONCILING), ("InProgress", RECONCILING),
                                           ("Completed", READY), ("Failed", STALLED)])
def test_version_is_ready_when_completed_whatever_the_approval(state, health):
    plan = planner.plan_version(version(state=state, approval="Rejected"), {}, {}, "Rejected", [], "us-east-1")
    assert plan.health.state == health


def spec(**members) -> ModelPackageSpec:
    return ModelPackageSpec.model_validate({
        "modelPackageGroupRef": {"name": "churn"},
        "inferenceSpecification": {"containers": [{"image": IMAGE, "modelDataUrl": "s3://b/m.tar.gz"}],
                                   "supportedContentTypes": ["text/csv"], "supportedResponseMIMETypes": ["text/csv"]},
        **members,
    })


def test_approval_changes_keep_the_version_any_other_change_makes_a_new_one():
    base = version_fingerprint(build_create_model_package_request(spec(), "g", {}))
    approved = spec(modelApprovalStatus="Approved", approvalDescription="ok")
    assert version_fingerprint(build_create_model_package_request(approved, "g", {})) == base
    described = spec(modelPackageDescription="retrained")
    assert version_fingerprint(build_create_model_package_request(described, "g", {})) != base
    assert version_fingerprint(build_create_model_package_request(spec(), "other", {})) != base
    versions = [{"modelPackageArn": "v1", "fingerprint": base}, {"modelPackageArn": "v2", "fingerprint": "x"},
                {"modelPackageArn": "v3", "fingerprint": base}]
    assert planner.current_version(versions, base)["modelPackageArn"] == "v3"
    assert planner.current_version(versions, "y") is None


def test_client_token_is_stable_per_object_and_version_and_fits_sagemaker():
    token = client_token("6c1e7a3e-8b1f-4d0e-9a55-2f1c0b7d9e11", "94bcaaa1cda586f2")
    assert token == client_token("6c1e7a3e-8b1f-4d0e-9a55-2f1c0b7d9e11", "94bcaaa1cda586f2")
    assert token != client_token("6c1e7a3e-8b1f-4d0e-9a55-2f1c0b7d9e11", "0000000000000000")
    assert token != client_token("7c1e7a3e-8b1f-4d0e-9a55-2f1c0b7d9e11", "94bcaaa1cda586f2")
    assert len(token) <= 36 and all(c.isalnum() or c == "-" for c in token)


def ready_group(name="team-churn") -> dict:
    return {"status": {"modelPackageGroupName": name, "conditions": [{"type": "Ready", "status": "True"}]}}


def package_object(state="Completed", approval="Approved") -> dict:
    return {"status": {"modelPackageArn": ARN, "modelPackageVersion": 1, "modelPackageStatus": state,
                       "modelApprovalStatus": approval}}


@pytest.mark.parametrize("package, reason", [
    (None, "WaitingForModelPackage"),
    ({"status": {}}, "WaitingForModelPackage"),
    (package_object(state="InProgress"), "WaitingForModelPackage"),
    (package_object(approval="PendingManualApproval"), "WaitingForApproval"),
    (package_object(approval="Rejected"), "WaitingForApproval"),
])
def test_a_fixed_version_waits_until_completed_and_approved(package, reason):
    plan = model_planner.fixed_package("churn-v1", package)
    assert isinstance(plan, Plan) and plan.health.reason == reason and plan.look_again == "poll"


def test_a_fixed_version_once_approved():
    assert model_planner.fixed_package("churn-v1", package_object()) == model_planner.PackageSource(ARN, 1)


@pytest.mark.parametrize("group, expected", [
    (None, "WaitingForModelPackageGroup"),
    ({"status": {"modelPackageGroupName": "team-churn"}}, "WaitingForModelPackageGroup"),
    (ready_group(), "team-churn"),
])
def test_a_group_resolves_once_ready(group, expected):
    found = model_planner.group_name("churn", group)
    assert (found.health.reason if isinstance(found, Plan) else found) == expected


def test_no_approved_version_waits_and_says_so():
    plan = model_planner.latest_approved("churn", "team-churn", None, None)
    assert isinstance(plan, Plan)
    assert (plan.health.state, plan.health.reason) == (RECONCILING, "NoApprovedVersion")
    assert model_planner.latest_approved("churn", "team-churn", ARN, 1) == model_planner.PackageSource(ARN, 1, "team-churn")


def test_a_new_latest_version_is_a_new_revision():
    model = ModelSpec.model_validate({"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "churn"}})
    first = build_create_model_request(model, "", {}, {}, ARN)
    assert first["PrimaryContainer"] == {"ModelPackageName": ARN}
    second = build_create_model_request(model, "", {}, {}, ARN.replace("/1", "/2"))
    assert model_fingerprint(first) != model_fingerprint(second)
    assert model_fingerprint(first) == model_fingerprint(build_create_model_request(model, "", {}, {}, ARN))


def test_an_approved_version_not_completed_yet_is_waited_for():
    plan = model_planner.latest_approved("churn", "team-churn", ARN, 2, "InProgress")
    assert isinstance(plan, Plan) and plan.health.reason == "WaitingForModelPackage"


TRAIN = ("TrainingJob", "train", None)
EVAL = ("ProcessingJob", "eval", "evaluation")


def processing(state, outputs=None):
    return {"status": {"processingJobStatus": state, "processingOutputs": outputs or []}}


@pytest.mark.parametrize("jobs, health, reason", [
    ({TRAIN: None}, RECONCILING, "WaitingForTrainingJob"),
    ({EVAL: processing("InProgress")}, RECONCILING, "WaitingForProcessingJob"),
    ({EVAL: processing("Failed")}, STALLED, "ProcessingJobFailed"),
    ({TRAIN: {"status": {"trainingJobStatus": "Stopped"}}}, STALLED, "TrainingJobFailed"),
    ({EVAL: processing("Completed", [{"outputName": "other", "s3Uri": "s3://b/other"}])}, STALLED, "OutputNotFound"),
])
def test_metrics_wait_for_their_jobs_outputs(jobs, health, reason):
    plan = planner.resolve_outputs(jobs)
    assert isinstance(plan, Plan) and (plan.health.state, plan.health.reason) == (health, reason)


def test_metrics_reports_are_files_in_the_jobs_outputs():
    jobs = {TRAIN: {"status": {"trainingJobStatus": "Completed",
                               "modelArtifacts": {"s3ModelArtifacts": "s3://b/out/train-1/output/model.tar.gz"}}},
            EVAL: processing("Completed", [{"outputName": "evaluation", "s3Uri": "s3://b/eval/"}])}
    uris = planner.resolve_outputs(jobs)
    assert uris == {TRAIN: "s3://b/out/train-1/output", EVAL: "s3://b/eval/"}
    with_metrics = spec(modelMetrics={
        "modelQuality": {"statistics": {"contentType": "application/json", "s3UriFrom": {
            "processingJobRef": {"name": "eval"}, "outputName": "evaluation", "key": "evaluation.json"}}},
        "explainability": {"report": {"contentType": "application/json",
                                      "s3UriFrom": {"trainingJobRef": {"name": "train"}, "key": "shap.json"}}},
        "bias": {"report": {"contentType": "application/json", "s3Uri": "s3://b/bias.json"}},
    })
    request = build_create_model_package_request(with_metrics, "g", {}, uris)
    assert request["ModelMetrics"] == {
        "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/eval/evaluation.json"}},
        "Explainability": {"Report": {"ContentType": "application/json",
                                      "S3Uri": "s3://b/out/train-1/output/shap.json"}},
        "Bias": {"Report": {"ContentType": "application/json", "S3Uri": "s3://b/bias.json"}},
    }


@pytest.mark.parametrize("status, expected", [
    ({"createPending": {"name": "t"}, "modelPackageArn": "v2"}, "v2"),  # answered, not yet recorded
    ({"createPending": {"name": "t"}, "modelPackageArn": "v1"}, None),  # cut short: v1 is the old one
    ({"createPending": {"name": "other"}, "modelPackageArn": "v2"}, None),  # another spec's create
    ({"modelPackageArn": "v2"}, None),
    ({"createPending": {"name": "t"}}, None),
])
def test_a_create_answer_is_taken_only_for_this_specs_token(status, expected):
    assert planner.answered_create(status, [{"modelPackageArn": "v1"}], "t") == expected
