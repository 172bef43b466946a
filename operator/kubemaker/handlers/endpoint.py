"""Endpoint: what the pure planner in reconcile.endpoint needs (the endpoint, its configs, the
referenced models, the variants' autoscaling), claiming an endpoint found by name, and cleanup."""

from __future__ import annotations

from ..api.endpoint import EndpointSpec, all_variants, referenced_models, variant_scaling
from ..api.registry import parse_spec_as
from ..aws.clients import call
from ..aws.ownership import owned_by
from ..reconcile import endpoint as planner
from ..reconcile import tenancy
from ..reconcile.common import model_in_another_region
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, stalled, wait
from ..runtime.protocols import (
    MODEL,
    adopt_or_refuse,
    describe_or_none,
    require_allowed_roles,
    require_referable,
    stall,
    tags_of,
)
from ..runtime.tracker import Tracker
from .autoscaling import observe_scaling, scaling_removal
from .model import endpoint_references, recorded_configs

# SageMaker refuses to delete an endpoint in these states; deletion waits for them to end.
BUSY_STATES = ("Creating", "Updating", "SystemUpdating", "RollingBack")


def autoscaling_removal(ctx: ObjectContext, name: str) -> list[Call]:
    """Our policies and scalable targets, before the endpoint goes."""
    variants = set(ctx.status.get("autoScaledVariants") or ())
    variants |= {v["variantName"] for v in (ctx.spec.get("productionVariants") or []) if v.get("autoScaling")}
    return scaling_removal(variant_scaling(name), variants)


def components_on(ctx: ObjectContext) -> list[str]:
    """The InferenceComponent objects of the namespace that sit on this Endpoint (by endpointRef, or
    by its SageMaker name)."""
    return sorted(
        component["metadata"]["name"]
        for component in ctx.runtime.namespace_objects("InferenceComponent", ctx.namespace)
        if ((component.get("spec") or {}).get("endpointRef") or {}).get("name") == ctx.name
        or (component.get("spec") or {}).get("endpointName") == ctx.sagemaker_name
    )


