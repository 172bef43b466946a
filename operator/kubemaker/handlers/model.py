"""Model: what the pure planner in reconcile.model needs (the referenced jobs or registry version,
the revisions that exist, the models this namespace's endpoint configs use), and its create and
cleanup plans. A Model made from a ModelPackageGroup's latest approved version follows the group
through the ApprovedVersionTracker: a new latest version makes a new revision."""

from __future__ import annotations

from ..api.model import ModelSpec, build_create_model_request, model_fingerprint, referenced_training_jobs
from ..api.registry import parse_spec_as
from ..aws.clients import call
from ..aws.errors import is_not_found
from ..aws.ownership import owned_by
from ..conditions import Health, now_iso
from ..reconcile import model as planner
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, Transient, create_pending
from ..runtime.protocols import (
    MODEL,
    MODEL_PACKAGE,
    adopt_or_refuse,
    describe_or_none,
    require_allowed_roles,
    require_referable,
    tags_of,
)
from ..runtime.registry_tracker import ApprovedVersion, ApprovedVersionTracker, FollowGroup


def variants(endpoint: dict) -> list[dict]:
    spec = endpoint.get("spec") or {}
    return (spec.get("productionVariants") or []) + (spec.get("shadowProductionVariants") or [])


def endpoint_references(endpoint: dict) -> set[str]:
    return {v["modelRef"]["name"] for v in variants(endpoint) if v.get("modelRef")}


def component_model_ref(component: dict) -> str | None:
    """The Model object an InferenceComponent serves by reference."""
    specification = (component.get("spec") or {}).get("specification") or {}
    return (specification.get("modelRef") or {}).get("name")


def recorded_configs(endpoint: dict) -> list[str]:
    """Every endpoint config an Endpoint object has made and not yet deleted, as its status records."""
    status = endpoint.get("status") or {}
    names = [status.get("endpointConfigName"), status.get("pendingEndpointConfigName")]
    return [name for name in names + (status.get("failedEndpointConfigNames") or []) if name]


async def describe_model(client, name: str) -> dict | None:
    return await describe_or_none(client, "describe_model", ModelName=name)


