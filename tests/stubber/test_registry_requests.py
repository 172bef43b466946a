"""The model registry controllers against Stubber-wrapped clients: every request checked against
SageMaker's service model, and the expected parameters pin what is sent: the group's ownership
tags, a version's client token and no tags, UpdateModelPackage with only what the spec changed,
deletion order, the trackers' one listing per group, and a Model made from the registry."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from kubemaker.api.model_package import build_create_model_package_request, client_token, version_fingerprint
from kubemaker.api.registry import parse_spec
from kubemaker.handlers.model import ModelController
from kubemaker.handlers.model_package import ModelPackageController, ModelPackageGroupController
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.registry_tracker import ApprovedVersion, ApprovedVersionTracker, FollowGroup, VersionTracker
from tests.stubber.conftest import clean_up, make_context, serve

NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"
GROUP = "team-churn"
GROUP_ARN = f"{ARN}:model-package-group/{GROUP}"
V1 = f"{ARN}:model-package/{GROUP}/1"
V2 = f"{ARN}:model-package/{GROUP}/2"
OWNER = [{"Key": "kubemaker.io/kind", "Value": "ModelPackageGroup"}, {"Key": "kubemaker.io/namespace", "Value": "team"},
         {"Key": "kubemaker.io/name", "Value": "job"}, {"Key": "kubemaker.io/uid", "Value": "0000-1111"}]
READY_GROUP = {"status": {"modelPackageGroupName": GROUP, "conditions": [{"type": "Ready", "status": "True"}]}}
PACKAGE_SPEC = {
    "modelPackageGroupRef": {"name": "churn"},
    "inferenceSpecification": {"containers": [{"image": IMAGE, "modelDataFrom": {"trainingJobRef": {"name": "train"}}}],
                               "supportedContentTypes": ["text/csv"], "supportedResponseMIMETypes": ["text/csv"]},
    "modelApprovalStatus": "PendingManualApproval",
}
COMPLETED_JOB = {"status": {"trainingJobStatus": "Completed", "modelArtifacts": {"s3ModelArtifacts": "s3://b/m.tar.gz"}}}
WIRE_SPEC = {"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"}],
             "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}


def described_group(state: str = "Completed") -> dict:
    return {"ModelPackageGroupName": GROUP, "ModelPackageGroupArn": GROUP_ARN, "CreationTime": NOW, "CreatedBy": {},
            "ModelPackageGroupStatus": state}


def described_version(arn: str = V1, number: int = 1, approval: str = "PendingManualApproval",
                      state: str = "Completed") -> dict:
    return {"ModelPackageName": GROUP, "ModelPackageGroupName": GROUP, "ModelPackageVersion": number,
            "ModelPackageArn": arn, "CreationTime": NOW, "LastModifiedTime": NOW, "InferenceSpecification": WIRE_SPEC,
            "ModelPackageStatus": state, "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "ModelApprovalStatus": approval}


# ModelPackageGroup -----------------------------------------------------------------------------------


def test_a_group_is_created_with_the_users_and_the_ownership_tags(stubbed):
    ctx = make_context(stubbed, "ModelPackageGroup", "modelpackagegroups",
                       {"modelPackageGroupName": GROUP, "modelPackageGroupDescription": "churn",
                        "tags": [{"key": "team", "value": "risk"}]})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_model_package_group", "ValidationException",
                               f"ModelPackageGroup {GROUP} does not exist.", expected_params={"ModelPackageGroupName": GROUP})
    sagemaker.add_response("create_model_package_group", {"ModelPackageGroupArn": GROUP_ARN}, expected_params={
        "ModelPackageGroupName": GROUP, "ModelPackageGroupDescription": "churn",
        "Tags": [{"Key": "team", "Value": "risk"}, *OWNER]})
    sagemaker.add_response("describe_model_package_group", described_group("InProgress"), {"ModelPackageGroupName": GROUP})
    plan = asyncio.run(run_pass(ModelPackageGroupController(), ctx))
    assert stubbed.status_patches[0]["createPending"]["name"] == GROUP
    assert plan.health.reason == "InProgress" and plan.look_again == "poll"
    assert plan.status["modelPackageGroupArn"] == GROUP_ARN and plan.status["createPending"] is None


def test_a_group_waits_for_its_modelpackages_then_for_sagemaker_to_hold_none(stubbed):
    status = {"modelPackageGroupName": GROUP, "modelPackageGroupArn": GROUP_ARN}
    ctx = make_context(stubbed, "ModelPackageGroup", "modelpackagegroups", {}, status)
    ctx.body["metadata"]["name"] = "churn"
    serve(stubbed, {("ModelPackage", "v1"): {"spec": {"modelPackageGroupRef": {"name": "churn"}}}})
    waiting = asyncio.run(clean_up(ModelPackageGroupController(), ctx))
    assert waiting.calls == [] and "ModelPackages v1" in waiting.waiting, "nothing asked of SageMaker yet"

    serve(stubbed, {})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model_package_group", described_group(), {"ModelPackageGroupName": GROUP})
    sagemaker.add_response("list_tags", {"Tags": OWNER}, {"ResourceArn": GROUP_ARN})
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": [{
        "ModelPackageGroupName": GROUP, "ModelPackageVersion": 1, "ModelPackageArn": V1, "CreationTime": NOW,
        "ModelPackageStatus": "Completed"}]}, {"ModelPackageGroupName": GROUP, "MaxResults": 1})
    retained = asyncio.run(clean_up(ModelPackageGroupController(), ctx))
    assert retained.calls == [] and V1 in retained.waiting

    sagemaker.add_response("describe_model_package_group", described_group(), {"ModelPackageGroupName": GROUP})
    sagemaker.add_response("list_tags", {"Tags": OWNER}, {"ResourceArn": GROUP_ARN})
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": []},
                           {"ModelPackageGroupName": GROUP, "MaxResults": 1})
    sagemaker.add_response("delete_model_package_group", {}, {"ModelPackageGroupName": GROUP})
    done = asyncio.run(clean_up(ModelPackageGroupController(), ctx))
    assert done.waiting is None and [call.action for call in done.calls] == ["delete_model_package_group"]


# ModelPackage ----------------------------------------------------------------------------------------


def package_context(stubbed, spec: dict | None = None, status: dict | None = None):
    serve(stubbed, {("ModelPackageGroup", "churn"): READY_GROUP, ("TrainingJob", "train"): COMPLETED_JOB})
    return make_context(stubbed, "ModelPackage", "modelpackages", dict(spec or PACKAGE_SPEC), status)


def digest_of(spec: dict) -> str:
    return version_fingerprint(build_create_model_package_request(
        parse_spec("ModelPackage", spec), GROUP, {"train": "s3://b/m.tar.gz"}))


def test_a_version_is_registered_with_a_client_token_and_no_tags(stubbed):
    ctx = package_context(stubbed)
    token = client_token("0000-1111", digest_of(PACKAGE_SPEC))
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("create_model_package", {"ModelPackageArn": V1}, expected_params={
        "ModelPackageGroupName": GROUP, "InferenceSpecification": WIRE_SPEC,
        "ModelApprovalStatus": "PendingManualApproval", "ClientToken": token})
    sagemaker.add_response("describe_model_package", described_version(state="Pending"), {"ModelPackageName": V1})
    tracker = VersionTracker(stubbed)
    plan = asyncio.run(run_pass(ModelPackageController(tracker), ctx))
    assert stubbed.status_patches[0]["createPending"]["name"] == token, "marker before the create call"
    assert plan.health.reason == "Pending" and plan.status["modelPackageVersion"] == 1
    assert [v["modelPackageArn"] for v in plan.status["versions"]] == [V1]
    assert plan.status["appliedApproval"] == {"modelApprovalStatus": "PendingManualApproval"}
    assert plan.follow["ModelPackageArn"] == V1 and plan.track


def test_a_create_repeated_after_a_crash_sends_the_same_token(stubbed):
    """The marker was written and the create answered, but the pass died before recording it: the
    next pass sends the same create, and SageMaker's idempotency gives the same version back."""
    token = client_token("0000-1111", digest_of(PACKAGE_SPEC))
    ctx = package_context(stubbed, status={"createPending": {"name": token, "startedAt": "2026-11-01T00:00:00Z"}})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("create_model_package", {"ModelPackageArn": V1})
    sagemaker.add_response("describe_model_package", described_version(), {"ModelPackageName": V1})
    plan = asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert plan.health.state == "Ready" and [v["modelPackageArn"] for v in plan.status["versions"]] == [V1]


