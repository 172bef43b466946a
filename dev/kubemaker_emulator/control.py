"""Python client of the emulator's control API (`/_emulator/` on the emulator's port)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote


class ControlApiError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class EmulatorControl:
    """Drives the emulator: faults, injected failures, timings and counters.

    Controls that target a named resource take `region` (default us-east-1). Failures asked for a
    resource that does not exist yet are armed and apply when it is created.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                message = str(error.reason)
            raise ControlApiError(error.code, message) from None

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    # Faults -----------------------------------------------------------------------------------------

    def set_faults(
        self,
        rate: float = 1.0,
        kinds: list[str] | None = None,
        operations: list[str] | None = None,
        latency_ms: int = 0,
        count: int | None = None,
        services: list[str] | None = None,
        seed: int | None = None,
        message: str | None = None,
    ) -> None:
        """Fails a share `rate` of calls with one of `kinds` ("throttle", "5xx", "latency", "validation").

        `operations` limits faults to those operation names (default: all); `services` to
        "sagemaker" (default) and/or "application-autoscaling"; `count` stops after that many faults;
        `message` is what a validation fault says (e.g. SageMaker's "Could not find model data at ...").
        """
        self._call(
            "POST",
            "/faults",
            {
                "rate": rate,
                "kinds": kinds or ["throttle"],
                "operations": operations,
                "latency_ms": latency_ms,
                "count": count,
                "services": services,
                "seed": seed,
                "message": message,
            },
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def call_counts(self) -> dict[str, Any]:
        """{"calls": {service: {operation: n}}, "faults": {kind: n}, "faulted_calls": {service: {operation: n}}}.

        Calls include faulted ones; counts run since start, `reset()` or `reset_call_counts()`.
        """
        return self._call("GET", "/calls")

    def reset_call_counts(self) -> None:
        self._call("DELETE", "/calls")

    # Injected failures and outside events ----------------------------------------------------------

    def fail_training_job(self, name: str, reason: str | None = None, region: str | None = None) -> None:
        """Fails a running job now; for a job not created yet, fails it when it reaches Training."""
        self._call("POST", f"/training-jobs/{quote(name)}/fail", _body(reason=reason, region=region))

    def interrupt_spot(self, name: str, region: str | None = None) -> None:
        """Interrupts a running managed spot training job's instances."""
        self._call("POST", f"/training-jobs/{quote(name)}/interrupt-spot", _body(region=region))

    def fail_transform_job(self, name: str, reason: str | None = None, region: str | None = None) -> None:
        """Fails a running transform job now, or one created later when it would complete."""
        self._call("POST", f"/transform-jobs/{quote(name)}/fail", _body(reason=reason, region=region))

    def fail_processing_job(self, name: str, reason: str | None = None, exit_message: str | None = None,
                            region: str | None = None) -> None:
        """Fails a running processing job now, or one created later when it would complete; the
        exit message is what the container wrote (DescribeProcessingJob's ExitMessage)."""
        self._call("POST", f"/processing-jobs/{quote(name)}/fail",
                   _body(reason=reason, exit_message=exit_message, region=region))

    def fail_endpoint_creation(self, name: str, reason: str | None = None, region: str | None = None) -> None:
        """The endpoint (Creating, or created later) ends Failed instead of InService."""
        self._call("POST", f"/endpoints/{quote(name)}/fail-creation", _body(reason=reason, region=region))

    def fail_next_endpoint_update(self, name: str, reason: str | None = None, region: str | None = None) -> None:
        """The update under way, or else the next one, rolls back: InService on the old config with FailureReason."""
        self._call("POST", f"/endpoints/{quote(name)}/fail-next-update", _body(reason=reason, region=region))

    def set_variant_instance_count(self, endpoint: str, variant: str, count: int, region: str | None = None) -> None:
        """What the autoscaler does: the variant's desired count changes and the endpoint goes Updating."""
        self._call(
            "POST",
            f"/endpoints/{quote(endpoint)}/variants/{quote(variant)}/instance-count",
            _body(count=count, region=region),
        )

    def fail_inference_component(self, name: str, reason: str | None = None, region: str | None = None) -> None:
        """The component (Creating or Updating now, or created later) ends Failed with `reason`."""
        self._call("POST", f"/inference-components/{quote(name)}/fail", _body(reason=reason, region=region))

    def set_component_copy_count(self, name: str, count: int, region: str | None = None) -> None:
        """What the autoscaler does to an inference component: its desired copy count changes and
        it goes Updating."""
        self._call("POST", f"/inference-components/{quote(name)}/copy-count", _body(count=count, region=region))

    def fail_pipeline_step(self, pipeline: str, step: str, reason: str | None = None, region: str | None = None) -> None:
        """The step fails in running executions that have not finished it, and in later ones, until cleared."""
        self._call("POST", f"/pipelines/{quote(pipeline)}/steps/{quote(step)}/fail", _body(reason=reason, region=region))

    def clear_pipeline_step_failures(self, pipeline: str, region: str | None = None) -> None:
        self._call("DELETE", f"/pipelines/{quote(pipeline)}/step-failures", _body(region=region))

    def report_violations(self, schedule: str, message: str | None = None, count: int = 3, executions: int = 1,
                          region: str | None = None) -> dict[str, Any]:
        """The monitoring schedule's next `executions` executions to end (the running one first)
        complete with violations: CompletedWithViolations, FailureReason `message`, by default Model
        Monitor's "... completed successfully with `count` violations.". Works before the schedule
        exists; `executions=0` takes it back."""
        return self._call("POST", f"/monitoring-schedules/{quote(schedule)}/report-violations",
                          _body(message=message, count=count, executions=executions, region=region))

    def add_system_tags(
        self, resource_arn: str, tags: list[dict[str, str]], first: bool = False, region: str | None = None
    ) -> int:
        """Tags AWS itself puts on a resource (keys starting with aws:, such as CloudFormation's):
        ListTags lists them after the user's (before them with `first`, so the user's tags can be
        pushed onto a later page), they do not count against the 50-tag limit, and AddTags and
        DeleteTags cannot touch them. Returns how many the resource now has."""
        body = _body(resource_arn=resource_arn, tags=tags, first=first, region=region)
        return self._call("POST", "/system-tags", body)["system_tags"]

    # Timings and state ------------------------------------------------------------------------------

    def timings(self) -> dict[str, float]:
        return self._call("GET", "/timings")["timings"]

    def set_timings(self, **phase_seconds: float) -> dict[str, float]:
        """Overrides phase durations (see `timings()` for the names); applies to phases entered from now on."""
        return self._call("POST", "/timings", phase_seconds)["timings"]

    def reset(self) -> None:
        """Forgets all resources in every service, faults, counters, timing overrides, issued
        credentials, the credential lifetime override and the clock's skew."""
        self._call("POST", "/reset")

    # Credentials and the clock ----------------------------------------------------------------------

    def set_credential_lifetime(self, seconds: float | None) -> None:
        """Credentials AssumeRole issues from now on expire after `seconds` (below AWS's minimum of
        900 if need be), whatever DurationSeconds asks; None: after DurationSeconds again."""
        self._call("POST", "/credentials", {"lifetime_seconds": seconds})

    def clock(self) -> dict[str, float]:
        """{"skew_seconds": ..., "now": the emulator's epoch seconds}."""
        return self._call("GET", "/clock")

    def set_clock_skew(self, seconds: float) -> None:
        """The emulator's clock reads the host's plus `seconds` (negative: behind) for everything it
        reports and compares: SageMaker timestamps, the HTTP Date header, credential expiry. Changes
        already scheduled keep their remaining wait."""
        self._call("POST", "/clock", {"skew_seconds": seconds})


def _body(**members: Any) -> dict[str, Any]:
    return {key: value for key, value in members.items() if value is not None}
