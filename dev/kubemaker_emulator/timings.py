"""How long each emulated phase lasts, per profile.

`fast` keeps a whole training job at about 3.5 s so tests finish quickly; `demo` is human scale,
so a newcomer watching `kubectl get` sees every state. Any phase can be overridden at run time
through the control API (`set_timings`).
"""

from __future__ import annotations

FAST: dict[str, float] = {
    "training_starting": 0.5,
    "training_downloading": 0.5,
    "training_training": 2.0,
    "training_uploading": 0.5,
    "training_stopping": 0.5,
    "training_interrupted": 0.5,
    "rule_evaluation": 0.3,
    "transform_running": 1.5,
    "transform_stopping": 0.5,
    "processing_running": 1.5,
    "processing_stopping": 0.5,
    "endpoint_creating": 1.0,
    "endpoint_updating": 1.0,
    "endpoint_weights_updating": 0.5,
    "endpoint_deleting": 0.5,
    "inference_component_creating": 0.5,
    "inference_component_updating": 0.5,
    "inference_component_deleting": 0.3,
    "pipeline_step_starting": 0.1,
    "pipeline_step_executing": 0.4,
    "pipeline_stopping": 0.4,
    "monitoring_schedule_pending": 0.5,
    # Executions start this often, whatever the schedule's cron expression says.
    "monitoring_execution_interval": 5.0,
    "monitoring_execution_running": 0.5,
    "model_package_group_creating": 0.2,
    "model_package_pending": 0.2,
    "model_package_in_progress": 0.5,
}

DEMO: dict[str, float] = {
    "training_starting": 15.0,
    "training_downloading": 10.0,
    "training_training": 45.0,
    "training_uploading": 10.0,
    "training_stopping": 10.0,
    "training_interrupted": 20.0,
    "rule_evaluation": 20.0,
    "transform_running": 40.0,
    "transform_stopping": 10.0,
    "processing_running": 40.0,
    "processing_stopping": 10.0,
    "endpoint_creating": 45.0,
    "endpoint_updating": 40.0,
    "endpoint_weights_updating": 20.0,
    "endpoint_deleting": 15.0,
    "inference_component_creating": 20.0,
    "inference_component_updating": 15.0,
    "inference_component_deleting": 10.0,
    "pipeline_step_starting": 3.0,
    "pipeline_step_executing": 12.0,
    "pipeline_stopping": 8.0,
    "monitoring_schedule_pending": 10.0,
    "monitoring_execution_interval": 60.0,
    "monitoring_execution_running": 20.0,
    "model_package_group_creating": 2.0,
    "model_package_pending": 3.0,
    "model_package_in_progress": 10.0,
}

PROFILES: dict[str, dict[str, float]] = {"fast": FAST, "demo": DEMO}


def profile_timings(profile: str) -> dict[str, float]:
    try:
        return dict(PROFILES[profile])
    except KeyError:
        raise ValueError(f"unknown timing profile {profile!r}; choose one of {sorted(PROFILES)}") from None


def merge_overrides(timings: dict[str, float], overrides: dict[str, float]) -> dict[str, float]:
    """Returns timings with overrides applied; unknown phase names are refused, never ignored."""
    unknown = sorted(set(overrides) - set(timings))
    if unknown:
        raise ValueError(f"unknown phases {unknown}; known phases: {sorted(timings)}")
    for phase, seconds in overrides.items():
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"phase {phase} needs a number of seconds >= 0, not {seconds!r}")
    return {**timings, **{phase: float(seconds) for phase, seconds in overrides.items()}}