def test_approval_is_updated_in_place_and_a_spec_change_registers_a_new_version(stubbed):
    versions = [{"modelPackageArn": V1, "fingerprint": digest_of(PACKAGE_SPEC), "modelPackageVersion": 1}]
    status = {"modelPackageArn": V1, "versions": versions, "modelApprovalStatus": "PendingManualApproval",
              "appliedApproval": {"modelApprovalStatus": "PendingManualApproval"}}
    approved = {**PACKAGE_SPEC, "modelApprovalStatus": "Approved", "approvalDescription": "passed evaluation"}
    ctx = package_context(stubbed, approved, status)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model_package", described_version(), {"ModelPackageName": V1})
    sagemaker.add_response("update_model_package", {"ModelPackageArn": V1}, expected_params={
        "ModelPackageArn": V1, "ModelApprovalStatus": "Approved", "ApprovalDescription": "passed evaluation"})
    plan = asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert plan.action == "update_model_package"
    assert plan.status["appliedApproval"] == {"modelApprovalStatus": "Approved", "approvalDescription": "passed evaluation"}

    changed = {**approved, "modelPackageDescription": "retrained"}
    ctx = package_context(stubbed, changed, {**status, "appliedApproval": plan.status["appliedApproval"]})
    sagemaker.add_response("create_model_package", {"ModelPackageArn": V2}, expected_params={
        "ModelPackageGroupName": GROUP, "ModelPackageDescription": "retrained", "InferenceSpecification": WIRE_SPEC,
        "ModelApprovalStatus": "Approved", "ClientToken": client_token("0000-1111", digest_of(changed))})
    sagemaker.add_response("describe_model_package", described_version(V2, 2, "Approved"), {"ModelPackageName": V2})
    sagemaker.add_response("update_model_package", {"ModelPackageArn": V2}, expected_params={
        "ModelPackageArn": V2, "ApprovalDescription": "passed evaluation"})
    plan = asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert [v["modelPackageArn"] for v in plan.status["versions"]] == [V1, V2], "the old version is kept"
    assert plan.status["modelPackageArn"] == V2