class EndpointController:
    kind = "Endpoint"
    plural = "endpoints"

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(EndpointSpec, ctx.spec)
        name = ctx.sagemaker_name
        require_allowed_roles(ctx, spec.executionRoleArn, where="spec.executionRoleArn")
        client = ctx.client()
        # Whose endpoint the name holds is known before the models are: someone else's is Stalled
        # at once, not after a wait for a Model.
        endpoint = await describe_or_none(client, "describe_endpoint", EndpointName=name)
        if endpoint is not None and not ctx.status.get("endpointArn") and name not in ctx.made:
            await self.claim(ctx, client, spec, endpoint)
        models = self.resolve_models(ctx, spec)
        if isinstance(models, Plan):
            return models
        desired = planner.Desired(spec, name, models, ctx.owner.tag_map())
        config = planner.desired_config(desired, endpoint)
        # Every pass, not only before a new config: an adopted endpoint keeps the config it came with.
        for model_name in planner.literal_model_names(config, models):
            await require_referable(ctx, client, MODEL, model_name, "modelName of a production variant")
        observed = await self.observe(ctx, client, desired, endpoint, config["EndpointConfigName"])
        return planner.plan_endpoint(desired, observed, ctx.status, ctx.generation, ctx.region, config)

    def resolve_models(self, ctx: ObjectContext, spec: EndpointSpec) -> dict[str, str] | Plan:
        """The current SageMaker model of each referenced Model object, or a plan to wait for one."""
        models = {}
        for ref in sorted(referenced_models(spec)):
            model = ctx.referenced("Model", ref)
            elsewhere = model and model_in_another_region(ref, model, ctx.region, ctx.runtime.config.region)
            if elsewhere:
                return stalled(elsewhere)
            model_name = ((model or {}).get("status") or {}).get("modelName")
            if not model_name:
                state = "to be created" if model is None else "to create its SageMaker model"
                return wait("WaitingForModel", f"waiting for Model {ref} {state}")
            models[ref] = model_name
        return models

    async def claim(self, ctx: ObjectContext, client, spec: EndpointSpec, endpoint: dict) -> None:
        """An endpoint by our name that status does not record: ours after a crash mid-create, or
        one to adopt (with its config), or someone else's."""
        name = endpoint["EndpointName"]
        config = None
        if spec.adoptExisting and not owned_by(await tags_of(client, endpoint["EndpointArn"]), ctx.owner):
            # The config is adopted with the endpoint: neither is tagged if either belongs to another object.
            config = await call(client, "describe_endpoint_config", EndpointConfigName=endpoint["EndpointConfigName"])
            refusal = tenancy.adoption_refusal(ctx.owner, "endpoint config", config["EndpointConfigName"],
                                               await tags_of(client, config["EndpointConfigArn"]))
            if refusal is not None:
                raise stall(refusal)
        adopted = await adopt_or_refuse(ctx, client, endpoint["EndpointArn"], "endpoint", name,
                                        bool(spec.adoptExisting))
        if adopted:
            assert config is not None  # adopted only when the tags read above were not ours
            await call(client, "add_tags", ResourceArn=config["EndpointConfigArn"],
                       Tags=[{"Key": k, "Value": v} for k, v in ctx.owner.tag_map().items()])
        await ctx.write_status({
            "endpointName": name, "endpointArn": endpoint["EndpointArn"],
            "endpointConfigName": ctx.status.get("endpointConfigName") or endpoint["EndpointConfigName"],
        })

    async def observe(self, ctx: ObjectContext, client, desired: planner.Desired, endpoint: dict | None,
                      wanted: str) -> planner.Observed:
        observed = planner.Observed(endpoint=endpoint)
        in_service = endpoint is not None and endpoint["EndpointStatus"] == "InService"
        in_use = (endpoint or {}).get("EndpointConfigName")
        if in_service and in_use != wanted:
            observed.config_in_use = await describe_or_none(client, "describe_endpoint_config",
                                                            EndpointConfigName=in_use)
        pending = ctx.status.get("pendingEndpointConfigName")
        if pending and pending != in_use:
            observed.pending_config = await describe_or_none(
                client, "describe_endpoint_config", EndpointConfigName=pending
            )
        if endpoint is not None and in_service:
            variants = {v.variantName for v in all_variants(desired.spec)}
            variants |= set(ctx.status.get("autoScaledVariants") or ())
            variants |= {v["VariantName"] for v in endpoint.get("ProductionVariants") or []}
            observed.targets, observed.policies = await observe_scaling(ctx, variant_scaling(desired.endpoint_name),
                                                                        variants)
        return observed

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        # SageMaker deletes no endpoint that still hosts inference components: those objects go first.
        hosted = components_on(ctx)
        if hosted:
            return Cleanup(waiting=f"waiting for InferenceComponent {', '.join(hosted)} on this endpoint to be "
                           "deleted first")
        # No shortcut on what status recorded: a create whose answer was lost (a crash, a 5xx
        # after SageMaker acted) leaves objects only their names and our tags can find.
        name = ctx.sagemaker_name
        client = ctx.client()
        endpoint = await describe_or_none(client, "describe_endpoint", EndpointName=name)
        if endpoint is not None:
            if endpoint["EndpointArn"] != ctx.status.get("endpointArn") and not owned_by(
                await tags_of(client, endpoint["EndpointArn"]), ctx.owner
            ):
                return Cleanup()  # never delete someone else's endpoint
            if endpoint["EndpointStatus"] in BUSY_STATES:
                return Cleanup(waiting=f"waiting for endpoint {name} to finish {endpoint['EndpointStatus']} "
                               "before deleting it")
            calls, events = [], []
            if endpoint["EndpointStatus"] != "Deleting":
                # Its scaling first, in the same pass as the delete: once Deleting, both are done.
                calls = [*autoscaling_removal(ctx, name), Call("delete_endpoint", {"EndpointName": name})]
                events.append(Event("Normal", "Deleting", f"deleting SageMaker endpoint {name}"))
            return Cleanup(calls, f"waiting for endpoint {name} to be deleted", events)
        configs = [Call("delete_endpoint_config", {"EndpointConfigName": c})
                   for c in await self.our_configs(ctx, client, name)]
        # The models' old revisions may now be unused.
        return Cleanup(autoscaling_removal(ctx, name) + configs,
                       wake=[("Model", ref) for ref in sorted(endpoint_references(ctx.body))])

    async def our_configs(self, ctx: ObjectContext, client, name: str) -> list[str]:
        """The configs status records, and any other config named after the endpoint that carries
        our tags (made by a pass whose status write never happened)."""
        configs = recorded_configs(ctx.body)
        listing = {"NameContains": name}
        while True:
            page = await call(client, "list_endpoint_configs", **listing)
            for summary in page.get("EndpointConfigs", []):
                config = summary["EndpointConfigName"]
                if config not in configs and config.startswith(f"{name}-") and owned_by(
                    await tags_of(client, summary["EndpointConfigArn"]), ctx.owner
                ):
                    configs.append(config)
            if not page.get("NextToken"):
                return list(dict.fromkeys(configs))
            listing["NextToken"] = page["NextToken"]
