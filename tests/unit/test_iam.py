"""docs/iam-policy.json against the operator's code: every AWS operation the operator calls is allowed,
nothing it does not call is, and the dangerous parts (PassRole, wildcards) are fenced in.

The operations are the boto3 method names the operator's modules spell out, found as the service
models' generator finds them (kubemaker_dev.codegen.servicemodels); tests/e2e/test_metrics.py checks
the operations an e2e run actually made as well.
"""

from __future__ import annotations

import fnmatch
import json
from functools import cache

import boto3
import botocore.config
import botocore.loaders
import botocore.session
import pytest

from kubemaker.aws.models import LOADER, use_operator_models
from kubemaker_dev.codegen import servicemodels
from tests.conftest import REPO_ROOT

POLICY_PATH = REPO_ROOT / "docs" / "iam-policy.json"
# Services the operator talks to, with their IAM action prefixes.
SERVICES = {service: service for service in servicemodels.SERVICES}
# Allowed although the code never names them: AWS checks them on the caller during calls it does make.
IMPLIED = {
    "cloudwatch:PutMetricAlarm": "PutScalingPolicy (target tracking) creates alarms as the caller",
    "cloudwatch:DescribeAlarms": "PutScalingPolicy (target tracking) checks its alarms as the caller",
    "cloudwatch:DeleteAlarms": "DeleteScalingPolicy deletes the target tracking alarms as the caller",
    "iam:CreateServiceLinkedRole": "the first RegisterScalableTarget for an endpoint creates the service role",
    "iam:PassRole": "every create call with a roleArn/executionRoleArn",
    "s3:GetObjectVersion": "GetObject of a pipeline definition with a versionId",
}


@cache
def clients() -> dict[str, object]:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return {service: session.client(service) for service in SERVICES}


def operator_operations() -> set[str]:
    """IAM actions ("sagemaker:CreateModel") for the boto3 operations named in the operator's modules
    (kubemaker_dev.codegen.servicemodels finds them, for the service models it generates too)."""
    return {f"{SERVICES[service]}:{operation}" for service, operations in servicemodels.called_operations().items()
            for operation in operations}


def test_the_operators_clients_offer_exactly_the_operations_it_calls():
    # Its clients load the pruned models of kubemaker.aws.data, generated from the same scan of the
    # code: an operation the code calls and the model lacks would be an AttributeError at run time.
    session = boto3.Session(botocore_session=use_operator_models(botocore.session.Session()),
                            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    offered = {f"{SERVICES[service]}:{operation}" for service in SERVICES
               for operation in session.client(service).meta.service_model.operation_names}
    assert offered == operator_operations()


# One operation per service, as the operator calls it.
CALLS = {
    "sagemaker": ("list_training_jobs", {}),
    "application-autoscaling": ("describe_scalable_targets", {"ServiceNamespace": "sagemaker"}),
    "logs": ("describe_log_streams", {"logGroupName": "/aws/sagemaker/TrainingJobs"}),
    "s3": ("get_object", {"Bucket": "models", "Key": "model.tar.gz"}),
    "sts": ("assume_role", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "kubemaker"}),
}


def request_urls(botocore_session, region: str, fips: bool) -> dict[str, str]:
    """Where each service's call goes, caught before it is sent."""
    session = boto3.Session(botocore_session=botocore_session, region_name=region,
                            aws_access_key_id="x", aws_secret_access_key="x")
    urls = {}
    for service, (operation, params) in CALLS.items():
        client = session.client(service, config=botocore.config.Config(use_fips_endpoint=fips))

        def caught(request, service=service, **_):
            urls[service] = request.url
            raise RuntimeError("not sent")

        client.meta.events.register("before-send", caught)
        with pytest.raises(RuntimeError, match="not sent"):
            getattr(client, operation)(**params)
    return urls


# The China partition has no FIPS endpoints (botocore refuses the configuration).
@pytest.mark.parametrize("region, fips", [("us-east-1", False), ("eu-central-1", False), ("cn-north-1", False),
                                          ("us-gov-west-1", False), ("us-east-1", True), ("us-gov-west-1", True)])
