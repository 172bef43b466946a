"""The emulator's WSGI application: one port for SageMaker, the other AWS services and the controls.

Requests are routed as follows:
- `/_emulator/...`: the control API (faults, failures, timings, counters, credentials, clock); no
  AWS operation has a path, so these can never be mistaken for one.
- A request signed with a session token AssumeRole issued here that has expired: refused as AWS
  refuses it, whatever the service. STS AssumeRole itself: `kubemaker_emulator.sts`.
- SageMaker operations (`X-Amz-Target: SageMaker.<Operation>`) that the emulator implements: the
  state model in `kubemaker_emulator.sagemaker`, after validation against botocore's service model.
- Application Auto Scaling's operations on SageMaker resources: `kubemaker_emulator.autoscaling`,
  after validation against its own service model.
- Everything else (CloudWatch Logs, STS, S3, and SageMaker operations the emulator does not model):
  moto's own server application.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from moto.logs.models import logs_backends
from moto.moto_api._internal import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import s3_backends

from kubemaker_emulator import javaregex
from kubemaker_emulator.autoscaling import AUTOSCALING_OPERATIONS
from kubemaker_emulator.control_api import ControlApi
from kubemaker_emulator.errors import AwsError, serialization_error
from kubemaker_emulator.faults import Fault, FaultInjector
from kubemaker_emulator.partitions import partition_of
from kubemaker_emulator.sagemaker import OPERATIONS, defaults
from kubemaker_emulator.sagemaker.base import ACCOUNT_ID, World
from kubemaker_emulator.sagemaker.defaults import fill_defaults
from kubemaker_emulator.servicemodel import RequestValidator, shape_output
from kubemaker_emulator.sts import CredentialAuthority, EmulatorClock, expired_token_error, parse_query
from kubemaker_emulator.timings import profile_timings

DEFAULT_REGION = "us-east-1"
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
StartResponse = Callable[..., Any]


class MotoServices:
    """moto's backends in this process: training job logs written here are read back through the logs API."""

    def create_stream(self, region: str, group: str, stream: str) -> None:
        backend = logs_backends[ACCOUNT_ID][region]
        if group not in backend.groups:
            backend.create_log_group(group, {})
        backend.create_log_stream(group, stream)

    def put(self, region: str, group: str, stream: str, events: list[tuple[float, str]]) -> None:
        backend = logs_backends[ACCOUNT_ID][region]
        backend.put_log_events(group, stream, [{"timestamp": int(t * 1000), "message": m} for t, m in events])

    def read_object(self, region: str, bucket: str, key: str) -> bytes | None:
        # moto keeps S3 per partition, as AWS does.
        stored = s3_backends[ACCOUNT_ID][partition_of(region)].get_object(bucket, key)
        return None if stored is None else stored.value


def _scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(region, service) from the SigV4 credential scope."""
    match = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return DEFAULT_REGION, ""
    return match.group(1), match.group(2)


def _read_body(environ: dict[str, Any]) -> bytes:
    """Reads the body and puts it back, so moto can still read it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _operation_name(environ: dict[str, Any], service: str) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        actions = parse_qs(_read_body(environ).decode(errors="replace")).get("Action")
        if actions:
            return actions[0]
    return f"{environ.get('REQUEST_METHOD', 'GET')} {service or 'unsigned'}"


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which are not JSON; AWS's parser refuses them.
    raise ValueError(f"{name} is not JSON")


