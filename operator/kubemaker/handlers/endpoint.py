"""Endpoint: the I/O around the pure planner in reconcile.endpoint."""

from __future__ import annotations

from ..api.endpoint import (
    SCALABLE_DIMENSION,
    SERVICE_NAMESPACE,
    EndpointSpec,
    all_variants,
    referenced_models,
    scalable_resource_id,
    scaling_policy_name,
)
from ..api.registry import parse_spec
from ..aws.clients import call
from ..aws.errors import error_message, is_not_found
from ..aws.ownership import owned_by
from ..conditions import Health
from ..controller import ObjectContext
from ..names import derived_name
from ..reconcile import endpoint as planner
from ..reconcile import tenancy
from ..reconcile.common import Event, Plan, model_in_another_region
from ..tracker import ListShape, Tracker
from .common import MODEL, adopt_or_refuse, describe_or_none, require_allowed_roles, require_referable, stall, tags_of
from .model import ALREADY_EXISTS, endpoint_references

LIST_SHAPE = ListShape("list_endpoints", "Endpoints", "EndpointName")
# SageMaker refuses to delete an endpoint in these states; deletion waits for them to end.
BUSY_STATES = ("Creating", "Updating", "SystemUpdating", "RollingBack")


def sagemaker_name(ctx: ObjectContext) -> str:
    return ctx.spec.get("endpointName") or ctx.status.get("endpointName") or derived_name(
        ctx.namespace, ctx.name, ctx.uid
    )


def gone(error: BaseException) -> bool:
    """Not found, also in the words of Application Auto Scaling's emulation ("No scalable target found")."""
    return is_not_found(error) or " found for service namespace" in error_message(error)


async def observe_autoscaling(ctx: ObjectContext, name: str, variants: set[str]) -> tuple[dict, dict]:
    """The registered scalable targets of the endpoint's variants, and our policy on each."""
    autoscaling = ctx.client(planner.AUTOSCALING)
    by_resource = {scalable_resource_id(name, variant): variant for variant in variants}
    answer = await call(
        autoscaling, "describe_scalable_targets", ServiceNamespace=SERVICE_NAMESPACE,
        ResourceIds=sorted(by_resource), ScalableDimension=SCALABLE_DIMENSION,
    )
    targets = {by_resource[t["ResourceId"]]: t for t in answer.get("ScalableTargets", []) if t["ResourceId"] in by_resource}
    policies = {}
    for variant in targets:
        found = await call(
            autoscaling, "describe_scaling_policies", ServiceNamespace=SERVICE_NAMESPACE,
            ResourceId=scalable_resource_id(name, variant), ScalableDimension=SCALABLE_DIMENSION,
            PolicyNames=[scaling_policy_name(name, variant)],
        )
        if found.get("ScalingPolicies"):
            policies[variant] = found["ScalingPolicies"][0]
    return targets, policies


