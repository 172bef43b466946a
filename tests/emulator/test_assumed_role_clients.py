"""The operator's clients of an assumed role (kubemaker.aws.clients) against the emulator's expiring
credentials: one set of refreshing credentials per (region, role), AssumeRole about once per
lifetime, in worker threads, and an expired token is refreshed and retried."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

import pytest

from kubemaker.aws.clients import AwsClients, call
from kubemaker.config import OperatorConfig
from kubemaker_emulator.process import start_emulator

NAMESPACE = "team"
ROLE = "arn:aws:iam::111111111111:role/kubemaker-team"
LIFETIME_SECONDS = 5
# Renewed with a quarter of the lifetime left, as measured by STS's Date header less its 1 s resolution.
RENEWED_AFTER_SECONDS = 0.75 * (LIFETIME_SECONDS - 1)
# One call of each service, among those the operator's clients offer (its pruned service models).
SERVICES = {
    "sagemaker": ("list_endpoints", {}),
    "logs": ("describe_log_streams", {"logGroupName": "/aws/sagemaker/TrainingJobs"}),
    "application-autoscaling": ("describe_scalable_targets", {"ServiceNamespace": "sagemaker"}),
    "s3": ("get_object", {"Bucket": "definitions", "Key": "pipeline.json"}),
}


def what_the_calls_read(emulator) -> None:
    emulator.client("logs").create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    emulator.client("s3").create_bucket(Bucket="definitions")
    emulator.client("s3").put_object(Bucket="definitions", Key="pipeline.json", Body=b"{}")


@pytest.fixture
def own_emulator(tmp_path, monkeypatch):
    with start_emulator(profile="fast", log_path=tmp_path / "emulator.log") as emulator:
        for name, value in emulator.aws_environment().items():
            monkeypatch.setenv(name, value)
        yield emulator


def assume_role_calls(emulator) -> int:
    return emulator.control.call_counts()["calls"].get("sts", {}).get("AssumeRole", 0)


def team_clients(emulator) -> AwsClients:
    return AwsClients(OperatorConfig.model_validate({
        "endpointUrl": emulator.url, "namespacePolicies": {NAMESPACE: {"assumeRoleArn": ROLE}},
    }))


def test_every_service_shares_credentials_that_refresh_once_per_lifetime(own_emulator):
    what_the_calls_read(own_emulator)
    own_emulator.control.set_credential_lifetime(LIFETIME_SECONDS)
    aws = team_clients(own_emulator)
    clients = {service: aws.client(service, NAMESPACE, None) for service in SERVICES}
    assert assume_role_calls(own_emulator) == 0, "making a client must not call STS (it runs on the event loop)"

    async def keep_calling(seconds: float) -> int:
        deadline, made = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            await asyncio.gather(*(call(clients[s], op, **params) for s, (op, params) in SERVICES.items()))
            made += len(SERVICES)
            await asyncio.sleep(0.05)
        return made

    run_seconds = 3 * LIFETIME_SECONDS
    made = asyncio.run(keep_calling(run_seconds))
    assumed = assume_role_calls(own_emulator)
    # About once per lifetime for all four services together, not once per client or per call.
    assert run_seconds / LIFETIME_SECONDS <= assumed <= run_seconds / RENEWED_AFTER_SECONDS + 1, (assumed, made)
    assert made > 20 * assumed
    # No request was refused as expired (each service's refusals would be counted under its code).
    log = own_emulator.log_path.read_text()
    assert "ExpiredToken" not in log


def test_assume_role_runs_in_the_worker_thread_of_a_request(own_emulator):
    aws = team_clients(own_emulator)
    client = aws.client("sagemaker", NAMESPACE, None)
    threads: list[str] = []
    _, credentials = aws._assumed_session("us-east-1", ROLE)
    fetch = credentials._assume_role
    credentials._assume_role = lambda: (threads.append(threading.current_thread().name), fetch())[1]

    async def first_call() -> str:
        await call(client, "list_endpoints")
        return threading.current_thread().name

    loop_thread = asyncio.run(first_call())
    assert threads and all(name.startswith("aws") and name != loop_thread for name in threads)


def test_an_expired_token_is_refreshed_and_the_call_retried(own_emulator):
    """STS's clock jumps ahead of ours after the credentials were issued: by our clock they are
    fresh, by STS's expired. The refusal is transient; the next attempt carries new credentials."""
    own_emulator.control.set_credential_lifetime(60)
    aws = team_clients(own_emulator)
    client = aws.client("sagemaker", NAMESPACE, None)
    asyncio.run(call(client, "list_endpoints"))
    assert assume_role_calls(own_emulator) == 1
    own_emulator.control.set_clock_skew(120)
    time.sleep(1.1)  # past the grace for refusals of requests signed before a refresh

    asyncio.run(call(client, "list_endpoints"))

    calls = own_emulator.control.call_counts()["calls"]
    assert calls["sagemaker"]["ListEndpoints"] == 3  # fine, refused, fine
    assert assume_role_calls(own_emulator) == 2


def test_no_credential_is_logged_with_the_root_logger_at_debug(own_emulator, caplog):
    """As under --verbose: botocore would log the signed headers and AssumeRole's answer."""
    caplog.set_level(logging.DEBUG)
    aws = team_clients(own_emulator)
    asyncio.run(call(aws.client("sagemaker", NAMESPACE, None), "list_endpoints"))
    assert assume_role_calls(own_emulator) == 1
    text = caplog.text
    for marker in ("SecretAccessKey", "SessionToken", "X-Amz-Security-Token", "Authorization", "FQoGZXIvYXdzE",
                   own_emulator.aws_environment()["AWS_SECRET_ACCESS_KEY"]):
        assert marker not in text
    assert not re.search(r"ASIA[0-9A-Z]{16}", text)
