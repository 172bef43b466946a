"""HyperParameterTuningJob planner: resolve warm start parents, create once, follow the search and
report its counters and best training job."""

from __future__ import annotations

from typing import Any

from ..api.base import from_wire
from ..api.registry import dump_status
from ..api.tuning_job import HyperParameterTuningJobSpec, HyperParameterTuningJobStatus
from ..conditions import Health
from ..runtime.outcomes import Event, Plan, stalled, wait
from .common import JOB_TERMINAL_STATES, console_url, job_health, state_change_events

NOUN = "tuning job"
# Parent states SageMaker accepts for a warm start.
WARM_START_PARENT_STATES = ("Completed", "Stopped")


def named_parents(spec: HyperParameterTuningJobSpec) -> list[str]:
    """Warm start parents given by SageMaker name rather than as a reference to an object here:
    the namespace must be allowed to use each."""
    parents = spec.warmStartConfig.parentHyperParameterTuningJobs if spec.warmStartConfig else []
    return [parent.hyperParameterTuningJobName for parent in parents
            if not parent.ref and parent.hyperParameterTuningJobName]


def resolve_parents(parents: dict[str, dict | None]) -> dict[str, str] | Plan:
    """SageMaker names of the parent HyperParameterTuningJob objects (by object name) once every
    one has finished; else a plan to wait for them, or to stall on a failed one."""
    names: dict[str, str] = {}
    waiting: list[str] = []
    for ref, parent in sorted(parents.items()):
        status = (parent or {}).get("status") or {}
        state = status.get("hyperParameterTuningJobStatus")
        if parent is not None and state == "Failed":
            return stalled(Health.stalled("ParentFailed", f"warm start parent HyperParameterTuningJob {ref} failed; "
                                          "a failed tuning job cannot be a warm start parent"))
        if parent is None or state not in WARM_START_PARENT_STATES or not status.get("hyperParameterTuningJobName"):
            waiting.append(ref)
        else:
            names[ref] = status["hyperParameterTuningJobName"]
    if waiting:
        return wait("WaitingForParents",
                    "waiting for warm start parent HyperParameterTuningJob " + ", ".join(waiting) + " to finish")
    return names


def status_from_description(description: dict, region: str) -> dict[str, Any]:
    status = HyperParameterTuningJobStatus.model_validate(from_wire(HyperParameterTuningJobStatus, description))
    status.consoleUrl = console_url(region, f"hyper-tuning-jobs/{description['HyperParameterTuningJobName']}")
    return {**dump_status(status), "createPending": None}


def best_of(description: dict) -> tuple[str, str] | None:
    """(training job, "metric=value") of the best training job so far."""
    best = description.get("BestTrainingJob") or {}
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric")
    if not best or not metric:
        return None
    return best["TrainingJobName"], f"{metric['MetricName']}={metric['Value']:g}"


def progress(description: dict) -> str:
    counters = description.get("TrainingJobStatusCounters") or {}
    limits = (description.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits") or {}
    failed = (counters.get("RetryableError") or 0) + (counters.get("NonRetryableError") or 0)
    text = f"{counters.get('Completed', 0)} completed, {counters.get('InProgress', 0)} in progress"
    if failed:
        text += f", {failed} failed"
    if counters.get("Stopped"):
        text += f", {counters['Stopped']} stopped"
    if limits.get("MaxNumberOfTrainingJobs"):
        text += f" of {limits['MaxNumberOfTrainingJobs']}"
    if best := best_of(description):
        text += f"; best {best[0]} ({best[1]})"
    return text


def plan_observed(status: dict, description: dict, region: str) -> Plan:
    """The tuning job exists and is ours: report its progress until it ends."""
    state = description.get("HyperParameterTuningJobStatus")
    events = state_change_events("Tuning", NOUN, status.get("hyperParameterTuningJobStatus"), state,
                                 description.get("FailureReason"))
    best = best_of(description)
    if best and best[0] != (status.get("bestTrainingJob") or {}).get("trainingJobName"):
        events.insert(0, Event("Normal", "NewBestTrainingJob", f"best training job so far: {best[0]} ({best[1]})"))
    return Plan(
        health=job_health(NOUN, state, description.get("FailureReason"), progress(description)),
        status=status_from_description(description, region),
        events=events,
        track=state not in JOB_TERMINAL_STATES,
    )