def test_the_operators_clients_resolve_endpoints_as_with_botocores_whole_data(region, fips):
    # The cut endpoint data must not change where a call goes, in any partition: botocore taking it
    # for custom data would send S3's FIPS calls to a global host that does not exist.
    assert set(CALLS) == set(SERVICES)
    operators = request_urls(use_operator_models(botocore.session.Session()), region, fips)
    assert operators == request_urls(botocore.session.Session(), region, fips)
    whole = botocore.loaders.Loader().load_data("endpoints")
    assert len(json.dumps(LOADER.load_data("endpoints"))) < len(json.dumps(whole)) / 10


def policy() -> dict:
    return json.loads(POLICY_PATH.read_text())


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def allowed_actions(document: dict | None = None) -> list[str]:
    return [action for statement in (document or policy())["Statement"] if statement["Effect"] == "Allow"
            for action in as_list(statement["Action"])]


def is_allowed(action: str, document: dict | None = None) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in allowed_actions(document))


def test_policy_allows_every_operation_the_operator_calls():
    operations = operator_operations()
    assert "sagemaker:CreateTrainingJob" in operations and "sts:AssumeRole" in operations  # the scan works
    missing = sorted(action for action in operations if not is_allowed(action))
    assert not missing, f"docs/iam-policy.json lacks {missing}"


def test_policy_allows_nothing_the_operator_does_not_use():
    used = operator_operations() | set(IMPLIED)
    extra = sorted(action for action in allowed_actions() if action not in used)
    assert not extra, f"docs/iam-policy.json allows {extra}, which the operator never calls"


def test_policy_has_no_wildcard_actions_and_no_full_access():
    for action in allowed_actions():
        assert "*" not in action, action
    assert "FullAccess" not in POLICY_PATH.read_text()
    assert not any(statement["Effect"] == "Deny" or "NotAction" in statement for statement in policy()["Statement"])


def test_every_action_names_a_real_operation():
    operations = {prefix: set(clients()[service].meta.service_model.operation_names)
                  for service, prefix in SERVICES.items()}
    for action in allowed_actions():
        prefix, name = action.split(":")
        if prefix in operations and action not in IMPLIED:  # some IAM actions are no API operation
            assert name in operations[prefix], f"{action} is not a {prefix} operation"


def test_pass_role_is_only_to_sagemaker_and_never_on_every_role():
    statements = [s for s in policy()["Statement"] if "iam:PassRole" in as_list(s["Action"])]
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    for resource in as_list(statement["Resource"]):
        assert resource.startswith("arn:aws:iam::") and not resource.endswith(":role/*"), resource


def test_only_calls_without_resource_level_permissions_get_every_resource():
    # List calls and Application Auto Scaling have no resource-level permissions for these actions.
    for statement in policy()["Statement"]:
        if "*" in as_list(statement["Resource"]):
            for action in as_list(statement["Action"]):
                assert action.split(":")[1].startswith(("List", "Describe")) or action.startswith(
                    "application-autoscaling:"), action


@pytest.mark.parametrize("action", ["sagemaker:DeleteTrainingJob", "sagemaker:CreatePresignedDomainUrl",
                                    "iam:CreateRole", "s3:PutObject", "sagemaker:DeleteTags"])
def test_what_the_operator_never_needs_is_refused(action):
    assert not is_allowed(action)


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_the_documented_rendering_for_another_partition_covers_every_arn(partition):
    text = POLICY_PATH.read_text()
    rendered = json.loads(text.replace('"arn:aws:', f'"arn:{partition}:'))
    arns = [resource for statement in rendered["Statement"] for resource in as_list(statement.get("Resource"))
            if resource != "*"]
    arns += [value for statement in rendered["Statement"]
             for condition in (statement.get("Condition") or {}).values() for values in condition.values()
             for value in as_list(values) if isinstance(value, str) and value.startswith("arn:")]
    assert arns and all(arn.startswith(f"arn:{partition}:") for arn in arns), arns
