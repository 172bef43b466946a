"""InferenceComponent: what the pure planner in reconcile.inference_component needs (the component,
the Endpoint and Model it names, its copies' autoscaling), and its cleanup."""

from __future__ import annotations

from ..api.inference_component import InferenceComponentSpec, component_scaling
from ..api.registry import parse_spec_as
from ..aws.ownership import owned_by
from ..conditions import Health
from ..reconcile import inference_component as planner
from ..reconcile.common import model_in_another_region
from ..reconcile.endpoint import ENDPOINT
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, stalled, wait
from ..runtime.protocols import MODEL, describe_or_none, require_owned, require_referable, tags_of
from ..runtime.tracker import Tracker
from .autoscaling import observe_scaling, scaling_removal

# SageMaker refuses to delete a component in these states; deletion waits for them to end.
BUSY_STATES = ("Creating", "Updating")


class InferenceComponentController:
    kind = "InferenceComponent"
    plural = "inferencecomponents"

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(InferenceComponentSpec, ctx.spec)
        name = ctx.sagemaker_name
        client = ctx.client()
        component = await describe_or_none(client, "describe_inference_component", InferenceComponentName=name)
        if component is not None and not ctx.status.get("inferenceComponentArn") and name not in ctx.made:
            # Made by a pass whose answer was lost (ours by its tags), or someone else's name.
            await require_owned(ctx, client, component["InferenceComponentArn"],
                                f"a SageMaker inference component named {name}", "inferenceComponentName")
        endpoint_name = await self.resolve_endpoint(ctx, client, spec, (component or {}).get("EndpointName"))
        if isinstance(endpoint_name, Plan):
            return endpoint_name
        model_name = await self.resolve_model(ctx, client, spec)
        if isinstance(model_name, Plan):
            return model_name
        for specification in spec.specifications or ([spec.specification] if spec.specification else []):
            if specification.baseInferenceComponentName:
                await require_referable(ctx, client, planner.INFERENCE_COMPONENT,
                                        specification.baseInferenceComponentName,
                                        "baseInferenceComponentName of the specification")
        desired = planner.Desired(spec, name, endpoint_name, model_name, ctx.owner.tag_map())
        observed = planner.Observed(component=component)
        if component is not None and component["InferenceComponentStatus"] == "InService":
            observed.targets, observed.policies = await observe_scaling(ctx, component_scaling(name), [name])
        return planner.plan_component(desired, observed, ctx.status, ctx.generation, ctx.region)

    async def resolve_endpoint(self, ctx: ObjectContext, client, spec: InferenceComponentSpec,
                               sits_on: str | None) -> str | Plan:
        """The SageMaker endpoint the component sits on (`sits_on`, once it exists: it never moves);
        before that, a plan to wait while the Endpoint object is not in service."""
        if spec.endpointName:
            await require_referable(ctx, client, ENDPOINT, spec.endpointName, "endpointName")
            return spec.endpointName
        assert spec.endpointRef is not None  # the CRD requires one of the two
        ref = spec.endpointRef.name
        endpoint = ctx.referenced("Endpoint", ref)
        if endpoint is not None:
            region = (endpoint.get("spec") or {}).get("region") or ctx.runtime.config.region
            if region != ctx.region:
                return stalled(Health.stalled(
                    "EndpointInAnotherRegion",
                    f"Endpoint {ref} is in region {region} and this object in {ctx.region}: an inference component "
                    f"sits on an endpoint of its own region",
                ))
        if sits_on:
            return sits_on
        endpoint_status = (endpoint or {}).get("status") or {}
        endpoint_name = endpoint_status.get("endpointName")
        if not endpoint_name or endpoint_status.get("endpointStatus") != "InService":
            state = "to be created" if endpoint is None else "to be in service"
            return wait("WaitingForEndpoint", f"waiting for Endpoint {ref} {state}")
        return endpoint_name

    async def resolve_model(self, ctx: ObjectContext, client, spec: InferenceComponentSpec) -> str | None | Plan:
        """The SageMaker model of specification.modelRef (None without one), or a plan to wait for it;
        a modelName given literally must be one this namespace may use."""
        specification = spec.specification
        if specification is None or specification.modelRef is None:
            for given in spec.specifications or ([specification] if specification else []):
                if given.modelName:
                    await require_referable(ctx, client, MODEL, given.modelName, "modelName of the specification")
            return None
        ref = specification.modelRef.name
        model = ctx.referenced("Model", ref)
        elsewhere = model and model_in_another_region(ref, model, ctx.region, ctx.runtime.config.region)
        if elsewhere:
            return stalled(elsewhere)
        model_name = ((model or {}).get("status") or {}).get("modelName")
        if not model_name:
            state = "to be created" if model is None else "to create its SageMaker model"
            return wait("WaitingForModel", f"waiting for Model {ref} {state}")
        return model_name

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        name = ctx.sagemaker_name
        client = ctx.client()
        wake = [("Endpoint", ref) for ref in [((ctx.spec.get("endpointRef") or {}).get("name"))] if ref]
        component = await describe_or_none(client, "describe_inference_component", InferenceComponentName=name)
        if component is None:
            return Cleanup(wake=wake)  # the Endpoint it sat on may now be deleted
        if component["InferenceComponentArn"] != ctx.status.get("inferenceComponentArn") and not owned_by(
            await tags_of(client, component["InferenceComponentArn"]), ctx.owner
        ):
            return Cleanup(wake=wake)  # never delete someone else's component
        state = component["InferenceComponentStatus"]
        if state in BUSY_STATES:
            return Cleanup(waiting=f"waiting for inference component {name} to finish {state} before deleting it")
        calls: list[Call] = []
        events = []
        if state != "Deleting":
            # Its scaling first, in the same pass as the delete: once Deleting, both are done.
            scaled = set(ctx.status.get("autoScaledComponents") or ())
            scaled |= {name} if ctx.spec.get("autoScaling") else set()
            calls = [*scaling_removal(component_scaling(name), scaled),
                     Call("delete_inference_component", {"InferenceComponentName": name})]
            events.append(Event("Normal", "Deleting", f"deleting SageMaker inference component {name}"))
        return Cleanup(calls, f"waiting for inference component {name} to be deleted", events)
