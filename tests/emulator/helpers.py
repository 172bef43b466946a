"""Helpers shared by the emulator tests."""

from __future__ import annotations

import time
from typing import Any, Callable

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 15.0, interval: float = 0.05) -> list[Any]:
    """Polls `read` until `done(value)`; returns every distinct value seen, in order."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        if done(value):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s; saw {seen}")
        time.sleep(interval)


def training_request(name: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE_ARN,
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1",
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "validation:rmse", "Regex": "validation-rmse:([0-9.]+)"},
                {"Name": "validation:auc", "Regex": "validation-auc:([0-9.]+)"},
            ],
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"max_depth": "5", "eta": "0.2"},
    }
    request.update(overrides)
    return request


def raw_call(url: str, operation: str, body: bytes | str | dict[str, Any], region: str = "us-east-1") -> tuple[int, dict[str, Any]]:
    """One SageMaker call over HTTP without botocore: (status, the answer's JSON as sent).

    For what botocore would never send (a timestamp as text, NaN) and for answers read exactly as
    they went over the wire. The emulator reads region and service from the credential scope only.
    """
    import json
    import urllib.error
    import urllib.request

    payload = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"SageMaker.{operation}",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20250101/{region}/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
