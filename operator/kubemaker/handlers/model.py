"""Model: the I/O around the pure planner in reconcile.model."""

from __future__ import annotations

import asyncio

from .. import API_GROUP, API_VERSION
from ..api.model import ModelSpec, build_create_model_request, model_fingerprint, referenced_training_jobs
from ..api.registry import parse_spec
from ..aws.clients import call
from ..aws.errors import error_message, is_not_found
from ..aws.ownership import owned_by
from ..conditions import Health, now_iso
from ..controller import ObjectContext
from ..names import MAX_NAME_LENGTH, derived_name
from ..reconcile import model as planner
from ..reconcile.common import Event, Plan
from .common import MODEL_PACKAGE, adopt_or_refuse, describe_or_none, require_allowed_roles, require_referable, tags_of

ALREADY_EXISTS = "already existing"


# Room for the revision suffix (-r<n>), so a derived name keeps its whole uid hash.
REVISION_SUFFIX_ROOM = 4


def base_name(ctx: ObjectContext) -> str:
    return ctx.spec.get("modelName") or derived_name(
        ctx.namespace, ctx.name, ctx.uid, MAX_NAME_LENGTH - REVISION_SUFFIX_ROOM
    )


async def describe_model(client, name: str) -> dict | None:
    return await describe_or_none(client, "describe_model", ModelName=name)


async def list_endpoints(ctx: ObjectContext) -> list[dict]:
    listing = await asyncio.to_thread(
        ctx.runtime.custom_objects.list_namespaced_custom_object, API_GROUP, API_VERSION, ctx.namespace, "endpoints"
    )
    return listing.get("items", [])


def endpoint_references(endpoint: dict) -> set[str]:
    spec = endpoint.get("spec") or {}
    variants = (spec.get("productionVariants") or []) + (spec.get("shadowProductionVariants") or [])
    return {v["modelRef"]["name"] for v in variants if v.get("modelRef")}


def recorded_configs(endpoint: dict) -> list[str]:
    """Every endpoint config an Endpoint object has made and not yet deleted, as its status records."""
    status = endpoint.get("status") or {}
    names = [status.get("endpointConfigName"), status.get("pendingEndpointConfigName")]
    return [name for name in names + (status.get("failedEndpointConfigNames") or []) if name]


