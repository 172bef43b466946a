"""The model registry through boto3: groups and versions on the clock, approval, listing filters and
order, idempotency, AWS's refusals, and CreateModel from a version."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, wait_until

SPEC = {"Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                        "ModelDataUrl": "s3://kubemaker-demo/m.tar.gz"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}


@pytest.fixture
def group(sagemaker, unique) -> str:
    name = unique("grp")
    sagemaker.create_model_package_group(ModelPackageGroupName=name, ModelPackageGroupDescription="d",
                                         Tags=[{"Key": "team", "Value": "a"}])
    return name


def version(sagemaker, group: str, **members) -> str:
    return sagemaker.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC,
                                          **members)["ModelPackageArn"]


def test_a_group_completes_on_the_clock_and_keeps_its_tags(sagemaker, group):
    states = wait_until(lambda: sagemaker.describe_model_package_group(ModelPackageGroupName=group)[
        "ModelPackageGroupStatus"], lambda state: state == "Completed")
    assert states[0] == "InProgress"
    described = sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    assert described["ModelPackageGroupArn"].endswith(f":model-package-group/{group}")
    assert sagemaker.list_tags(ResourceArn=described["ModelPackageGroupArn"])["Tags"] == [{"Key": "team", "Value": "a"}]
    with pytest.raises(ClientError, match="already existing"):
        sagemaker.create_model_package_group(ModelPackageGroupName=group)


def test_versions_are_numbered_go_pending_in_progress_completed_and_await_approval(sagemaker, group):
    first, second = version(sagemaker, group), version(sagemaker, group, ModelApprovalStatus="Approved")
    assert first.endswith(f"/{group}/1") and second.endswith(f"/{group}/2")
    states = wait_until(lambda: sagemaker.describe_model_package(ModelPackageName=first)["ModelPackageStatus"],
                        lambda state: state == "Completed")
    assert states == ["Pending", "InProgress", "Completed"]
    described = sagemaker.describe_model_package(ModelPackageName=first)
    assert (described["ModelPackageVersion"], described["ModelPackageGroupName"]) == (1, group)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["InferenceSpecification"] == SPEC
    assert described["LastModifiedTime"] >= described["CreationTime"]


def test_approval_changes_in_place(sagemaker, group):
    arn = version(sagemaker, group)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="good")
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "good")
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"


def test_a_client_token_returns_the_version_it_made(sagemaker, group, unique):
    token = unique("t")
    first = version(sagemaker, group, ClientToken=token)
    assert version(sagemaker, group, ClientToken=token) == first
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [summary["ModelPackageArn"] for summary in listed] == [first]


def test_listing_filters_by_approval_and_sorts_newest_first(sagemaker, group):
    arns = [version(sagemaker, group, ModelApprovalStatus=state)
            for state in ("Approved", "Approved", "PendingManualApproval", "Rejected")]
    latest = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                           SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    assert [s["ModelPackageArn"] for s in latest["ModelPackageSummaryList"]] == [arns[1]]
    assert latest["NextToken"]
    rest = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                         SortBy="CreationTime", SortOrder="Descending", MaxResults=1,
                                         NextToken=latest["NextToken"])
    assert [s["ModelPackageArn"] for s in rest["ModelPackageSummaryList"]] == [arns[0]] and "NextToken" not in rest
    everything = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [s["ModelPackageVersion"] for s in everything] == [1, 2, 3, 4], "oldest first by default"
    assert {s["ModelPackageName"] for s in everything} == {group}
    assert sagemaker.list_model_packages(NameContains=group)["ModelPackageSummaryList"] == [], \
        "without a group, unversioned packages only"
    both = sagemaker.list_model_packages(NameContains=group, ModelPackageType="Both")["ModelPackageSummaryList"]
    assert len(both) == 4


def test_aws_refusals(sagemaker_unchecked, sagemaker, group, unique):
    with pytest.raises(ClientError, match="Tags cannot be specified for a versioned model package"):
        version(sagemaker, group, Tags=[{"Key": "k", "Value": "v"}])
    with pytest.raises(ClientError, match="Exactly one of ModelPackageName and ModelPackageGroupName"):
        sagemaker.create_model_package(ModelPackageGroupName=group, ModelPackageName="x", InferenceSpecification=SPEC)
    with pytest.raises(ClientError, match="does not exist"):
        version(sagemaker, group=unique("missing"))
    with pytest.raises(ClientError, match="does not exist") as missing:
        sagemaker.describe_model_package(ModelPackageName=f"{version(sagemaker, group)}9")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as invalid:
        sagemaker_unchecked.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC,
                                                 ModelApprovalStatus="Approve")
    assert "modelApprovalStatus" in invalid.value.response["Error"]["Message"]


def test_a_group_is_deleted_only_once_empty(sagemaker, group):
    arn = version(sagemaker, group)
    with pytest.raises(ClientError) as refused:
        sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="does not exist"):
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)


def test_create_model_needs_a_completed_approved_version(sagemaker, group, unique):
    arn = version(sagemaker, group)
    wait_until(lambda: sagemaker.describe_model_package(ModelPackageName=arn)["ModelPackageStatus"],
               lambda state: state == "Completed")
    name = unique("from-package")
    with pytest.raises(ClientError, match="only an Approved version can be deployed"):
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"ModelPackageName": arn})
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"ModelPackageName": arn})
    assert sagemaker.describe_model(ModelName=name)["PrimaryContainer"]["ModelPackageName"] == arn
    fresh = version(sagemaker, group, ModelApprovalStatus="Approved")
    with pytest.raises(ClientError, match="must be Completed"):
        sagemaker.create_model(ModelName=unique("early"), ExecutionRoleArn=ROLE_ARN,
                               PrimaryContainer={"ModelPackageName": fresh})
