"""Model registry planners: a ModelPackageGroup is created once and then only described; a
ModelPackage is one version per spec (approval status and description change in place), and an
approval SageMaker shows otherwise than the operator last sent was changed outside Kubernetes: it
is reported, never reverted."""

from __future__ import annotations

from typing import Any

from ..api.base import from_wire
from ..api.model_package import ModelPackageGroupStatus, ModelPackageStatus
from ..api.registry import dump_status
from ..conditions import Health
from ..runtime.outcomes import Event, Plan, stalled, update_plan, wait
from .common import console_url

GROUP_FAILURES = ("Failed", "DeleteFailed")
JOB_FAILURES = ("Failed", "Stopped")
JOB_STATE_FIELDS = {"TrainingJob": "trainingJobStatus", "ProcessingJob": "processingJobStatus"}
OutputLocation = tuple[str, str, str | None]  # (kind, name, ProcessingJob output name)


def resolve_outputs(jobs: dict[OutputLocation, dict | None]) -> dict[OutputLocation, str] | Plan:
    """The S3 URI of each job output a metrics report is in (location -> the job object, None when
    absent), or a plan to wait for a job that has not completed, or to stall on one that never will
    or on an output it does not have. A TrainingJob's output is where it put its model artifacts."""
    uris: dict[OutputLocation, str] = {}
    for location, job in sorted(jobs.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")):
        kind, name, output = location
        if job is None:
            return wait(f"WaitingFor{kind}", f"waiting for {kind} {name} to be created")
        status = job.get("status") or {}
        state = status.get(JOB_STATE_FIELDS[kind])
        if state in JOB_FAILURES:
            return stalled(Health.stalled(f"{kind}Failed", f"{kind} {name} ended {state} "
                                          f"({status.get('failureReason') or state}); its metrics will never exist"))
        if state != "Completed":
            return wait(f"WaitingFor{kind}", f"waiting for {kind} {name} to complete (now {state or 'Pending'})")
        if kind == "TrainingJob":
            artifacts = (status.get("modelArtifacts") or {}).get("s3ModelArtifacts")
            if not artifacts:
                return wait("WaitingForTrainingJob", f"waiting for TrainingJob {name}'s model artifacts")
            uris[location] = artifacts.rsplit("/", 1)[0]
            continue
        found = [o.get("s3Uri") for o in status.get("processingOutputs") or [] if o.get("outputName") == output]
        if not found or not found[0]:
            return stalled(Health.stalled("OutputNotFound", f"ProcessingJob {name} has no S3 output named {output}"))
        uris[location] = found[0]
    return uris


def group_status(description: dict, region: str) -> dict[str, Any]:
    status = ModelPackageGroupStatus.model_validate(from_wire(ModelPackageGroupStatus, description))
    status.consoleUrl = console_url(region, f"model-registry/{description['ModelPackageGroupName']}")
    return {**dump_status(status), "createPending": None}


def plan_group(description: dict, region: str) -> Plan:
    """The group exists and is ours: Ready once SageMaker completed it."""
    status = group_status(description, region)
    state = description.get("ModelPackageGroupStatus")
    name = description["ModelPackageGroupName"]
    if state == "Completed":
        # A group deleted outside the operator shows at the next resync.
        return Plan(health=Health.ready("Completed", f"model package group {name} is ready"), status=status,
                    look_again="resync")
    if state in GROUP_FAILURES:
        return stalled(Health.stalled(state, f"model package group {name} is {state}"), status)
    return Plan(health=Health.reconciling(state or "Pending", f"model package group {name} is {state}"),
                status=status, look_again="poll")


def answered_create(status: dict, versions: list[dict], token: str) -> str | None:
    """The ARN of the version a create with this token answered (status records it before the pass
    looks again), when no recorded version has it yet."""
    arn = status.get("modelPackageArn")
    if (status.get("createPending") or {}).get("name") == token and arn \
            and arn not in {version["modelPackageArn"] for version in versions}:
        return arn
    return None


def current_version(versions: list[dict], digest: str) -> dict | None:
    """The newest version this object registered from this spec (approval aside), if any."""
    return next((version for version in reversed(versions) if version.get("fingerprint") == digest), None)


def desired_approval(spec_status: str | None, spec_description: str | None) -> dict[str, str]:
    """The in-place members the spec manages: a member it leaves out is left to other tools."""
    desired = {"ModelApprovalStatus": spec_status, "ApprovalDescription": spec_description}
    return {member: value for member, value in desired.items() if value is not None}


APPLIED_FIELDS = {"ModelApprovalStatus": "modelApprovalStatus", "ApprovalDescription": "approvalDescription"}


def version_status(description: dict, versions: list[dict], applied: dict[str, Any], region: str) -> dict[str, Any]:
    status = ModelPackageStatus.model_validate(from_wire(ModelPackageStatus, description))
    group, number = description.get("ModelPackageGroupName"), description.get("ModelPackageVersion")
    status.consoleUrl = console_url(region, f"model-registry/{group}/versions/{number}")
    return {**dump_status(status), "appliedApproval": applied, "versions": versions, "createPending": None}


def plan_version(description: dict, desired: dict[str, str], applied: dict[str, Any], reported: str | None,
                 versions: list[dict], region: str) -> Plan:
    """The version in use exists. Send what the spec changed since it was last sent (and SageMaker
    does not show already); report an approval changed elsewhere; Ready once SageMaker's
    ModelPackageStatus is Completed, whatever the approval.

    `applied` is the approval last sent (lowerCamelCase, as status keeps it), `reported` the approval
    status last reported."""
    sent = {member: applied.get(field) for member, field in APPLIED_FIELDS.items()}
    changed = {member: value for member, value in desired.items() if value != sent.get(member)}
    now_applied = {**applied, **{APPLIED_FIELDS[member]: value for member, value in changed.items()}}
    status = version_status(description, versions, now_applied, region)
    to_send = {member: value for member, value in changed.items() if description.get(member) != value}
    if to_send:
        return update_plan("update_model_package", sorted(to_send), status,
                           {"ModelPackageArn": description["ModelPackageArn"], **to_send})
    events = []
    observed = description.get("ModelApprovalStatus")
    if reported is not None and observed != reported and observed != now_applied.get("modelApprovalStatus"):
        events.append(Event("Normal", "ApprovalChangedOutside",
                            f"version {description.get('ModelPackageVersion')} is now {observed} (was {reported}): "
                            "changed outside Kubernetes; reported, not reverted"))
    number = description.get("ModelPackageVersion")
    state = description.get("ModelPackageStatus")
    if state == "Completed":
        return Plan(health=Health.ready("Completed", f"version {number} is Completed ({observed})"),
                    status=status, events=events)
    if state == "Failed":
        details = description.get("ModelPackageStatusDetails") or {}
        failures = [f"{item.get('Name')}: {item.get('FailureReason') or item.get('Status')}"
                    for item in (details.get("ValidationStatuses") or []) + (details.get("ImageScanStatuses") or [])]
        message = f"version {number} Failed" + (f" ({'; '.join(failures)})" if failures else "")
        plan = stalled(Health.stalled("Failed", message), status)
        plan.events = events + plan.events
        return plan
    return Plan(health=Health.reconciling(state or "Pending", f"version {number} is {state}"), status=status,
                events=events)