class ModelController:
    kind = "Model"
    plural = "models"

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec: ModelSpec = parse_spec(self.kind, ctx.spec)
        jobs = {
            name: await ctx.runtime.get_object("trainingjobs", ctx.namespace, name)
            for name in referenced_training_jobs(spec)
        }
        resolved = planner.resolve_model_data(jobs)
        if isinstance(resolved, Health):
            waiting = resolved.state != "Stalled"
            return Plan(
                health=resolved,
                events=[] if waiting else [Event("Warning", resolved.reason, resolved.message)],
                requeue_after=ctx.runtime.config.poll_interval_seconds if waiting else None,
            )
        request = build_create_model_request(spec, "", resolved, ctx.owner.tag_map())
        digest = model_fingerprint(request)
        client = ctx.client()
        revisions = list(ctx.status.get("revisions") or [])
        current = planner.current_revision(revisions, digest)
        if current is not None and await describe_model(client, current["modelName"]) is None:
            ctx.event(Event("Warning", "RevisionMissing", f"SageMaker model {current['modelName']} was deleted outside the operator; creating a new revision"))
            revisions.remove(current)
            current = None
        if current is None:
            current = await self.create_revision(ctx, client, spec, request, digest, revisions)
            if current["fingerprint"] != digest:
                return Plan(health=Health.reconciling("Adopted", "adopted model differs from the spec; creating a revision"),
                            requeue_after=0)
            revisions = list(ctx.status.get("revisions") or [])
            current = planner.current_revision(revisions, digest)
        endpoints = await list_endpoints(ctx)
        old = [r for r in revisions if r is not current]
        in_use = await self.models_in_use(client, endpoints) if old else set()
        plan = planner.plan_revisions(revisions, current, in_use, ctx.region)
        if plan.action == "delete_model":
            try:
                await call(client, "delete_model", **plan.request)
            except Exception as error:
                if not is_not_found(error):
                    raise
        if ctx.status.get("modelName") != current["modelName"]:
            # Endpoints read the revision from our status: write it before waking them.
            await ctx.write_status(plan.status)
            self.wake_endpoints(ctx, endpoints)
        if plan.requeue_after is None:
            # Nothing lists models by modification time: a slow look notices one deleted outside.
            plan.requeue_after = ctx.runtime.config.resync_interval_seconds
        return plan

    async def create_revision(
        self, ctx: ObjectContext, client, spec: ModelSpec, request: dict, digest: str, revisions: list[dict]
    ) -> dict:
        base = base_name(ctx)
        if not revisions and spec.adoptExisting:
            existing = await describe_model(client, base)
            if existing is not None:
                await adopt_or_refuse(ctx, client, existing["ModelArn"], "model", base, adopt=True)
                return await self.record(ctx, revisions, planner.adopted_revision(existing, request, digest))
        require_allowed_roles(ctx, spec.executionRoleArn, where="spec.executionRoleArn")
        for package in planner.model_packages(request):
            await require_referable(ctx, client, MODEL_PACKAGE, package, "modelPackageName of a container")
        name = (ctx.status.get("createPending") or {}).get("name") or planner.next_revision_name(base, revisions)
        # Recorded before the call: after a crash the next pass finds the model by this name.
        await ctx.write_status({"createPending": {"name": name, "startedAt": now_iso()}})
        try:
            arn = (await call(client, "create_model", **{**request, "ModelName": name}))["ModelArn"]
            ctx.event(Event("Normal", "Created", f"created SageMaker model {name}"))
        except Exception as error:
            if ALREADY_EXISTS not in error_message(error).lower():
                # The name is derived from the recorded revisions, so a retry after an unseen
                # success finds the model by name instead of making a second one.
                await ctx.write_status({"createPending": None})
                raise
            arn = (await describe_model(client, name))["ModelArn"]
            await adopt_or_refuse(ctx, client, arn, "model", name, adopt=False)
        return await self.record(ctx, revisions, {"modelName": name, "modelArn": arn, "fingerprint": digest})

    async def record(self, ctx: ObjectContext, revisions: list[dict], revision: dict) -> dict:
        revision = {**revision, "generation": ctx.generation, "createdAt": now_iso()}
        await ctx.write_status({"revisions": revisions + [revision], "createPending": None})
        return revision

    async def models_in_use(self, client, endpoints: list[dict]) -> set[str]:
        """SageMaker models that the endpoint configs of this namespace's Endpoints use (or name)."""
        in_use: set[str] = set()
        for endpoint in endpoints:
            spec = endpoint.get("spec") or {}
            for variant in (spec.get("productionVariants") or []) + (spec.get("shadowProductionVariants") or []):
                if variant.get("modelName"):
                    in_use.add(variant["modelName"])
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

    def wake_endpoints(self, ctx: ObjectContext, endpoints: list[dict]) -> None:
        """Endpoints that reference this Model move to its new revision."""
        for endpoint in endpoints:
            if ctx.name in endpoint_references(endpoint):
                ctx.runtime.work_queue.add(("Endpoint", ctx.namespace, endpoint["metadata"]["name"]))

    async def finalize(self, ctx: ObjectContext) -> str | None:
        if ctx.spec.get("deletionPolicy") == "Retain":
            return None
        client = ctx.client()
        names = [revision["modelName"] for revision in ctx.status.get("revisions") or []]
        pending = (ctx.status.get("createPending") or {}).get("name")
        if pending and pending not in names:
            # A create cut short by a crash: delete it only if it is ours.
            found = await describe_model(client, pending)
            if found is not None and owned_by(await tags_of(client, found["ModelArn"]), ctx.owner):
                names.append(pending)
        for name in names:
            try:
                await call(client, "delete_model", ModelName=name)
            except Exception as error:
                if not is_not_found(error):
                    raise
        return None
