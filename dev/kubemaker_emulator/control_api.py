"""The control API under `/_emulator/`: faults, injected failures, timings, counters, issued
credentials' lifetime, the clock's skew, the tags AWS itself adds, reset.

JSON in, JSON out. 404 names a resource that does not exist, 409 a resource in a state the
control cannot apply to, 400 a malformed request.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable

from kubemaker_emulator.errors import AwsError
from kubemaker_emulator.sagemaker.base import RESERVED_TAG_PREFIX
from kubemaker_emulator.sagemaker.monitoring import violations_message
from kubemaker_emulator.timings import merge_overrides

if TYPE_CHECKING:
    from kubemaker_emulator.app import EmulatorApp

PREFIX = "/_emulator"
DEFAULT_REGION = "us-east-1"
DEFAULT_REASON = "Injected failure from the emulator control API"


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _not_found(kind: str, name: str) -> ControlError:
    return ControlError(404, f"no {kind} named {name!r}")


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class ControlApi:
    def __init__(self, app: "EmulatorApp") -> None:
        self.app = app
        self.routes: list[Route] = []
        for method, pattern, handler in (
            ("GET", "/health", self.health),
            ("GET", "/timings", self.get_timings),
            ("POST", "/timings", self.set_timings),
            ("POST", "/faults", self.set_faults),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/calls", self.call_counts),
            ("DELETE", "/calls", self.reset_call_counts),
            ("POST", "/reset", self.reset),
            ("GET", "/credentials", self.get_credentials),
            ("POST", "/credentials", self.set_credentials),
            ("GET", "/clock", self.get_clock),
            ("POST", "/clock", self.set_clock),
            ("POST", "/training-jobs/(?P<name>[^/]+)/fail", self.fail_training_job),
            ("POST", "/training-jobs/(?P<name>[^/]+)/interrupt-spot", self.interrupt_spot),
            ("POST", "/transform-jobs/(?P<name>[^/]+)/fail", self.fail_transform_job),
            ("POST", "/processing-jobs/(?P<name>[^/]+)/fail", self.fail_processing_job),
            ("POST", "/endpoints/(?P<name>[^/]+)/fail-creation", self.fail_endpoint_creation),
            ("POST", "/endpoints/(?P<name>[^/]+)/fail-next-update", self.fail_next_endpoint_update),
            (
                "POST",
                "/endpoints/(?P<name>[^/]+)/variants/(?P<variant>[^/]+)/instance-count",
                self.set_variant_instance_count,
            ),
            ("POST", "/inference-components/(?P<name>[^/]+)/copy-count", self.set_component_copy_count),
            ("POST", "/inference-components/(?P<name>[^/]+)/fail", self.fail_inference_component),
            ("POST", "/pipelines/(?P<name>[^/]+)/steps/(?P<step>[^/]+)/fail", self.fail_pipeline_step),
            ("DELETE", "/pipelines/(?P<name>[^/]+)/step-failures", self.clear_pipeline_step_failures),
            ("POST", "/monitoring-schedules/(?P<name>[^/]+)/report-violations", self.report_violations),
            ("POST", "/system-tags", self.add_system_tags),
        ):
            self.routes.append((method, re.compile(PREFIX + pattern + "$"), handler))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                raise ControlError(400, "the body must be JSON") from None
            for route_method, pattern, handler in self.routes:
                match = pattern.match(path)
                if match and route_method == method:
                    status, answer = 200, handler(body, **match.groupdict())
                    break
            else:
                status, answer = 404, {"error": f"no control {method} {path}"}
        except ControlError as error:
            status, answer = error.status, {"error": error.message}
        except (ValueError, TypeError) as error:
            status, answer = 400, {"error": str(error)}
        payload = json.dumps(answer).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Error'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    # Helpers ----------------------------------------------------------------------------------------

    def _in_region(self, body: dict[str, Any], action: Callable[[Any, float], Any]) -> Any:
        world = self.app.world
        with world.lock:
            now = world.catch_up()
            return action(world.region(body.get("region", DEFAULT_REGION)), now)

    @staticmethod
    def _apply(action: Callable[[], Any]) -> None:
        try:
            action()
        except ValueError as error:
            raise ControlError(409, str(error)) from None
        except AwsError as error:  # the state change refused as AWS would refuse it
            raise ControlError(409, error.message) from None

    # Handlers ---------------------------------------------------------------------------------------

    def health(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ok", "profile": self.app.profile}

    def get_timings(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"profile": self.app.profile, "timings": self.app.world.timings}

    def set_timings(self, body: dict[str, Any]) -> dict[str, Any]:
        world = self.app.world
        with world.lock:
            world.timings = merge_overrides(world.timings, body)
        return self.get_timings(body)

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        self.app.faults.configure(**body)
        return {"faults": body}

    def clear_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        self.app.faults.clear()
        return {}

    def call_counts(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.app.faults.counts()

    def reset_call_counts(self, body: dict[str, Any]) -> dict[str, Any]:
        self.app.faults.reset_counts()
        return {}

    def reset(self, body: dict[str, Any]) -> dict[str, Any]:
        self.app.reset()
        return {}

    def get_credentials(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"lifetime_seconds": self.app.credentials.lifetime_seconds}

    def set_credentials(self, body: dict[str, Any]) -> dict[str, Any]:
        lifetime = body.get("lifetime_seconds")
        if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0):
            raise ControlError(400, "lifetime_seconds must be a number > 0, or null for DurationSeconds")
        self.app.credentials.lifetime_seconds = lifetime
        return self.get_credentials(body)

    def get_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"skew_seconds": self.app.clock.skew_seconds, "now": self.app.clock.now()}

    def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        skew = body.get("skew_seconds")
        if isinstance(skew, bool) or not isinstance(skew, (int, float)):
            raise ControlError(400, "skew_seconds must be a number")
        self.app.set_clock_skew(float(skew))
        return self.get_clock(body)

    def fail_training_job(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON

        def fail(region: Any, now: float) -> dict[str, Any]:
            job = region.training_jobs.get(name)
            if job is None or job.status != "InProgress":
                if job is not None:
                    raise ControlError(409, f"training job {name} is {job.status}")
                region.world.armed.training_failures[name] = reason
                return {"armed": True}
            self._apply(lambda: job.fail(reason, now))
            return {"armed": False}

        return self._in_region(body, fail)

    def interrupt_spot(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        def interrupt(region: Any, now: float) -> dict[str, Any]:
            job = region.training_jobs.get(name)
            if job is None:
                raise _not_found("training job", name)
            self._apply(lambda: job.interrupt_spot(now))
            return {}

        return self._in_region(body, interrupt)

    def fail_transform_job(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON

        def fail(region: Any, now: float) -> dict[str, Any]:
            job = region.transform_jobs.get(name)
            if job is None:
                region.world.armed.transform_failures[name] = reason
                return {"armed": True}
            self._apply(lambda: job.fail(reason, now))
            return {"armed": False}

        return self._in_region(body, fail)

    def fail_processing_job(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON
        exit_message = body.get("exit_message")

        def fail(region: Any, now: float) -> dict[str, Any]:
            job = region.processing_jobs.get(name)
            if job is None:
                region.world.armed.processing_failures[name] = (reason, exit_message)
                return {"armed": True}
            if job.status not in ("InProgress", "Stopping"):
                raise ControlError(409, f"processing job {name} is {job.status}")
            self._apply(lambda: job.fail(reason, exit_message, now))
            return {"armed": False}

        return self._in_region(body, fail)

    def fail_endpoint_creation(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON

        def fail(region: Any, now: float) -> dict[str, Any]:
            endpoint = region.endpoints.get(name)
            if endpoint is None:
                region.world.armed.endpoint_creation_failures[name] = reason
                return {"armed": True}
            self._apply(lambda: endpoint.fail_creation(reason, now))
            return {"armed": False}

        return self._in_region(body, fail)

    def fail_next_endpoint_update(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON

        def fail(region: Any, now: float) -> dict[str, Any]:
            endpoint = region.endpoints.get(name)
            if endpoint is None:
                region.world.armed.endpoint_update_failures[name] = reason
                return {"armed": True}
            endpoint.fail_next_update(reason, now)
            return {"armed": endpoint.status != "Updating"}

        return self._in_region(body, fail)

    def set_variant_instance_count(self, body: dict[str, Any], name: str, variant: str) -> dict[str, Any]:
        count = body.get("count")
        if not isinstance(count, int) or count < 0:
            raise ControlError(400, "count must be an integer >= 0")

        def scale(region: Any, now: float) -> dict[str, Any]:
            endpoint = region.endpoints.get(name)
            if endpoint is None:
                raise _not_found("endpoint", name)
            self._apply(lambda: endpoint.set_instance_count(variant, count, now))
            return {}

        return self._in_region(body, scale)

    def fail_inference_component(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON

        def fail(region: Any, now: float) -> dict[str, Any]:
            component = region.inference_components.get(name)
            if component is None:
                region.world.armed.inference_component_failures[name] = reason
                return {"armed": True}
            self._apply(lambda: component.fail(reason))
            return {"armed": False}

        return self._in_region(body, fail)

    def set_component_copy_count(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        count = body.get("count")
        if not isinstance(count, int) or count < 0:
            raise ControlError(400, "count must be an integer >= 0")

        def scale(region: Any, now: float) -> dict[str, Any]:
            component = region.inference_components.get(name)
            if component is None:
                raise _not_found("inference component", name)
            self._apply(lambda: component.set_copy_count(count, now))
            return {}

        return self._in_region(body, scale)

    def fail_pipeline_step(self, body: dict[str, Any], name: str, step: str) -> dict[str, Any]:
        reason = body.get("reason") or DEFAULT_REASON

        def fail(region: Any, now: float) -> dict[str, Any]:
            region.world.armed.pipeline_step_failures[(name, step)] = reason
            running = 0
            for execution in region.pipeline_executions.values():
                if execution.pipeline_name == name and execution.will_run(step):
                    running += 1
            return {"running_executions_affected": running}

        return self._in_region(body, fail)

    def clear_pipeline_step_failures(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        def clear(region: Any, now: float) -> dict[str, Any]:
            failures = region.world.armed.pipeline_step_failures
            for key in [key for key in failures if key[0] == name]:
                del failures[key]
            return {}

        return self._in_region(body, clear)

    def report_violations(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        message = body.get("message") or violations_message(body.get("count", 3))
        executions = body.get("executions", 1)
        if isinstance(executions, bool) or not isinstance(executions, int) or executions < 0:
            raise ControlError(400, "executions must be an integer >= 0")

        def arm(region: Any, now: float) -> dict[str, Any]:
            armed = region.world.armed.monitoring_violations
            if executions:
                armed[name] = (message, executions)
            else:
                armed.pop(name, None)
            schedule = region.monitoring_schedules.get(name)
            running = schedule is not None and schedule.last_execution is not None and (
                schedule.last_execution.status == "InProgress")
            return {"running_execution": running}

        return self._in_region(body, arm)

    def add_system_tags(self, body: dict[str, Any]) -> dict[str, Any]:
        arn, tags = body.get("resource_arn"), body.get("tags")
        if not isinstance(arn, str) or not isinstance(tags, list) or not all(
            isinstance(tag, dict) and isinstance(tag.get("Key"), str) and isinstance(tag.get("Value", ""), str)
            for tag in tags
        ):
            raise ControlError(400, "resource_arn must be an ARN and tags a list of {Key, Value}")
        if not all(tag["Key"].lower().startswith(RESERVED_TAG_PREFIX) for tag in tags):
            raise ControlError(400, "system tags are the ones AWS adds: every key must start with aws:")

        def add(region: Any, now: float) -> dict[str, Any]:
            resource = region.tagged.get(arn)
            if resource is None:
                raise _not_found("resource", arn)
            by_key = {tag["Key"]: tag for tag in resource.system_tags}
            by_key.update({tag["Key"]: {"Key": tag["Key"], "Value": tag.get("Value", "")} for tag in tags})
            resource.system_tags = list(by_key.values())
            resource.system_tags_first = bool(body.get("first", False))
            return {"system_tags": len(resource.system_tags)}

        return self._in_region(body, add)
