"""Fault injection and call counting: what an operator's retry logic sees."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from kubemaker_emulator.control import ControlApiError


@pytest.fixture(autouse=True)
def no_faults_after(control):
    yield
    control.clear_faults()


def sagemaker_calls(control, operation):
    return control.call_counts()["calls"].get("sagemaker", {}).get(operation, 0)


def test_throttling_reaches_a_caller_without_retries(sagemaker_no_retry, control):
    control.set_faults(kinds=["throttle"], operations=["ListModels"], count=1)
    faults_before = control.call_counts()["faults"].get("throttle", 0)

    with pytest.raises(ClientError) as throttled:
        sagemaker_no_retry.list_models()

    assert throttled.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert control.call_counts()["faults"]["throttle"] == faults_before + 1
    sagemaker_no_retry.list_models()  # count=1: the fault is spent


def test_server_errors_are_retried_by_botocore_standard_mode(sagemaker, control):
    # ListModels: an operation the session's operator, polling this emulator too, never calls.
    before = sagemaker_calls(control, "ListModels")
    control.set_faults(kinds=["5xx"], operations=["ListModels"], count=2)

    answer = sagemaker.list_models()

    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert sagemaker_calls(control, "ListModels") == before + 3
    assert control.call_counts()["faulted_calls"]["sagemaker"]["ListModels"] >= 2


def test_injected_5xx_codes_match_aws(sagemaker_no_retry, control):
    control.set_faults(kinds=["5xx"], operations=["ListPipelines"], count=2)  # the operator never lists pipelines
    codes = set()
    for _ in range(2):
        with pytest.raises(ClientError) as failed:
            sagemaker_no_retry.list_pipelines()
        error = failed.value.response
        codes.add((error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]))
    assert codes == {("InternalFailure", 500), ("ServiceUnavailable", 503)}


def test_latency_and_rate(sagemaker, control):
    control.set_faults(kinds=["latency"], latency_ms=300, operations=["ListPipelines"])
    started = time.monotonic()
    sagemaker.list_pipelines()
    assert time.monotonic() - started >= 0.3

    control.set_faults(rate=0.0, kinds=["throttle"])
    for _ in range(5):
        sagemaker.list_models()


def test_other_operations_and_services_are_untouched(emulator, sagemaker_no_retry, control):
    control.set_faults(kinds=["validation"], operations=["DescribeModel"])
    sagemaker_no_retry.list_models()
    emulator.client("sts").get_caller_identity()
    with pytest.raises(ClientError) as refused:
        sagemaker_no_retry.describe_model(ModelName="anything")
    assert refused.value.response["Error"]["Message"].startswith("Injected fault")


def test_bad_fault_settings_are_refused(control):
    with pytest.raises(ControlApiError) as refused:
        control.set_faults(kinds=["meteor"])
    assert refused.value.status == 400 and "meteor" in refused.value.message
