"""Model planner: one SageMaker model per spec revision; old revisions go once no endpoint config uses them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..conditions import Health, is_true
from ..names import revision_name
from ..runtime.outcomes import Event, Plan, stalled, wait
from .common import console_url

# A failed or stopped TrainingJob never produces artifacts: only a spec change can help.
FINAL_JOB_FAILURES = ("Failed", "Stopped")


def resolve_model_data(jobs: dict[str, dict | None]) -> dict[str, str] | Plan:
    """The model artifacts of each referenced TrainingJob (name -> object, None when absent), or a
    plan to wait while one is missing or running, or to stall on a failed one."""
    urls: dict[str, str] = {}
    for name, job in sorted(jobs.items()):
        if job is None:
            return wait("WaitingForTrainingJob", f"waiting for TrainingJob {name} to be created")
        status = job.get("status") or {}
        state = status.get("trainingJobStatus")
        if state in FINAL_JOB_FAILURES:
            reason = status.get("failureReason") or state
            return stalled(Health.stalled(
                "TrainingJobFailed",
                f"TrainingJob {name} ended {state} ({reason}); point modelDataFrom at a job that completes",
            ))
        artifacts = (status.get("modelArtifacts") or {}).get("s3ModelArtifacts")
        if state != "Completed" or not artifacts:
            secondary = status.get("secondaryStatus") or "not started"
            return wait(
                "WaitingForTrainingJob",
                f"waiting for TrainingJob {name} to complete (now {state or 'Pending'}: {secondary})",
            )
        urls[name] = artifacts
    return urls


@dataclass(frozen=True)
class PackageSource:
    """The registry version a Model is made from; `group_name` is set when it is the latest
    approved version of that SageMaker group (modelPackageGroupRef), None for a fixed ModelPackage."""

    arn: str
    version: int | None
    group_name: str | None = None


def fixed_package(name: str, package: dict | None) -> PackageSource | Plan:
    """modelPackageRef: the version the ModelPackage object registered, once SageMaker completed and
    approved it (SageMaker deploys only approved versions)."""
    status = (package or {}).get("status") or {}
    arn, number = status.get("modelPackageArn"), status.get("modelPackageVersion")
    if package is None or not arn or status.get("modelPackageStatus") != "Completed":
        now = status.get("modelPackageStatus") or "Pending"
        state = "to be created" if package is None else f"to complete (now {now})"
        return wait("WaitingForModelPackage", f"waiting for ModelPackage {name} {state}")
    approval = status.get("modelApprovalStatus")
    if approval != "Approved":
        return wait("WaitingForApproval", f"ModelPackage {name} (version {number}) is {approval}: SageMaker deploys "
                    "only approved versions")
    return PackageSource(arn, number)


def group_name(name: str, group: dict | None) -> str | Plan:
    """modelPackageGroupRef: the SageMaker group of the ModelPackageGroup object, once it is Ready."""
    status = (group or {}).get("status") or {}
    if group is None or not status.get("modelPackageGroupName") or not is_true(status.get("conditions"), "Ready"):
        state = "to be created" if group is None else "to be ready"
        return wait("WaitingForModelPackageGroup", f"waiting for ModelPackageGroup {name} {state}")
    return status["modelPackageGroupName"]


def latest_approved(name: str, group: str, arn: str | None, number: int | None,
                    state: str | None = "Completed") -> PackageSource | Plan:
    """LatestApproved: the group's approved version with the highest number, once SageMaker completed
    it (approval may come first), or wait for one."""
    if arn is None:
        return wait("NoApprovedVersion", f"no version in ModelPackageGroup {name} (SageMaker group {group}) is "
                    "approved yet; approving one (kubectl patch, the console or any other tool) creates the model")
    if state != "Completed":
        return wait("WaitingForModelPackage", f"version {number} of ModelPackageGroup {name} is approved and "
                    f"{state or 'Pending'}: SageMaker deploys it once Completed")
    return PackageSource(arn, number, group)


def model_packages(create_request: dict[str, Any]) -> list[str]:
    """The model packages (names or ARNs) a CreateModel request's containers use by name."""
    containers = create_request.get("Containers") or []
    if "PrimaryContainer" in create_request:
        containers = [create_request["PrimaryContainer"]]
    return [container["ModelPackageName"] for container in containers if container.get("ModelPackageName")]