def test_a_group_named_literally_must_be_this_namespaces(stubbed):
    ctx = package_context(stubbed, {**{k: v for k, v in PACKAGE_SPEC.items() if k != "modelPackageGroupRef"},
                                    "modelPackageGroupName": "team-a-models"})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    theirs = f"{ARN}:model-package-group/team-a-models"
    sagemaker.add_response("describe_model_package_group", {**described_group(), "ModelPackageGroupName": "team-a-models",
                                                            "ModelPackageGroupArn": theirs},
                           {"ModelPackageGroupName": "team-a-models"})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/namespace", "Value": "team-a"}]},
                           {"ResourceArn": theirs})
    with pytest.raises(Stall, match="allowedSageMakerReferences") as refused:
        asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    assert stubbed.status_patches == [], "nothing was sent"


def test_deleting_a_modelpackage_deletes_its_versions_and_wakes_its_group(stubbed):
    status = {"modelPackageArn": V2, "versions": [{"modelPackageArn": V1}, {"modelPackageArn": V2}]}
    ctx = package_context(stubbed, status=status)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("delete_model_package", {}, {"ModelPackageName": V1})
    sagemaker.add_client_error("delete_model_package", "ValidationException", f"ModelPackage {V2} does not exist.",
                               expected_params={"ModelPackageName": V2})
    cleanup = asyncio.run(clean_up(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert cleanup.wake == [("ModelPackageGroup", "churn")] and cleanup.waiting is None


# Trackers ----------------------------------------------------------------------------------------------


class RecordingQueue:
    """The work queue as trackers see it: the keys they add."""

    def __init__(self) -> None:
        self.added: list = []

    def add(self, key) -> None:
        self.added.append(key)


def summary(arn: str, number: int, state: str, approval: str) -> dict:
    return {"ModelPackageGroupName": GROUP, "ModelPackageVersion": number, "ModelPackageArn": arn, "CreationTime": NOW,
            "ModelPackageStatus": state, "ModelApprovalStatus": approval}


def test_one_listing_per_group_wakes_only_the_versions_that_changed(stubbed):
    """Each poll lists the versions SageMaker is still working on; every resync interval, all of them
    (approvals changed by other tools, versions deleted outside)."""
    stubbed.work_queue = RecordingQueue()
    tracker = VersionTracker(stubbed)
    for name, arn, number, state in (("v1", V1, 1, "Completed"), ("v2", V2, 2, "InProgress")):
        ctx = make_context(stubbed, "ModelPackage", "modelpackages", {})
        ctx.body["metadata"]["name"] = name
        tracker.follow(ctx, described_version(arn, number, state=state), True)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    listing = {"ModelPackageGroupName": GROUP, "CreationTimeAfter": NOW - datetime.timedelta(seconds=1),
               "SortBy": "CreationTime", "SortOrder": "Ascending", "MaxResults": 100}
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": [
        summary(V1, 1, "Completed", "PendingManualApproval"), summary(V2, 2, "Completed", "PendingManualApproval")]},
        listing)
    ((key, group),) = tracker.groups.items()
    asyncio.run(tracker.poll(key, group))
    assert stubbed.work_queue.added == [("ModelPackage", "team", "v2")]

    # Once v2's pass follows it Completed, nothing is in progress: no listing at all.
    ctx.body["metadata"]["name"] = "v2"
    tracker.follow(ctx, described_version(V2, 2), True)
    asyncio.run(tracker.poll(key, group))  # the stubber refuses any call not queued

    # At the resync: v1 approved elsewhere, v2 deleted outside the operator.
    group.last_full -= stubbed.config.resync_interval_seconds
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": [
        summary(V1, 1, "Completed", "Approved")]}, listing)
    stubbed.work_queue.added.clear()
    asyncio.run(tracker.poll(key, group))
    assert sorted(stubbed.work_queue.added) == [("ModelPackage", "team", "v1"), ("ModelPackage", "team", "v2")]


