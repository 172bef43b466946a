"""The model registry: what the planners in reconcile.model_package need observed, and the create
and cleanup plans of ModelPackageGroup and ModelPackage.

SageMaker refuses tags on a version in a group (it carries the group's), so a version is ours
because status recorded its ARN when we registered it; the create is made idempotent by a client
token derived from the object's uid, so a create repeated after a crash returns that same version."""

from __future__ import annotations

from ..api.model_package import (
    ModelPackageGroupSpec,
    ModelPackageSpec,
    build_create_model_package_group_request,
    build_create_model_package_request,
    client_token,
    metrics_location,
    metrics_references,
    referenced_training_jobs,
    version_fingerprint,
)
from ..api.registry import parse_spec_as
from ..aws.clients import call
from ..conditions import Health, now_iso
from ..reconcile import model as model_planner
from ..reconcile import model_package as planner
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, Stall, Transient, create_pending, wait
from ..runtime.protocols import (
    MODEL_PACKAGE_GROUP,
    adopt_or_refuse,
    describe_or_none,
    is_owned,
    require_allowed_roles,
    require_referable,
)
from ..runtime.registry_tracker import VersionTracker


async def describe_group(client, name: str) -> dict | None:
    return await describe_or_none(client, "describe_model_package_group", ModelPackageGroupName=name)


def registered_in(package: dict, group_object: str, group_name: str | None) -> bool:
    """Whether a ModelPackage object registers its versions in this group (by reference or by name)."""
    spec = package.get("spec") or {}
    return ((spec.get("modelPackageGroupRef") or {}).get("name") == group_object
            or (group_name is not None and spec.get("modelPackageGroupName") == group_name)
            or (group_name is not None and (package.get("status") or {}).get("modelPackageGroupName") == group_name))


class ModelPackageGroupController:
    kind = "ModelPackageGroup"
    plural = "modelpackagegroups"
    tracker = None  # nothing changes a group but its creation: a resync notices one deleted outside

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(ModelPackageGroupSpec, ctx.spec)
        name = ctx.sagemaker_name
        client = ctx.client()
        description = await describe_group(client, name)
        if description is None:
            if ctx.status.get("modelPackageGroupArn"):
                raise Stall("NotFound", f"SageMaker model package group {name} was deleted outside the operator; "
                            "re-create this ModelPackageGroup object to create it again")
            if name in ctx.made:
                raise Transient(f"model package group {name} not visible yet after create")
            return Plan(
                health=Health.reconciling("Creating", f"creating SageMaker model package group {name}"),
                action="create_model_package_group", creates=MODEL_PACKAGE_GROUP, again=True,
                request=build_create_model_package_group_request(spec, name, ctx.owner.tag_map()),
                before=create_pending(name, modelPackageGroupName=name),
                events=[Event("Normal", "Created", f"created SageMaker model package group {name}")],
            )
        if not ctx.status.get("modelPackageGroupArn") and name not in ctx.made:
            # Ours after a crash mid-create, or someone else's.
            await adopt_or_refuse(ctx, client, description["ModelPackageGroupArn"], "model package group", name,
                                  adopt=False)
        return planner.plan_group(description, ctx.region)

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        name = ctx.status.get("modelPackageGroupName")
        if not name or (not ctx.status.get("modelPackageGroupArn") and not ctx.status.get("createPending")):
            return Cleanup()
        members = sorted(p["metadata"]["name"] for p in ctx.runtime.namespace_objects("ModelPackage", ctx.namespace)
                         if registered_in(p, ctx.name, name))
        if members:
            return Cleanup(waiting=f"ModelPackages {', '.join(members)} are deleted first")
        client = ctx.client()
        description = await describe_group(client, name)
        if description is None or not await is_owned(ctx, client, description["ModelPackageGroupArn"]):
            return Cleanup()
        left = (await call(client, "list_model_packages", ModelPackageGroupName=name, MaxResults=1)
                ).get("ModelPackageSummaryList")
        if left:
            # SageMaker deletes only an empty group: a retained version, or one registered by another tool.
            return Cleanup(waiting=f"the group still holds versions no ModelPackage here deletes (e.g. "
                           f"{left[0]['ModelPackageArn']}); delete them, or remove the finalizer to keep the group")
        return Cleanup([Call("delete_model_package_group", {"ModelPackageGroupName": name})],
                       events=[Event("Normal", "Deleted", f"deleted SageMaker model package group {name}")])