def revision_number(base: str, model_name: str) -> int:
    """The inverse of names.revision_name for names this operator made."""
    if model_name == revision_name(base, 1):
        return 1
    found = re.search(r"-r(\d+)$", model_name)
    return int(found.group(1)) if found else 1


def next_revision_name(base: str, revisions: list[dict]) -> str:
    """The first revision takes the base name; later ones a higher `-r<n>` suffix than any recorded."""
    if not revisions:
        return revision_name(base, 1)
    return revision_name(base, max(revision_number(base, r["modelName"]) for r in revisions) + 1)


def current_revision(revisions: list[dict], digest: str) -> dict | None:
    """The recorded revision made from this spec, if any (a reverted spec finds its old revision)."""
    return next((revision for revision in reversed(revisions) if revision.get("fingerprint") == digest), None)


def model_status(revisions: list[dict], current: dict, region: str) -> dict[str, Any]:
    return {
        "modelName": current["modelName"],
        "modelArn": current.get("modelArn"),
        "modelPackageArn": current.get("modelPackageArn"),
        "modelPackageVersion": current.get("modelPackageVersion"),
        "revisions": revisions,
        "consoleUrl": console_url(region, f"models/{current['modelName']}"),
        "createPending": None,
    }


def plan_revisions(revisions: list[dict], current: dict, in_use: set[str], region: str) -> Plan:
    """The current revision exists: delete one old revision no endpoint config uses, or report Ready.

    `revisions` lists every recorded revision; the current one is moved last, so status always
    shows the revision endpoints should run as `modelName` and as the newest entry."""
    ordered = [r for r in revisions if r is not current] + [current]
    unused = [r for r in ordered[:-1] if r["modelName"] not in in_use]
    if unused:
        doomed = unused[0]
        remaining = [r for r in ordered if r is not doomed]
        return Plan(
            health=Health.reconciling("DeletingRevision", f"deleting unused model revision {doomed['modelName']}"),
            status=model_status(remaining, current, region),
            action="delete_model",
            request={"ModelName": doomed["modelName"]},
            events=[Event("Normal", "RevisionDeleted",
                          f"deleted model revision {doomed['modelName']}: no endpoint config uses it")],
            requeue_after=0,
        )
    kept = [r["modelName"] for r in ordered[:-1]]
    message = f"SageMaker model {current['modelName']} created"
    if kept:
        message += f"; older revisions kept while endpoint configs use them: {', '.join(kept)}"
    return Plan(health=Health.ready("Created", message), status=model_status(ordered, current, region))


def covers(observed: Any, desired: Any) -> bool:
    """Whether `observed` (a Describe* answer) has every member `desired` (a request) sets, with the
    same values; members SageMaker adds with defaults are ignored."""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(covers(observed.get(key), value) for key, value in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(observed, list) and len(observed) == len(desired)
            and all(covers(have, want) for have, want in zip(observed, desired, strict=True))
        )
    if isinstance(desired, bool) or isinstance(observed, bool):
        return observed is desired
    if isinstance(desired, (int, float)) and isinstance(observed, (int, float)):
        return float(observed) == float(desired)  # SageMaker answers 90 for a weight of 90.0
    return observed == desired


def adopted_revision(description: dict, create_request: dict, digest: str) -> dict[str, Any]:
    """The revision record of an adopted model: the current revision when it is what the spec asks
    for, else a stand-in that a new revision replaces (and deletes once unused)."""
    wanted = {key: value for key, value in create_request.items() if key not in ("ModelName", "Tags")}
    return {
        "modelName": description["ModelName"],
        "modelArn": description["ModelArn"],
        "fingerprint": digest if covers(description, wanted) else "adopted",
    }