class ModelController:
    kind = "Model"
    plural = "models"

    # Nothing lists models by modification time (a slow look notices one deleted outside); the
    # tracker follows the registry groups Models take their latest approved version from.
    def __init__(self, tracker: ApprovedVersionTracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(ModelSpec, ctx.spec)
        source = await self.registry_source(ctx, spec)
        if isinstance(source, Plan):
            return source
        plan = await self.plan_model(ctx, spec, source)
        if source is None or source.group_name is None:
            plan.follow = FollowGroup(None)
        else:
            plan.follow = FollowGroup(source.group_name, ApprovedVersion(source.arn, source.version, "Completed"))
        plan.track = True
        return plan

    async def registry_source(self, ctx: ObjectContext, spec: ModelSpec) -> planner.PackageSource | Plan | None:
        """The registry version the model is made from (None: it is made from containers), or a plan
        to wait for it."""
        if spec.modelPackageRef is not None:
            name = spec.modelPackageRef.name
            return planner.fixed_package(name, ctx.referenced("ModelPackage", name))
        if spec.modelPackageGroupRef is None:
            return None
        ref = spec.modelPackageGroupRef.name
        group = planner.group_name(ref, ctx.referenced("ModelPackageGroup", ref))
        if isinstance(group, Plan):
            return group
        latest = await self.tracker.latest_approved(ctx, group)
        if latest is None:
            resolved = planner.latest_approved(ref, group, None, None)
        else:
            resolved = planner.latest_approved(ref, group, latest.arn, latest.version, latest.status)
        if isinstance(resolved, Plan):
            resolved.follow, resolved.track = FollowGroup(group, latest), True
        return resolved

    async def plan_model(self, ctx: ObjectContext, spec: ModelSpec, source: planner.PackageSource | None) -> Plan:
        resolved = planner.resolve_model_data(
            {name: ctx.referenced("TrainingJob", name) for name in referenced_training_jobs(spec)})
        if isinstance(resolved, Plan):
            return resolved
        request = build_create_model_request(spec, "", resolved, ctx.owner.tag_map(),
                                             source.arn if source else None)
        digest = model_fingerprint(request)
        client = ctx.client()
        revisions = list(ctx.status.get("revisions") or [])
        events: list[Event] = []
        current = planner.current_revision(revisions, digest)
        if current is not None and current["modelName"] not in ctx.made and await describe_model(
                client, current["modelName"]) is None:
            events.append(Event("Warning", "RevisionMissing", f"SageMaker model {current['modelName']} was deleted "
                                "outside the operator; creating a new revision"))
            revisions.remove(current)
            current = None
        if current is None:
            current = await self.pending_revision(ctx, client, digest, source)
        if current is None:
            plan = await self.plan_revision(ctx, client, spec, request, digest, revisions)
        else:
            revisions = [r for r in revisions if r["modelName"] != current["modelName"]] + [current]
            plan = await self.plan_in_use(ctx, client, revisions, current)
        plan.events = events + plan.events
        return plan

    async def pending_revision(self, ctx: ObjectContext, client, digest: str,
                               source: planner.PackageSource | None) -> dict | None:
        """The revision a create made (this pass, or one cut short by a crash), once SageMaker shows it."""
        pending = (ctx.status.get("createPending") or {}).get("name")
        if not pending:
            return None
        found = await describe_model(client, pending)
        if found is None:
            if pending in ctx.made:
                raise Transient(f"model {pending} not visible yet after create")
            return None
        if pending not in ctx.made:
            await adopt_or_refuse(ctx, client, found["ModelArn"], "model", pending, adopt=False)
        revision = {"modelName": pending, "modelArn": found["ModelArn"], "fingerprint": digest,
                    "generation": ctx.generation, "createdAt": now_iso()}
        if source is not None:
            revision.update(modelPackageArn=source.arn, modelPackageVersion=source.version)
        return revision

    async def plan_revision(self, ctx: ObjectContext, client, spec: ModelSpec, request: dict, digest: str,
                            revisions: list[dict]) -> Plan:
        """No revision for this spec: adopt the model of the spec's name, or create one."""
        base = ctx.sagemaker_name
        if not revisions and spec.adoptExisting:
            existing = await describe_model(client, base)
            if existing is not None:
                await adopt_or_refuse(ctx, client, existing["ModelArn"], "model", base, adopt=True)
                adopted = {**planner.adopted_revision(existing, request, digest), "generation": ctx.generation,
                           "createdAt": now_iso()}
                return Plan(health=Health.reconciling("Adopted", f"adopted the SageMaker model {base}"),
                            status={"revisions": [adopted]}, requeue_after=0)
        require_allowed_roles(ctx, spec.executionRoleArn, where="spec.executionRoleArn")
        for package in planner.model_packages(request):
            await require_referable(ctx, client, MODEL_PACKAGE, package, "modelPackageName of a container")
        name = planner.next_revision_name(base, revisions)
        return Plan(
            health=Health.reconciling("Creating", f"creating SageMaker model {name}"),
            status={"revisions": revisions} if revisions != (ctx.status.get("revisions") or []) else {},
            action="create_model", request={**request, "ModelName": name}, creates=MODEL, again=True,
            before=create_pending(name),
            events=[Event("Normal", "Created", f"created SageMaker model {name}")],
        )

    async def plan_in_use(self, ctx: ObjectContext, client, revisions: list[dict], current: dict) -> Plan:
        endpoints = ctx.runtime.namespace_objects("Endpoint", ctx.namespace)
        components = ctx.runtime.namespace_objects("InferenceComponent", ctx.namespace)
        old = [r for r in revisions if r is not current]
        in_use = await self.models_in_use(client, endpoints) if old else set()
        # A revision an inference component still serves is in use until the component moves on.
        in_use |= {name for c in components if (name := (c.get("status") or {}).get("modelName"))}
        plan = planner.plan_revisions(revisions, current, in_use, ctx.region)
        if ctx.status.get("modelName") != current["modelName"]:
            # They read the revision from our status, which the core writes before waking them.
            plan.wake = [("Endpoint", e["metadata"]["name"]) for e in endpoints if ctx.name in endpoint_references(e)]
            plan.wake += [("InferenceComponent", c["metadata"]["name"]) for c in components
                          if component_model_ref(c) == ctx.name]
        if plan.requeue_after is None:
            plan.look_again = "resync"
        return plan

    async def models_in_use(self, client, endpoints: list[dict]) -> set[str]:
        """SageMaker models that the endpoint configs of this namespace's Endpoints use (or name)."""
        in_use: set[str] = {v["modelName"] for endpoint in endpoints for v in variants(endpoint) if v.get("modelName")}
        for endpoint in endpoints:
            for config_name in recorded_configs(endpoint):
                try:
                    config = await call(client, "describe_endpoint_config", EndpointConfigName=config_name)
                except Exception as error:
                    if is_not_found(error):
                        continue
                    raise
                for variant in config.get("ProductionVariants", []) + config.get("ShadowProductionVariants", []):
                    in_use.add(variant.get("ModelName"))
        return in_use

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        client = ctx.client()
        names = [revision["modelName"] for revision in ctx.status.get("revisions") or []]
        pending = (ctx.status.get("createPending") or {}).get("name")
        if pending and pending not in names:
            # A create cut short by a crash: delete it only if it is ours.
            found = await describe_model(client, pending)
            if found is not None and owned_by(await tags_of(client, found["ModelArn"]), ctx.owner):
                names.append(pending)
        return Cleanup([Call("delete_model", {"ModelName": name}) for name in names])