def test_models_of_a_group_share_one_listing_and_wake_when_the_latest_approved_changes(stubbed):
    stubbed.work_queue = RecordingQueue()
    tracker = ApprovedVersionTracker(stubbed)
    keys = []
    for name in ("a", "b", "c"):
        ctx = make_context(stubbed, "Model", "models", {})
        ctx.body["metadata"]["name"] = name
        tracker.follow(ctx, FollowGroup(GROUP, ApprovedVersion(V1, 1, "Completed")), True)
        keys.append(ctx.key)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    listing = {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved", "SortBy": "CreationTime",
               "SortOrder": "Descending", "MaxResults": 1}
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": [{
        "ModelPackageGroupName": GROUP, "ModelPackageVersion": 1, "ModelPackageArn": V1, "CreationTime": NOW,
        "ModelPackageStatus": "Completed"}]}, listing)
    ((key, group),) = tracker.groups.items()
    asyncio.run(tracker.poll(key, group))
    assert stubbed.work_queue.added == [], "unchanged: nobody woken"
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": [{
        "ModelPackageGroupName": GROUP, "ModelPackageVersion": 2, "ModelPackageArn": V2, "CreationTime": NOW,
        "ModelPackageStatus": "Completed"}]}, listing)
    asyncio.run(tracker.poll(key, group))
    assert sorted(stubbed.work_queue.added) == sorted(keys)
    # A pass reads the latest from the tracker, not from SageMaker.
    assert asyncio.run(tracker.latest_approved(ctx, GROUP)) == ApprovedVersion(V2, 2, "Completed")


# Model from the registry ---------------------------------------------------------------------------------


def test_a_model_from_the_latest_approved_version(stubbed):
    serve(stubbed, {("ModelPackageGroup", "churn"): READY_GROUP})
    ctx = make_context(stubbed, "Model", "models", {"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "churn"}})
    name = ctx.sagemaker_name
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": [{
        "ModelPackageGroupName": GROUP, "ModelPackageVersion": 2, "ModelPackageArn": V2, "CreationTime": NOW,
        "ModelPackageStatus": "Completed"}]}, {
        "ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved", "SortBy": "CreationTime",
        "SortOrder": "Descending", "MaxResults": 1})
    # The version is checked like any package used by name: its group must be this namespace's.
    sagemaker.add_response("describe_model_package", described_version(V2, 2, "Approved"), {"ModelPackageName": V2})
    sagemaker.add_response("describe_model_package_group", described_group(), {"ModelPackageGroupName": GROUP})
    sagemaker.add_response("list_tags", {"Tags": OWNER}, {"ResourceArn": GROUP_ARN})
    sagemaker.add_response("create_model", {"ModelArn": f"{ARN}:model/{name}"}, expected_params={
        "ModelName": name, "PrimaryContainer": {"ModelPackageName": V2}, "ExecutionRoleArn": ROLE,
        "Tags": [{**tag, "Value": "Model"} if tag["Key"] == "kubemaker.io/kind" else tag for tag in OWNER]})
    sagemaker.add_response("describe_model", {"ModelName": name, "ModelArn": f"{ARN}:model/{name}", "CreationTime": NOW,
                                              "PrimaryContainer": {"ModelPackageName": V2}}, {"ModelName": name})
    tracker = ApprovedVersionTracker(stubbed)
    plan = asyncio.run(run_pass(ModelController(tracker), ctx))
    assert plan.health.state == "Ready"
    assert (plan.status["modelPackageArn"], plan.status["modelPackageVersion"]) == (V2, 2)
    assert plan.follow == FollowGroup(GROUP, ApprovedVersion(V2, 2, "Completed")) and plan.track


