"""The Model planner: scenario tables over references, revision names and revision clean-up."""

from __future__ import annotations

import pytest

from kubemaker.runtime.outcomes import Plan

from kubemaker.conditions import READY, RECONCILING, STALLED, Health
from kubemaker.api.model import model_fingerprint
from kubemaker.reconcile import model as planner

BASE = "team-churn-0a1b2c3d"


def job(state: str | None, artifacts: str | None = None, secondary: str = "Training", reason: str = "") -> dict:
    status = {"trainingJobStatus": state, "secondaryStatus": secondary, "failureReason": reason}
    if artifacts:
        status["modelArtifacts"] = {"s3ModelArtifacts": artifacts}
    return {"status": status}


@pytest.mark.parametrize(
    "jobs, expected_state, expected_reason, words",
    [
        ({"train": None}, RECONCILING, "WaitingForTrainingJob", "TrainingJob train to be created"),
        ({"train": {"status": {}}}, RECONCILING, "WaitingForTrainingJob", "now Pending"),
        ({"train": job("InProgress")}, RECONCILING, "WaitingForTrainingJob", "InProgress: Training"),
        ({"train": job("Failed", reason="AlgorithmError")}, STALLED, "TrainingJobFailed", "AlgorithmError"),
        ({"train": job("Stopped")}, STALLED, "TrainingJobFailed", "ended Stopped"),
        ({"a": job("Completed", "s3://b/a.tar.gz"), "b": job("InProgress")}, RECONCILING, "WaitingForTrainingJob", "TrainingJob b"),
    ],
)
def test_references_wait_or_stall(jobs, expected_state, expected_reason, words):
    plan = planner.resolve_model_data(jobs)
    assert isinstance(plan, Plan)
    health = plan.health
    assert (health.state, health.reason) == (expected_state, expected_reason)
    assert words in health.message


def test_completed_jobs_give_their_artifacts():
    jobs = {"a": job("Completed", "s3://b/a.tar.gz"), "b": job("Completed", "s3://b/b.tar.gz")}
    assert planner.resolve_model_data(jobs) == {"a": "s3://b/a.tar.gz", "b": "s3://b/b.tar.gz"}


@pytest.mark.parametrize(
    "recorded, expected",
    [
        ([], BASE),
        ([BASE], f"{BASE}-r2"),
        ([f"{BASE}-r2"], f"{BASE}-r3"),
        ([f"{BASE}-r3", f"{BASE}-r9"], f"{BASE}-r10"),
        (["x" * 63], "x" * 60 + "-r2"),
    ],
)
def test_revision_names_never_repeat(recorded, expected):
    base = "x" * 63 if recorded and recorded[0].startswith("x") else BASE
    assert planner.next_revision_name(base, [{"modelName": name} for name in recorded]) == expected


def test_fingerprint_ignores_the_name_only():
    request = {"ModelName": "a", "PrimaryContainer": {"Image": "i:1"}, "ExecutionRoleArn": "r"}
    assert model_fingerprint(request) == model_fingerprint({**request, "ModelName": "b"})
    assert model_fingerprint(request) != model_fingerprint({**request, "PrimaryContainer": {"Image": "i:2"}})


def test_a_reverted_spec_finds_its_revision():
    revisions = [{"modelName": BASE, "fingerprint": "h1"}, {"modelName": f"{BASE}-r2", "fingerprint": "h2"}]
    assert planner.current_revision(revisions, "h1") is revisions[0]
    assert planner.current_revision(revisions, "h3") is None


def revisions(*names: str) -> list[dict]:
    return [{"modelName": name, "modelArn": f"arn:{name}", "fingerprint": name} for name in names]


@pytest.mark.parametrize(
    "names, current, in_use, action, deleted, remaining, state",
    [
        # Only the current revision: Ready, nothing to do.
        ([BASE], BASE, set(), None, None, [BASE], READY),
        # An old revision no config uses goes, one per pass.
        ([BASE, f"{BASE}-r2"], f"{BASE}-r2", set(), "delete_model", BASE, [f"{BASE}-r2"], RECONCILING),
        # An old revision an endpoint config still uses stays; the Model is Ready meanwhile.
        ([BASE, f"{BASE}-r2"], f"{BASE}-r2", {BASE}, None, None, [BASE, f"{BASE}-r2"], READY),
        # A reverted spec: the old revision is current again and moves last; the newer one goes.
        ([BASE, f"{BASE}-r2"], BASE, set(), "delete_model", f"{BASE}-r2", [BASE], RECONCILING),
        ([BASE, f"{BASE}-r2", f"{BASE}-r3"], f"{BASE}-r3", {f"{BASE}-r2"}, "delete_model", BASE,
         [f"{BASE}-r2", f"{BASE}-r3"], RECONCILING),
    ],
)
def test_old_revisions_go_once_unused(names, current, in_use, action, deleted, remaining, state):
    recorded = revisions(*names)
    chosen = next(r for r in recorded if r["modelName"] == current)
    plan = planner.plan_revisions(recorded, chosen, in_use, "us-east-1")
    assert plan.action == action
    assert (plan.request or {}).get("ModelName") == deleted
    assert [r["modelName"] for r in plan.status["revisions"]] == remaining
    assert plan.status["modelName"] == current
    assert plan.health.state == state
    assert plan.status["consoleUrl"].endswith(f"models/{current}")


@pytest.mark.parametrize(
    "observed, desired, matches",
    [
        ({"A": 1, "B": {"C": "x", "D": 2}}, {"B": {"C": "x"}}, True),
        ({"A": 1.0}, {"A": 1}, True),
        ({"A": [{"X": 1, "Y": 2}]}, {"A": [{"X": 1}]}, True),
        ({"A": [{"X": 1}]}, {"A": [{"X": 1}, {"X": 2}]}, False),
        ({"A": "x"}, {"A": "y"}, False),
        ({}, {"A": None}, True),
        ({"A": True}, {"A": 1}, False),
    ],
)
def test_covers(observed, desired, matches):
    assert planner.covers(observed, desired) is matches


def test_an_adopted_model_is_current_only_if_it_matches_the_spec():
    request = {"ModelName": "legacy", "PrimaryContainer": {"Image": "i:1"}, "ExecutionRoleArn": "r", "Tags": [{"Key": "k"}]}
    described = {"ModelName": "legacy", "ModelArn": "arn:legacy", "ExecutionRoleArn": "r",
                 "PrimaryContainer": {"Image": "i:1", "Mode": "SingleModel"}}
    assert planner.adopted_revision(described, request, "h")["fingerprint"] == "h"
    differing = {**described, "PrimaryContainer": {"Image": "i:0"}}
    assert planner.adopted_revision(differing, request, "h")["fingerprint"] == "adopted"
