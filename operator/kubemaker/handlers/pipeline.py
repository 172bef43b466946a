"""Pipeline: what the pure planner in reconcile.pipeline needs, and its create and cleanup plans.

The definition comes from the spec, a ConfigMap key or an S3 object. Referenced ConfigMaps are
followed, so editing the key updates the pipeline without touching the Pipeline object."""

from __future__ import annotations

import asyncio

from ..api.pipeline import PipelineSpec, build_create_pipeline_request, build_update_pipeline_request, definition_text
from ..api.registry import parse_spec_as
from ..aws.clients import call
from ..conditions import Health
from ..reconcile import pipeline as planner
from ..reconcile import tenancy
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, Stall, Transient, create_pending, stalled
from ..runtime.protocols import PIPELINE, adopt_or_refuse, describe_or_none, is_owned, require_allowed_roles, stall
from ..runtime.tracker import ConfigMapRead, ConfigMapTracker


def client_request_token(ctx: ObjectContext, operation: str = "") -> str:
    """Idempotency token from the object's uid: a create retried after a crash creates nothing new."""
    return f"{operation}{ctx.uid}"


def definition_source(spec: PipelineSpec) -> str:
    """Where the definition comes from, as messages name it."""
    if spec.pipelineDefinitionFrom is not None:
        ref = spec.pipelineDefinitionFrom.configMapKeyRef
        return f"ConfigMap {ref.name} key {ref.key}"
    if spec.pipelineDefinition is not None:
        return "spec.pipelineDefinition"
    location = spec.pipelineDefinitionS3Location
    assert location is not None  # the spec model requires exactly one of the three sources
    return f"s3://{location.bucket}/{location.objectKey}"


class PipelineController:
    kind = "Pipeline"
    plural = "pipelines"

    def __init__(self, configmaps: ConfigMapTracker):
        self.tracker = configmaps

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(PipelineSpec, ctx.spec)
        read, configmap_text = await self.configmap_definition(ctx, spec)
        if isinstance(configmap_text, Plan):
            configmap_text.follow = read
            return configmap_text
        plan = await self.plan_pipeline(ctx, spec, configmap_text)
        plan.follow = read
        return plan

    async def plan_pipeline(self, ctx: ObjectContext, spec: PipelineSpec, configmap_text: str | None) -> Plan:
        name = ctx.sagemaker_name
        desired = await self.desired_definition(ctx, spec, configmap_text)
        # Create and UpdatePipeline both pass the pipeline's role and its steps' roles.
        require_allowed_roles(ctx, spec.roleArn, where="spec.roleArn")
        refusal = tenancy.pipeline_definition_refusal(
            ctx.namespace, ctx.runtime.config.policy_for(ctx.namespace), desired, definition_source(spec)
        )
        if refusal is not None:
            raise stall(refusal)
        client = ctx.client()
        description = await describe_or_none(client, "describe_pipeline", PipelineName=name)
        if description is None:
            if ctx.status.get("pipelineArn"):
                raise Stall("NotFound", f"SageMaker pipeline {name} was deleted outside the operator; "
                            "re-create this Pipeline object to create it again")
            if name in ctx.made:
                raise Transient(f"pipeline {name} not visible yet after create")
            # The token makes a repeated create (after a crash) return the pipeline made the first time.
            return Plan(
                health=Health.reconciling("Creating", f"creating SageMaker pipeline {name}"),
                action="create_pipeline", creates=PIPELINE, again=True,
                request=build_create_pipeline_request(spec, name, client_request_token(ctx), ctx.owner.tag_map(),
                                                      configmap_text),
                before=create_pending(name, pipelineName=name),
                events=[Event("Normal", "Created", f"created SageMaker pipeline {name}")],
            )
        if not ctx.status.get("pipelineArn") and name not in ctx.made:
            # Ours after a crash mid-create, one to adopt, or someone else's.
            await adopt_or_refuse(ctx, client, description["PipelineArn"], "pipeline", name, bool(spec.adoptExisting))
        latest = (await call(
            client, "list_pipeline_executions", PipelineName=name, SortBy="CreationTime", SortOrder="Descending",
            MaxResults=1,
        )).get("PipelineExecutionSummaries") or [None]
        plan = planner.plan_observed(
            description, build_update_pipeline_request(spec, name, configmap_text), desired, latest[0], ctx.region
        )
        if plan.requeue_after is None:
            # Executions started outside this operator, and changes made in the console, show
            # up within the resync interval; our own PipelineExecutions wake the object at once.
            plan.look_again = "resync"
        return plan

    async def configmap_definition(self, ctx: ObjectContext,
                                   spec: PipelineSpec) -> tuple[ConfigMapRead, str | Plan | None]:
        """The definition text from spec.pipelineDefinitionFrom.configMapKeyRef (None without one),
        or a plan to stall on a missing ConfigMap or key; and what the ConfigMap tracker follows."""
        if spec.pipelineDefinitionFrom is None:
            return ConfigMapRead(None), None
        ref = spec.pipelineDefinitionFrom.configMapKeyRef
        configmap = await ctx.runtime.read_config_map(ctx.namespace, ref.name)
        if configmap is None:
            return ConfigMapRead(ref.name), stalled(Health.stalled(
                "ConfigMapNotFound", f"ConfigMap {ref.name} does not exist"))
        read = ConfigMapRead(ref.name, configmap["metadata"]["resourceVersion"])
        text = (configmap.get("data") or {}).get(ref.key)
        if text is None:
            return read, stalled(Health.stalled("ConfigMapKeyNotFound", f"ConfigMap {ref.name} has no key {ref.key}"))
        return read, text

    async def desired_definition(self, ctx: ObjectContext, spec: PipelineSpec, configmap_text: str | None) -> dict:
        source = definition_source(spec)
        if configmap_text is not None:
            planner.require_sendable(configmap_text, source)
            return planner.definition_document(configmap_text, source)
        if spec.pipelineDefinition is not None:
            planner.require_sendable(definition_text(spec.pipelineDefinition), source)
            return planner.definition_document(spec.pipelineDefinition, source)
        location = spec.pipelineDefinitionS3Location
        assert location is not None  # the spec model requires exactly one of the three sources
        version = {"VersionId": location.versionId} if location.versionId else {}
        response = await call(ctx.client("s3"), "get_object", Bucket=location.bucket, Key=location.objectKey, **version)
        body = await asyncio.to_thread(response["Body"].read)
        return planner.definition_document(body.decode(), source)

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        name = ctx.status.get("pipelineName")
        if not name or (not ctx.status.get("pipelineArn") and not ctx.status.get("createPending")):
            return Cleanup()
        client = ctx.client()
        description = await describe_or_none(client, "describe_pipeline", PipelineName=name)
        if description is None or not await is_owned(ctx, client, description["PipelineArn"]):
            return Cleanup()
        return Cleanup([Call("delete_pipeline", {"PipelineName": name,
                                                 "ClientRequestToken": client_request_token(ctx, "delete-")})],
                       events=[Event("Normal", "Deleted", f"deleted SageMaker pipeline {name}")])