def test_a_model_with_no_approved_version_waits_and_follows_its_group(stubbed):
    serve(stubbed, {("ModelPackageGroup", "churn"): READY_GROUP})
    ctx = make_context(stubbed, "Model", "models", {"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "churn"}})
    stubbed.aws.stubbers["sagemaker"].add_response("list_model_packages", {"ModelPackageSummaryList": []})
    plan = asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))
    assert (plan.health.reason, plan.action, plan.look_again) == ("NoApprovedVersion", None, "poll")
    assert plan.follow == FollowGroup(GROUP, None) and plan.track


def test_an_approved_version_sagemaker_has_not_completed_is_waited_for(stubbed):
    serve(stubbed, {("ModelPackageGroup", "churn"): READY_GROUP})
    ctx = make_context(stubbed, "Model", "models", {"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "churn"}})
    stubbed.aws.stubbers["sagemaker"].add_response("list_model_packages", {"ModelPackageSummaryList": [{
        "ModelPackageGroupName": GROUP, "ModelPackageVersion": 2, "ModelPackageArn": V2, "CreationTime": NOW,
        "ModelPackageStatus": "InProgress", "ModelApprovalStatus": "Approved"}]})
    plan = asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))
    assert (plan.health.reason, plan.action) == ("WaitingForModelPackage", None), "no CreateModel SageMaker refuses"
    assert "version 2" in plan.health.message and "InProgress" in plan.health.message
    assert plan.follow == FollowGroup(GROUP, ApprovedVersion(V2, 2, "InProgress"))


def test_a_version_waits_for_its_evaluation_then_sends_the_report_uri(stubbed):
    metrics = {"modelQuality": {"statistics": {"contentType": "application/json", "s3UriFrom": {
        "processingJobRef": {"name": "evaluate"}, "outputName": "evaluation", "key": "evaluation.json"}}}}
    spec = {**PACKAGE_SPEC, "modelMetrics": metrics}
    serve(stubbed, {("ModelPackageGroup", "churn"): READY_GROUP, ("TrainingJob", "train"): COMPLETED_JOB,
                    ("ProcessingJob", "evaluate"): {"status": {"processingJobStatus": "InProgress"}}})
    ctx = make_context(stubbed, "ModelPackage", "modelpackages", dict(spec))
    waiting = asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert (waiting.health.reason, waiting.action) == ("WaitingForProcessingJob", None), "nothing sent"

    done = {"status": {"processingJobStatus": "Completed",
                       "processingOutputs": [{"outputName": "evaluation", "s3Uri": "s3://b/eval"}]}}
    serve(stubbed, {("ModelPackageGroup", "churn"): READY_GROUP, ("TrainingJob", "train"): COMPLETED_JOB,
                    ("ProcessingJob", "evaluate"): done})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("create_model_package", {"ModelPackageArn": V1}, expected_params={
        "ModelPackageGroupName": GROUP, "InferenceSpecification": WIRE_SPEC,
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": "s3://b/eval/evaluation.json"}}},
        "ModelApprovalStatus": "PendingManualApproval", "ClientToken": client_token("0000-1111", version_fingerprint(
            {"ModelPackageGroupName": GROUP, "InferenceSpecification": WIRE_SPEC, "ModelMetrics": {"ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/eval/evaluation.json"}}}}))})
    sagemaker.add_response("describe_model_package", described_version(state="Pending"), {"ModelPackageName": V1})
    plan = asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert plan.health.reason == "Pending"


def test_a_validation_role_the_namespace_may_not_pass_is_refused_before_anything_is_sent(stubbed):
    validation = {"validationRole": "arn:aws:iam::123456789012:role/Admin", "validationProfiles": [{
        "profileName": "p", "transformJobDefinition": {
            "transformInput": {"dataSource": {"s3DataSource": {"s3DataType": "S3Prefix", "s3Uri": "s3://b/in"}}},
            "transformOutput": {"s3OutputPath": "s3://b/out"},
            "transformResources": {"instanceType": "ml.m5.large", "instanceCount": 1}}}]}
    ctx = package_context(stubbed, {**PACKAGE_SPEC, "validationSpecification": validation})
    with pytest.raises(Stall, match="spec.validationSpecification.validationRole") as refused:
        asyncio.run(run_pass(ModelPackageController(VersionTracker(stubbed)), ctx))
    assert refused.value.reason == "RoleNotAllowed" and "allowedRoleArns" in refused.value.message
    assert stubbed.status_patches == []
