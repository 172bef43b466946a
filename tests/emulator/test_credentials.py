"""Assumed-role credentials that expire, AWS's refusal of an expired session token in each protocol,
and the emulator's skewed clock."""

from __future__ import annotations

import datetime
import email.utils
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from kubemaker_emulator.control import ControlApiError
from kubemaker_emulator.process import start_emulator
from tests.emulator.helpers import training_request, wait_until

ROLE = "arn:aws:iam::111111111111:role/team"


@pytest.fixture
def own_emulator(tmp_path):
    """Clock and lifetime controls would disturb the shared emulator."""
    with start_emulator(profile="fast", log_path=tmp_path / "emulator.log") as emulator:
        yield emulator


def assumed(emulator, **params):
    answer = emulator.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="test", **params)
    return answer, answered(answer)


def answered(response) -> datetime.datetime:
    return email.utils.parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])


def clients_of(emulator, credentials) -> dict:
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"], region_name="us-east-1",
    )
    return {service: session.client(service, endpoint_url=emulator.url, config=boto3.session.Config(
        retries={"total_max_attempts": 1})) for service in ("sagemaker", "logs", "application-autoscaling", "s3", "sts")}


CALLS = {
    "sagemaker": lambda c: c.list_models(),
    "logs": lambda c: c.describe_log_groups(),
    "application-autoscaling": lambda c: c.describe_scalable_targets(ServiceNamespace="sagemaker"),
    "s3": lambda c: c.list_buckets(),
    "sts": lambda c: c.get_caller_identity(),
}
# AWS's answer to an expired session token: JSON services, then query (STS) and REST-XML (S3) ones.
EXPIRED = {
    "sagemaker": ("ExpiredTokenException", "The security token included in the request is expired"),
    "logs": ("ExpiredTokenException", "The security token included in the request is expired"),
    "application-autoscaling": ("ExpiredTokenException", "The security token included in the request is expired"),
    "s3": ("ExpiredToken", "The provided token has expired."),
    "sts": ("ExpiredToken", "The security token included in the request is expired"),
}


def test_assume_role_credentials_expire_after_duration_seconds(own_emulator):
    answer, issued = assumed(own_emulator, DurationSeconds=900)
    assert (answer["Credentials"]["Expiration"] - issued).total_seconds() == pytest.approx(900, abs=1)
    answer, issued = assumed(own_emulator)
    assert (answer["Credentials"]["Expiration"] - issued).total_seconds() == pytest.approx(3600, abs=1)
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::111111111111:assumed-role/team/test"
    unchecked = own_emulator.client("sts", parameter_validation=False)  # botocore checks the bounds too
    for duration, bound in ((899, "greater than or equal to 900"), (43201, "less than or equal to 43200")):
        with pytest.raises(ClientError) as refused:
            unchecked.assume_role(RoleArn=ROLE, RoleSessionName="test", DurationSeconds=duration)
        assert refused.value.response["Error"]["Code"] == "ValidationError"
        assert bound in refused.value.response["Error"]["Message"]


def test_calls_with_an_expired_token_are_refused_as_aws_refuses_them(own_emulator):
    own_emulator.control.set_credential_lifetime(2)
    answer, issued = assumed(own_emulator, DurationSeconds=3600)
    assert (answer["Credentials"]["Expiration"] - issued).total_seconds() == pytest.approx(2, abs=1)
    clients = clients_of(own_emulator, answer["Credentials"])
    for service, call in CALLS.items():
        call(clients[service])  # valid while fresh
    time.sleep(3)
    for service, call in CALLS.items():
        with pytest.raises(ClientError) as refused:
            call(clients[service])
        error = refused.value.response
        assert (error["Error"]["Code"], error["Error"]["Message"]) == EXPIRED[service], service
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, service
    # The static credentials carry no session token: never refused.
    own_emulator.client("sagemaker").list_models()
    # Fresh credentials work again; the lifetime override lifted, DurationSeconds counts.
    own_emulator.control.set_credential_lifetime(None)
    answer, issued = assumed(own_emulator, DurationSeconds=900)
    assert (answer["Credentials"]["Expiration"] - issued).total_seconds() == pytest.approx(900, abs=1)
    clients_of(own_emulator, answer["Credentials"])["sagemaker"].list_models()
    assert own_emulator.control.call_counts()["calls"]["sts"]["AssumeRole"] == 2
    with pytest.raises(ControlApiError) as bad:
        own_emulator.control.set_credential_lifetime(0)
    assert bad.value.status == 400


def test_a_skewed_clock_shows_in_timestamps_the_date_header_and_expiry(own_emulator):
    sagemaker = own_emulator.client("sagemaker")
    own_emulator.control.set_timings(training_starting=1.0, training_downloading=0.2, training_training=0.2,
                                     training_uploading=0.2)
    sagemaker.create_training_job(**training_request("before-the-step"))
    own_emulator.control.set_clock_skew(-300)
    host_now = datetime.datetime.now(datetime.timezone.utc)
    assert own_emulator.control.clock()["skew_seconds"] == -300

    listing = sagemaker.list_training_jobs()
    assert (host_now - answered(listing)).total_seconds() == pytest.approx(300, abs=2)
    sagemaker.create_training_job(**training_request("after-the-step"))
    created = sagemaker.describe_training_job(TrainingJobName="after-the-step")["CreationTime"]
    assert (host_now - created).total_seconds() == pytest.approx(300, abs=2)
    # A change scheduled before the step keeps its wait: the first job still completes in about 2 s.
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName="before-the-step")["TrainingJobStatus"],
               lambda status: status == "Completed", timeout=5)
    answer, issued = assumed(own_emulator, DurationSeconds=900)
    assert (host_now - issued).total_seconds() == pytest.approx(300, abs=2)
    assert (answer["Credentials"]["Expiration"] - issued).total_seconds() == pytest.approx(900, abs=1)

    own_emulator.control.reset()
    assert own_emulator.control.clock()["skew_seconds"] == 0
    assert abs((datetime.datetime.now(datetime.timezone.utc) - answered(sagemaker.list_models())).total_seconds()) < 2


def test_a_validation_fault_answers_with_the_message_given(own_emulator):
    message = "Could not find model data at s3://missing-bucket/model.tar.gz."
    own_emulator.control.set_faults(kinds=["validation"], operations=["CreateModel"], message=message)
    with pytest.raises(ClientError) as refused:
        own_emulator.client("sagemaker").create_model(
            ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                              "ModelDataUrl": "s3://missing-bucket/model.tar.gz"})
    assert refused.value.response["Error"] == {"Code": "ValidationException", "Message": message}
