"""Names, conditions, error classification, ownership and configuration."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from kubemaker.aws.errors import ErrorKind, classify
from kubemaker.aws.ownership import Owner, describe_owner, owned_by
from kubemaker.conditions import MAX_MESSAGE_LENGTH, Health, build_conditions
from kubemaker.config import load_config
from kubemaker.names import derived_name, revision_name

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@pytest.mark.parametrize(
    "namespace, name",
    [("default", "xgb"), ("team.a", "my.job"), ("n" * 63, "x" * 253), ("ns", "a--b")],
)
def test_derived_names_fit_sagemaker_and_are_stable(namespace, name):
    first = derived_name(namespace, name, "uid-1")
    assert SAGEMAKER_NAME.match(first) and len(first) <= 63
    assert first == derived_name(namespace, name, "uid-1")
    assert first != derived_name(namespace, name, "uid-2"), "a re-created object needs a new name"


def test_revision_names_stay_within_limits():
    base = "m" * 63
    assert revision_name(base, 1) == base
    assert revision_name(base, 12).endswith("-r12") and len(revision_name(base, 12)) == 63


def test_conditions_keep_transition_time_until_status_flips():
    first = build_conditions(Health.reconciling("InProgress", "training"), 1, None, now="t1")
    assert [(c["type"], c["status"]) for c in first] == [("Ready", "False"), ("Reconciling", "True")]
    second = build_conditions(Health.reconciling("InProgress", "still"), 1, first, now="t2")
    assert all(c["lastTransitionTime"] == "t1" for c in second)
    done = build_conditions(Health.ready("Completed", "done"), 2, second, now="t3")
    assert done == [{"type": "Ready", "status": "True", "reason": "Completed", "message": "done",
                     "lastTransitionTime": "t3", "observedGeneration": 2}]


def test_a_long_message_keeps_its_head_and_tail_within_the_limit():
    message = "SageMaker refused the request: Value '" + "x" * 100_000 + "' must have length <= 2500"
    shortened = build_conditions(Health.stalled("ValidationException", message), 1, None)[1]["message"]
    assert len(shortened) <= MAX_MESSAGE_LENGTH
    assert shortened.startswith("SageMaker refused the request") and shortened.endswith("must have length <= 2500")
    assert "characters left out" in shortened


def client_error(code: str, message: str = "", status: int = 400, operation: str = "DescribeModel") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


@pytest.mark.parametrize(
    "error, kind",
    [
        (client_error("ValidationException", "Requested resource not found."), ErrorKind.NOT_FOUND),
        (client_error("ValidationException", "Could not find endpoint \"x\".", operation="DescribeEndpoint"),
         ErrorKind.NOT_FOUND),
        (client_error("ValidationException", "Could not find model \"m\".", operation="DeleteModel"), ErrorKind.NOT_FOUND),
        (client_error("ObjectNotFoundException", "No scalable target", operation="DeregisterScalableTarget"),
         ErrorKind.NOT_FOUND),
        (client_error("ResourceNotFoundException", "group", operation="DescribeLogStreams"), ErrorKind.NOT_FOUND),
        # "Not found" about something the request names, not the object: a refusal for the user.
        (client_error("ValidationException", "Could not find model data at s3://b/model.tar.gz.", operation="CreateModel"),
         ErrorKind.TERMINAL),
        (client_error("ValidationException", "Image 1.dkr.ecr.us-east-1.amazonaws.com/x:1 does not exist.",
                      operation="CreateTrainingJob"), ErrorKind.TERMINAL),
        (client_error("ValidationException", "Could not find endpoint configuration \"c\".", operation="CreateEndpoint"),
         ErrorKind.TERMINAL),
        (client_error("ResourceNotFound", "Pipeline p does not exist.", operation="StartPipelineExecution"),
         ErrorKind.TERMINAL),
        (client_error("ValidationException", "1 validation error detected"), ErrorKind.TERMINAL),
        (client_error("AccessDeniedException", "not authorized"), ErrorKind.TERMINAL),
        (client_error("ResourceLimitExceeded", "quota", operation="CreateEndpoint"), ErrorKind.QUOTA),
        (client_error("ThrottlingException", "Rate exceeded"), ErrorKind.TRANSIENT),
        (client_error("InternalFailure", "", 500), ErrorKind.TRANSIENT),
        (client_error("ServiceUnavailable", "", 503), ErrorKind.TRANSIENT),
        (client_error("ExpiredTokenException", "The security token included in the request is expired"),
         ErrorKind.TRANSIENT),
        (client_error("ExpiredToken", "The provided token has expired.", operation="GetObject"), ErrorKind.TRANSIENT),
        (client_error("RequestExpired", "Request has expired."), ErrorKind.TRANSIENT),
        (EndpointConnectionError(endpoint_url="http://x"), ErrorKind.TRANSIENT),
    ],
)
def test_error_classification(error, kind):
    assert classify(error) is kind


def test_a_quota_refusal_is_stalled_and_tried_again_at_the_slow_interval():
    import asyncio

    from kubemaker.conditions import STALLED
    from kubemaker.runtime.reconciler import judge, run_pass, stalled_for_generation

    class Refused:
        kind = "Endpoint"
        calls = 0

        async def reconcile(self, ctx):
            self.calls += 1
            raise error

    class Context:
        runtime = type("Runtime", (), {"config": load_config(None, {"quotaRecheckIntervalSeconds": 120})})()
        logger = None

        async def add_finalizer(self):
            pass

    async def one_pass(controller, ctx):
        try:
            return await run_pass(controller, ctx), False
        except Exception as failure:
            verdict = judge(controller.kind, ctx, failure)
            return verdict.plan, verdict.transient

    for error, recheck in ((client_error("ResourceLimitExceeded", "The account-level service limit "
                                         "'ml.g5.xlarge for endpoint usage' is 0 Instances", operation="CreateEndpoint"),
                            120),
                           (client_error("ValidationException", "Could not find model data at s3://b/m.tar.gz.",
                                         operation="CreateModel"), None)):
        controller = Refused()
        plan, transient = asyncio.run(one_pass(controller, Context()))
        assert (plan.health.state, plan.health.reason, transient, controller.calls) == (
            STALLED, error.response["Error"]["Code"], False, 1)
        assert error.response["Error"]["Message"] in plan.health.message
        assert plan.requeue_after == recheck
        conditions = [{"type": "Stalled", "status": "True", "reason": plan.health.reason, "observedGeneration": 3}]
        # A refusal waits for a spec change; a quota is looked at again with the same spec.
        assert stalled_for_generation({"conditions": conditions}, 3) is (recheck is None)


def test_ownership_is_by_uid():
    owner = Owner("TrainingJob", "ns", "job", "uid-1")
    tags = [{"Key": k, "Value": v} for k, v in owner.tag_map().items()]
    assert owned_by(tags, owner)
    assert not owned_by(tags, Owner("TrainingJob", "ns", "job", "uid-2"))
    assert not owned_by([], owner)
    assert describe_owner(tags) == "TrainingJob ns/job"
    assert "outside the operator" in describe_owner([])


def test_config_file_env_and_flags(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text(
        "region: eu-west-1\npollIntervalSeconds: 3\n"
        "defaultNamespacePolicy: {allowedRoleArns: ['arn:aws:iam::1:role/SageMaker*']}\n"
        "namespacePolicies: {team-a: {allowedRoleArns: ['*'], assumeRoleArn: 'arn:aws:iam::2:role/Ops', allowAdoption: true}}\n"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    config = load_config(path, {"pollIntervalSeconds": 7})
    assert (config.region, config.endpoint_url, config.poll_interval_seconds) == ("eu-west-1", "http://127.0.0.1:1", 7)
    assert config.policy_for("other").allows_role("arn:aws:iam::1:role/SageMakerExec")
    assert not config.policy_for("other").allows_role("arn:aws:iam::1:role/Admin")
    assert config.policy_for("team-a").assume_role_arn == "arn:aws:iam::2:role/Ops"
    assert config.policy_for("team-a").allow_adoption and not config.policy_for("other").allow_adoption


def test_config_refuses_unknown_keys(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("regoin: eu-west-1\n")
    with pytest.raises(ValueError, match="regoin"):
        load_config(path)


def test_undeclared_status_fields_are_found_at_any_depth():
    from kubemaker.api.registry import undeclared_status_fields

    assert undeclared_status_fields("Model", {"modelName": "m", "revisions": [{"modelName": "m", "fingerprint": "f"}]}) == []
    assert undeclared_status_fields("Model", {"revisions": [{"modelName": "m", "specHash": "x"}], "bogus": 1}) == [
        "status.revisions.specHash", "status.bogus"]


def test_call_retries_transient_faults_but_not_refusals(monkeypatch):
    import asyncio

    from kubemaker.aws import clients

    class Flaky:
        def __init__(self, errors):
            self.errors, self.calls = list(errors), 0

        def describe_thing(self, **params):
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)
            return {"ok": params}

    monkeypatch.setattr(clients, "CALL_BACKOFF_SECONDS", 0.001)
    flaky = Flaky([client_error("ThrottlingException", "Rate exceeded"), client_error("InternalFailure", "", 500)])
    assert asyncio.run(clients.call(flaky, "describe_thing", Name="x")) == {"ok": {"Name": "x"}}
    assert flaky.calls == 3
    refused = Flaky([client_error("ValidationException", "bad")])
    with pytest.raises(ClientError):
        asyncio.run(clients.call(refused, "describe_thing"))
    assert refused.calls == 1
    always = Flaky([client_error("ThrottlingException", "Rate exceeded")] * 10)
    with pytest.raises(ClientError):
        asyncio.run(clients.call(always, "describe_thing"))
    assert always.calls == clients.CALL_ATTEMPTS


@pytest.mark.parametrize("region, console, invocation_host", [
    ("us-east-1", "https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/j",
     "runtime.sagemaker.us-east-1.amazonaws.com"),
    ("cn-north-1", "https://console.amazonaws.cn/sagemaker/home?region=cn-north-1#/jobs/j",
     "runtime.sagemaker.cn-north-1.amazonaws.com.cn"),
    ("us-gov-west-1", "https://console.amazonaws-us-gov.com/sagemaker/home?region=us-gov-west-1#/jobs/j",
     "runtime.sagemaker.us-gov-west-1.amazonaws.com"),
])
def test_console_and_invocation_urls_follow_the_partition_of_the_region(region, console, invocation_host):
    from kubemaker.api.endpoint import invocation_url
    from kubemaker.aws.partitions import partition
    from kubemaker.reconcile.common import console_url

    assert console_url(region, "jobs/j") == console
    assert invocation_url(region, "e") == f"https://{invocation_host}/endpoints/e/invocations"
    assert partition(region) == {"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}[region]


def test_a_region_botocore_does_not_know_is_in_the_commercial_partition():
    from kubemaker.aws.partitions import partition
    from kubemaker.reconcile.common import console_url

    assert partition("wu-ksdcgcrvnbat-77") == "aws"
    assert console_url("wu-ksdcgcrvnbat-77", "models/m").startswith("https://wu-ksdcgcrvnbat-77.console.aws.amazon.com/")
