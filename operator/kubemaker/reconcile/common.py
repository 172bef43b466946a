"""Small judgements and conversions the planners share."""

from __future__ import annotations

from ..aws.partitions import console_home
from ..conditions import READY, Health, condition
from ..runtime.outcomes import Event


def console_url(region: str, fragment: str) -> str | None:
    """The SageMaker console page, in the region's partition (none where it has no public console)."""
    home = console_home(region, "sagemaker")
    return None if home is None else f"{home}#/{fragment}"


# The states of SageMaker's run-once jobs (tuning, transform) after which nothing changes.
JOB_TERMINAL_STATES = ("Completed", "Failed", "Stopped")


def job_health(noun: str, state: str | None, failure_reason: str | None, progress: str = "") -> Health:
    """Completed is Ready; Failed and Stopped need a new object (Stalled); anything else runs."""
    if state == "Completed":
        return Health.ready("Completed", f"{noun} completed" + (f": {progress}" if progress else ""))
    if state == "Failed":
        return Health.stalled("Failed", f"{noun} failed: {failure_reason or 'no reason given'}")
    if state == "Stopped":
        return Health.stalled("Stopped", f"{noun} was stopped")
    return Health.reconciling(state or "Unknown", f"{noun} {state}" + (f": {progress}" if progress else ""))


def state_change_events(prefix: str, noun: str, before: str | None, after: str | None,
                        failure_reason: str | None) -> list[Event]:
    """One Event when SageMaker's state of the object changed since status last reported it."""
    if not after or after == before:
        return []
    message = f"{noun} is {after}" + (f": {failure_reason}" if after == "Failed" and failure_reason else "")
    kind = "Warning" if after in ("Failed", "Stopped") else "Normal"
    return [Event(kind, f"{prefix}{after}", message)]


def is_ready(obj: dict) -> bool:
    """A referenced object is Ready for its current generation (not Ready left over from an older spec)."""
    status = obj.get("status") or {}
    ready = condition(status.get("conditions"), READY) or {}
    generation = obj.get("metadata", {}).get("generation")
    return ready.get("status") == "True" and status.get("observedGeneration") == generation


def model_in_another_region(ref: str, model: dict, region: str, default_region: str) -> Health | None:
    """SageMaker uses a model only in its own region: a referenced Model object elsewhere can never
    serve this one (CreateEndpointConfig answers "Could not find model", which reads as a wait)."""
    model_region = (model.get("spec") or {}).get("region") or default_region
    if model_region == region:
        return None
    return Health.stalled(
        "ModelInAnotherRegion",
        f"Model {ref} is in region {model_region} and this object in {region}: SageMaker uses a model only "
        f"in its own region; reference a Model in {region}",
    )