def _json_response(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        f"{status} {'OK' if status == 200 else 'Error'}",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [payload]


def _error_response(start_response: StartResponse, error: AwsError) -> list[bytes]:
    return _json_response(start_response, error.status, {"__type": error.code, "message": error.message})


def _text_response(start_response: StartResponse, status: int, content_type: str, body: str) -> list[bytes]:
    payload = body.encode()
    start_response(
        f"{status} {'OK' if status == 200 else 'Error'}",
        [("Content-Type", content_type), ("Content-Length", str(len(payload))), ("x-amzn-RequestId", str(uuid.uuid4()))],
    )
    return [payload]


def _fault_error(fault: Fault) -> AwsError:
    if fault.kind == "throttle":
        return AwsError("ThrottlingException", "Rate exceeded")
    if fault.kind == "validation":
        return AwsError("ValidationException", fault.message or "Injected fault: the request was rejected by the emulator.")
    if fault.status == 500:
        return AwsError("InternalFailure", "An internal error occurred. Try again.", 500)
    return AwsError("ServiceUnavailable", "Service is unavailable. Try again later.", 503)


class EmulatorApp:
    def __init__(self, profile: str = "fast") -> None:
        self.profile = profile
        self.clock = EmulatorClock()
        self.world = World(profile_timings(profile), MotoServices(), clock=self.clock.now)
        self.credentials = CredentialAuthority(self.clock)
        self.validator = RequestValidator("sagemaker")
        self.autoscaling_validator = RequestValidator("application-autoscaling")
        self.faults = FaultInjector()
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.control = ControlApi(self)
        # Once, before serving: built by the first requests instead, it made a burst's first
        # creates take up to a second each (every concurrent request built it again).
        javaregex.warm_up()
        defaults.warm_up()

    def reset(self) -> None:
        """Forgets every resource in every service, faults, counters, timing overrides, issued
        credentials and their lifetime override, and the clock's skew."""
        with self.world.lock:
            self.world.reset(profile_timings(self.profile))
            moto_api_backend.reset()
            self.clock.skew_seconds = 0.0
        self.credentials.reset()
        self.faults.clear()
        self.faults.reset_counts()

    def set_clock_skew(self, seconds: float) -> None:
        """Steps the emulator's clock to the host's plus `seconds`; changes already scheduled keep
        their remaining wait."""
        with self.world.lock:
            self.world.catch_up()
            self.world.scheduler.shift(seconds - self.clock.skew_seconds)
            self.clock.skew_seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self.control(environ, start_response)
        region, service = _scope(environ)
        operation = _operation_name(environ, service)
        outcome: list[str] = []

        def recording_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            outcome.append(status.split(" ", 1)[0])
            return start_response(status, headers, *args)

        try:
            fault = self.faults.on_call(service, operation)
            if fault is not None:
                outcome.append(f"fault:{fault.kind}")
                if fault.kind == "latency":
                    time.sleep(fault.latency_ms / 1000)
                else:
                    return _error_response(recording_start_response, _fault_error(fault))
            if self.credentials.expired(environ.get("HTTP_X_AMZ_SECURITY_TOKEN")):
                content_type, body, code = expired_token_error(service)
                outcome.append(code)
                return _text_response(recording_start_response, 400, content_type, body)
            if service == "sts" and operation == "AssumeRole":
                status, body = self.credentials.assume_role(parse_query(_read_body(environ)))
                return _text_response(recording_start_response, status, "text/xml", body)
            if service == "sagemaker" and operation in OPERATIONS and environ.get("HTTP_X_AMZ_TARGET", "").startswith("SageMaker."):
                return self._sagemaker(environ, region, operation, recording_start_response)
            if service == "application-autoscaling" and operation in AUTOSCALING_OPERATIONS:
                return self._modelled(environ, region, operation, recording_start_response,
                                      self.autoscaling_validator, AUTOSCALING_OPERATIONS)
            if service == "logs":
                # Our training jobs write into the logs backend: bring it up to date, and keep
                # those writes out while moto reads.
                with self.world.lock:
                    self.world.catch_up()
                    return list(self.moto(environ, recording_start_response))
            return self.moto(environ, recording_start_response)
        finally:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{service or '-'} {operation} {' '.join(outcome)} {elapsed:.1f}ms", file=sys.stderr, flush=True)

    def _sagemaker(self, environ: dict[str, Any], region: str, operation: str, start_response: StartResponse) -> list[bytes]:
        return self._modelled(environ, region, operation, start_response, self.validator, OPERATIONS)

    def _modelled(self, environ: dict[str, Any], region: str, operation: str, start_response: StartResponse,
                  validator: RequestValidator, operations: dict[str, Any]) -> list[bytes]:
        """An operation of a service the emulator models itself (SageMaker, Application Auto Scaling),
        validated against that service's own model; the state is the one World, under its lock."""
        model = validator.operation(operation)
        try:
            body = _read_body(environ)
            try:
                params = json.loads(body or b"{}", parse_constant=_refuse_constant)
            except ValueError:
                raise serialization_error("The request body is not valid JSON.") from None
            validator.validate(model, params)
            with self.world.lock:
                self.world.catch_up()
                answer = operations[operation](self.world.region(region), params)
                if operations is OPERATIONS:  # the defaults table is SageMaker's
                    answer = fill_defaults(model.output_shape, answer)
                shaped = shape_output(model.output_shape, answer)
        except AwsError as error:
            return _error_response(start_response, error)
        return _json_response(start_response, 200, shaped)