class EndpointController:
    kind = "Endpoint"
    plural = "endpoints"

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec: EndpointSpec = parse_spec(self.kind, ctx.spec)
        name = sagemaker_name(ctx)
        require_allowed_roles(ctx, spec.executionRoleArn, where="spec.executionRoleArn")
        client = ctx.client()
        # Whose endpoint the name holds is known before the models are: someone else's is Stalled
        # at once, not after a wait for a Model.
        endpoint = await describe_or_none(client, "describe_endpoint", EndpointName=name)
        if endpoint is not None and not ctx.status.get("endpointArn"):
            await self.claim(ctx, client, spec, endpoint)
        models = await self.resolve_models(ctx, spec)
        if isinstance(models, Plan):
            return models
        desired = planner.Desired(spec, name, models, ctx.owner.tag_map())
        # Every pass, not only before a new config: an adopted endpoint keeps the config it came with.
        for model_name in planner.literal_model_names(planner.desired_config(desired, endpoint), models):
            await require_referable(ctx, client, MODEL, model_name, "modelName of a production variant")
        observed = await self.observe(ctx, client, desired, endpoint)
        plan = planner.plan_endpoint(desired, observed, ctx.status, ctx.generation, ctx.region)
        if plan.action:
            await self.execute(ctx, client, plan)
        self.follow(ctx, endpoint)
        if endpoint is not None and endpoint["EndpointStatus"] == "Deleting":
            # A deleted endpoint leaves ListEndpoints, so the tracker will not say when it is gone.
            plan.requeue_after = ctx.runtime.config.poll_interval_seconds
        if plan.action == "delete_endpoint_config":
            self.wake_models(ctx, spec)  # old model revisions may now be unused
        return plan

    async def resolve_models(self, ctx: ObjectContext, spec: EndpointSpec) -> dict[str, str] | Plan:
        """The current SageMaker model of each referenced Model object, or a plan to wait for one."""
        models = {}
        for ref in sorted(referenced_models(spec)):
            model = await ctx.runtime.get_object("models", ctx.namespace, ref)
            elsewhere = model and model_in_another_region(ref, model, ctx.region, ctx.runtime.config.region)
            if elsewhere:
                return Plan(health=elsewhere, events=[Event("Warning", elsewhere.reason, elsewhere.message)])
            model_name = ((model or {}).get("status") or {}).get("modelName")
            if not model_name:
                state = "to be created" if model is None else "to create its SageMaker model"
                return Plan(
                    health=Health.reconciling("WaitingForModel", f"waiting for Model {ref} {state}"),
                    requeue_after=ctx.runtime.config.poll_interval_seconds,
                )
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
        adopted = await adopt_or_refuse(ctx, client, endpoint["EndpointArn"], "endpoint", name, bool(spec.adoptExisting))
        if adopted:
            await call(client, "add_tags", ResourceArn=config["EndpointConfigArn"],
                       Tags=[{"Key": k, "Value": v} for k, v in ctx.owner.tag_map().items()])
        await ctx.write_status({
            "endpointName": name, "endpointArn": endpoint["EndpointArn"],
            "endpointConfigName": ctx.status.get("endpointConfigName") or endpoint["EndpointConfigName"],
        })

    async def observe(self, ctx: ObjectContext, client, desired: planner.Desired, endpoint: dict | None) -> planner.Observed:
        observed = planner.Observed(endpoint=endpoint)
        wanted = planner.desired_config(desired, endpoint)["EndpointConfigName"]
        in_service = endpoint is not None and endpoint["EndpointStatus"] == "InService"
        in_use = (endpoint or {}).get("EndpointConfigName")
        if in_service and in_use != wanted:
            observed.config_in_use = await describe_or_none(client, "describe_endpoint_config", EndpointConfigName=in_use)
        pending = ctx.status.get("pendingEndpointConfigName")
        if pending and pending != in_use:
            observed.pending_config = await describe_or_none(
                client, "describe_endpoint_config", EndpointConfigName=pending
            )
        if in_service:
            variants = {v.variantName for v in all_variants(desired.spec)} | set(ctx.status.get("autoScaledVariants") or ())
            variants |= {v["VariantName"] for v in endpoint.get("ProductionVariants") or []}
            observed.targets, observed.policies = await observe_autoscaling(ctx, desired.endpoint_name, variants)
        return observed

    async def execute(self, ctx: ObjectContext, client, plan: planner.Step) -> None:
        if plan.before:
            await ctx.write_status(plan.before)
        service_client = client if plan.service == "sagemaker" else ctx.client(plan.service)
        try:
            response = await call(service_client, plan.action, **plan.request)
        except Exception as error:
            if plan.action.startswith(("delete_", "deregister_")) and gone(error):
                return
            if not plan.action.startswith("create_") or ALREADY_EXISTS not in error_message(error).lower():
                raise
            await self.check_existing(ctx, client, plan)
            return
        if plan.action == "create_endpoint":
            plan.status["endpointArn"] = response["EndpointArn"]

    async def check_existing(self, ctx: ObjectContext, client, plan: planner.Step) -> None:
        """A create found its name taken: fine if it is ours (an earlier, interrupted pass made it)."""
        if plan.action == "create_endpoint":
            arn = (await call(client, "describe_endpoint", EndpointName=plan.request["EndpointName"]))["EndpointArn"]
        else:
            arn = (await call(client, "describe_endpoint_config",
                              EndpointConfigName=plan.request["EndpointConfigName"]))["EndpointConfigArn"]
        if not owned_by(await tags_of(client, arn), ctx.owner):
            await adopt_or_refuse(ctx, client, arn, plan.action.removeprefix("create_").replace("_", " "),
                                  arn.rsplit("/", 1)[-1], adopt=False)

    def follow(self, ctx: ObjectContext, endpoint: dict | None) -> None:
        if endpoint is None:
            self.tracker.untrack(ctx.region, ctx.namespace, sagemaker_name(ctx))
            return
        self.tracker.track(
            ctx.namespace, ctx.region, endpoint["EndpointName"], ctx.key,
            endpoint.get("LastModifiedTime") or endpoint["CreationTime"], endpoint["CreationTime"],
        )

    def wake_models(self, ctx: ObjectContext, spec: EndpointSpec) -> None:
        for ref in referenced_models(spec):
            ctx.runtime.work_queue.add(("Model", ctx.namespace, ref))

    async def finalize(self, ctx: ObjectContext) -> str | None:
        name = sagemaker_name(ctx)
        if ctx.spec.get("deletionPolicy") == "Retain":
            self.tracker.untrack(ctx.region, ctx.namespace, name)
            return None
        # No shortcut on what status recorded: a create whose answer was lost (a crash, a 5xx
        # after SageMaker acted) leaves objects only their names and our tags can find.
        client = ctx.client()
        endpoint = await describe_or_none(client, "describe_endpoint", EndpointName=name)
        if endpoint is not None:
            if endpoint["EndpointArn"] != ctx.status.get("endpointArn") and not owned_by(
                await tags_of(client, endpoint["EndpointArn"]), ctx.owner
            ):
                return None  # never delete someone else's endpoint
            if endpoint["EndpointStatus"] in BUSY_STATES:
                return f"waiting for endpoint {name} to finish {endpoint['EndpointStatus']} before deleting it"
            await self.remove_autoscaling(ctx, name)
            if endpoint["EndpointStatus"] != "Deleting":
                await call(client, "delete_endpoint", EndpointName=name)
                ctx.event(Event("Normal", "Deleting", f"deleting SageMaker endpoint {name}"))
            return f"waiting for endpoint {name} to be deleted"
        await self.remove_autoscaling(ctx, name)
        for config in await self.our_configs(ctx, client, name):
            try:
                await call(client, "delete_endpoint_config", EndpointConfigName=config)
            except Exception as error:
                if not is_not_found(error):
                    raise
        self.tracker.untrack(ctx.region, ctx.namespace, name)
        for ref in endpoint_references(ctx.body):
            ctx.runtime.work_queue.add(("Model", ctx.namespace, ref))  # their old revisions may now be unused
        return None

    async def our_configs(self, ctx: ObjectContext, client, name: str) -> list[str]:
        """The configs status records, and any other config named after the endpoint that carries
        our tags (made by a pass whose status write never happened)."""
        status = ctx.status
        recorded = [status.get("endpointConfigName"), status.get("pendingEndpointConfigName"),
                    *(status.get("failedEndpointConfigNames") or [])]
        configs = [config for config in recorded if config]
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

    async def remove_autoscaling(self, ctx: ObjectContext, name: str) -> None:
        """Our policies and scalable targets, before the endpoint goes."""
        autoscaling = ctx.client(planner.AUTOSCALING)
        variants = set(ctx.status.get("autoScaledVariants") or ())
        variants |= {v["variantName"] for v in (ctx.spec.get("productionVariants") or []) if v.get("autoScaling")}
        for variant in sorted(variants):
            target = {"ServiceNamespace": SERVICE_NAMESPACE, "ResourceId": scalable_resource_id(name, variant),
                      "ScalableDimension": SCALABLE_DIMENSION}
            for operation, params in (
                ("delete_scaling_policy", {**target, "PolicyName": scaling_policy_name(name, variant)}),
                ("deregister_scalable_target", target),
            ):
                try:
                    await call(autoscaling, operation, **params)
                except Exception as error:
                    if not gone(error):
                        raise