class ModelPackageController:
    kind = "ModelPackage"
    plural = "modelpackages"

    def __init__(self, tracker: VersionTracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(ModelPackageSpec, ctx.spec)
        client = ctx.client()
        group = await self.group_name(ctx, client, spec)
        if isinstance(group, Plan):
            return group
        resolved = model_planner.resolve_model_data(
            {name: ctx.referenced("TrainingJob", name) for name in referenced_training_jobs(spec)})
        if isinstance(resolved, Plan):
            return resolved
        outputs = planner.resolve_outputs({location: ctx.referenced(location[0], location[1])
                                           for location in map(metrics_location, metrics_references(spec))})
        if isinstance(outputs, Plan):
            return outputs
        request = build_create_model_package_request(spec, group, resolved, outputs)
        digest = version_fingerprint(request)
        versions = list(ctx.status.get("versions") or [])
        current = planner.current_version(versions, digest)
        token = client_token(ctx.uid, digest)
        answered = planner.answered_create(ctx.status, versions, token) if current is None else None
        if answered is not None:
            current = {"modelPackageArn": answered, "fingerprint": digest, "generation": ctx.generation,
                       "createdAt": now_iso()}
            versions.append(current)
        if current is None:
            # SageMaker validates a version by running transform jobs as this role.
            validation = spec.validationSpecification
            require_allowed_roles(ctx, validation.validationRole if validation else None,
                                  where="spec.validationSpecification.validationRole")
            return Plan(
                health=Health.reconciling("Registering", f"registering a new version in model package group {group}"),
                action="create_model_package", request={**request, "ClientToken": token},
                before=create_pending(token, modelPackageGroupName=group,
                                      appliedApproval={"modelApprovalStatus": spec.modelApprovalStatus}),
                record={"modelPackageArn": "ModelPackageArn"}, again=True,
                events=[Event("Normal", "Registered", f"registered a new version in model package group {group}")],
            )
        description = await describe_or_none(client, "describe_model_package",
                                             ModelPackageName=current["modelPackageArn"])
        if description is None:
            raise Stall("NotFound", f"model package version {current['modelPackageArn']} was deleted outside the "
                        "operator; re-create this ModelPackage object to register it again")
        current["modelPackageVersion"] = description.get("ModelPackageVersion")
        versions = [v for v in versions if v is not current] + [current]
        plan = planner.plan_version(
            description, planner.desired_approval(spec.modelApprovalStatus, spec.approvalDescription),
            dict(ctx.status.get("appliedApproval") or {}), ctx.status.get("modelApprovalStatus"), versions, ctx.region)
        plan.follow, plan.track = description, True
        return plan

    async def group_name(self, ctx: ObjectContext, client, spec: ModelPackageSpec) -> str | Plan:
        """The SageMaker group the versions go in: the referenced ModelPackageGroup's once it is
        Ready, or one given by name that this namespace may use."""
        if spec.modelPackageGroupRef is not None:
            ref = spec.modelPackageGroupRef.name
            return model_planner.group_name(ref, ctx.referenced("ModelPackageGroup", ref))
        name = spec.modelPackageGroupName
        assert name is not None  # the CRD requires exactly one of the two
        if not ctx.status.get("versions"):
            # Before anything is sent into a group named literally: it must be this namespace's.
            if await require_referable(ctx, client, MODEL_PACKAGE_GROUP, name, "spec.modelPackageGroupName") is None:
                return wait("WaitingForModelPackageGroup", f"SageMaker model package group {name} does not exist")
        return name

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        arns = [version["modelPackageArn"] for version in ctx.status.get("versions") or []]
        made = ctx.status.get("modelPackageArn")
        if made and made not in arns:
            arns.append(made)  # a create answered but cut short before its version was recorded
        group_ref = (ctx.spec.get("modelPackageGroupRef") or {}).get("name")
        return Cleanup([Call("delete_model_package", {"ModelPackageName": arn}) for arn in arns],
                       events=[Event("Normal", "Deleted", f"deleted model package version {arn}") for arn in arns],
                       wake=[("ModelPackageGroup", group_ref)] if group_ref else [])
