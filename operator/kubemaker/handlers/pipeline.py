"""Pipeline: the I/O around the pure planner in reconcile.pipeline.

The definition comes from the spec, a ConfigMap key or an S3 object. Referenced ConfigMaps are
followed, so editing the key updates the pipeline without touching the Pipeline object."""

from __future__ import annotations

import asyncio
import logging

import kubernetes

from ..api.pipeline import PipelineSpec, build_create_pipeline_request, build_update_pipeline_request, inline_definition
from ..api.registry import parse_spec
from ..aws.clients import call
from ..conditions import now_iso
from ..controller import ObjectContext, Stall
from ..names import derived_name
from ..reconcile import pipeline as planner
from ..reconcile import tenancy
from ..reconcile.common import Event, Plan
from ..runtime import ObjectKey, Runtime
from .common import adopt_or_refuse, describe_or_none, is_owned, require_allowed_roles, stall

log = logging.getLogger(__name__)
# Referenced ConfigMaps are read again every this many poll intervals.
CONFIGMAP_REFRESH_POLLS = 6


def sagemaker_name(ctx: ObjectContext) -> str:
    return ctx.spec.get("pipelineName") or ctx.status.get("pipelineName") or derived_name(ctx.namespace, ctx.name, ctx.uid)


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
    return f"s3://{location.bucket}/{location.objectKey}"


class PipelineController:
    kind = "Pipeline"
    plural = "pipelines"

    def __init__(self, configmaps: "ConfigMapTracker"):
        self.configmaps = configmaps

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec_model: PipelineSpec = parse_spec(self.kind, ctx.spec)
        name = sagemaker_name(ctx)
        configmap_text = await self.configmap_definition(ctx, spec_model)
        try:
            desired = await self.desired_definition(ctx, spec_model, configmap_text)
        except planner.InvalidDefinition as error:
            raise Stall("InvalidDefinition", str(error)) from None
        # Create and UpdatePipeline both pass the pipeline's role and its steps' roles.
        require_allowed_roles(ctx, spec_model.roleArn, where="spec.roleArn")
        refusal = tenancy.pipeline_definition_refusal(
            ctx.namespace, ctx.runtime.config.policy_for(ctx.namespace), desired, definition_source(spec_model)
        )
        if refusal is not None:
            raise stall(refusal)
        client = ctx.client()
        description = await describe_or_none(client, "describe_pipeline", PipelineName=name)
        if description is None:
            if ctx.status.get("pipelineArn"):
                raise Stall("NotFound", f"SageMaker pipeline {name} was deleted outside the operator; "
                            "re-create this Pipeline object to create it again")
            description = await self.create(ctx, client, spec_model, name, configmap_text)
        elif not ctx.status.get("pipelineArn"):
            # Ours after a crash mid-create, one to adopt, or someone else's.
            await adopt_or_refuse(ctx, client, description["PipelineArn"], "pipeline", name, bool(spec_model.adoptExisting))

        latest = (await call(
            client, "list_pipeline_executions", PipelineName=name, SortBy="CreationTime", SortOrder="Descending",
            MaxResults=1,
        )).get("PipelineExecutionSummaries") or [None]
        plan = planner.plan_observed(
            description, build_update_pipeline_request(spec_model, name, configmap_text), desired, latest[0], ctx.region
        )
        if plan.action == "update":
            await call(client, "update_pipeline", **plan.request)
        elif plan.requeue_after is None:
            # Executions started outside this operator, and changes made in the console, show
            # up within the resync interval; our own PipelineExecutions wake the object at once.
            plan.requeue_after = ctx.runtime.config.resync_interval_seconds
        return plan

    async def configmap_definition(self, ctx: ObjectContext, spec: PipelineSpec) -> str | None:
        """The definition text from spec.pipelineDefinitionFrom.configMapKeyRef (None without one)."""
        self.configmaps.forget(ctx.key)
        if spec.pipelineDefinitionFrom is None:
            return None
        ref = spec.pipelineDefinitionFrom.configMapKeyRef
        self.configmaps.follow(ctx.key, ctx.namespace, ref.name)
        try:
            configmap = await asyncio.to_thread(ctx.runtime.core.read_namespaced_config_map, ref.name, ctx.namespace)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise Stall("ConfigMapNotFound", f"ConfigMap {ref.name} does not exist") from None
            raise
        self.configmaps.seen(ctx.namespace, ref.name, configmap.metadata.resource_version)
        text = (configmap.data or {}).get(ref.key)
        if text is None:
            raise Stall("ConfigMapKeyNotFound", f"ConfigMap {ref.name} has no key {ref.key}")
        return text

    async def desired_definition(self, ctx: ObjectContext, spec: PipelineSpec, configmap_text: str | None) -> dict:
        source = definition_source(spec)
        if configmap_text is not None:
            planner.require_sendable(configmap_text, source)
            return planner.definition_document(configmap_text, source)
        if spec.pipelineDefinition is not None:
            planner.require_sendable(inline_definition(spec), source)
            return planner.definition_document(spec.pipelineDefinition, source)
        location = spec.pipelineDefinitionS3Location
        version = {"VersionId": location.versionId} if location.versionId else {}
        response = await call(ctx.client("s3"), "get_object", Bucket=location.bucket, Key=location.objectKey, **version)
        body = await asyncio.to_thread(response["Body"].read)
        return planner.definition_document(body.decode(), source)

    async def create(self, ctx: ObjectContext, client, spec: PipelineSpec, name: str, configmap_text: str | None) -> dict:
        request = build_create_pipeline_request(
            spec, name, client_request_token(ctx), ctx.owner.tag_map(), configmap_text
        )
        await ctx.write_status({"createPending": {"name": name, "startedAt": now_iso()}, "pipelineName": name})
        # The token makes a repeated create (after a crash) return the pipeline made the first time.
        await call(client, "create_pipeline", **request)
        ctx.event(Event("Normal", "Created", f"created SageMaker pipeline {name}"))
        description = await describe_or_none(client, "describe_pipeline", PipelineName=name)
        if description is None:
            raise RuntimeError(f"pipeline {name} not visible yet after create")
        return description

    async def finalize(self, ctx: ObjectContext) -> str | None:
        self.configmaps.forget(ctx.key)
        name = ctx.status.get("pipelineName")
        if ctx.spec.get("deletionPolicy") == "Retain" or not name:
            return None
        if not ctx.status.get("pipelineArn") and not ctx.status.get("createPending"):
            return None
        client = ctx.client()
        description = await describe_or_none(client, "describe_pipeline", PipelineName=name)
        if description is None or not await is_owned(ctx, client, description["PipelineArn"]):
            return None
        await call(client, "delete_pipeline", PipelineName=name, ClientRequestToken=client_request_token(ctx, "delete-"))
        ctx.event(Event("Normal", "Deleted", f"deleted SageMaker pipeline {name}"))
        return None


class ConfigMapTracker:
    """Notices edits of the ConfigMaps that hold pipeline definitions.

    The operator may only get ConfigMaps by name: list and watch would hand it every ConfigMap in the
    cluster. So each referenced ConfigMap is read every CONFIGMAP_REFRESH_POLLS poll intervals (one
    GET, however many Pipelines share it), and its Pipelines are woken when its resourceVersion moved."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.readers: dict[tuple[str, str], set[ObjectKey]] = {}
        self.versions: dict[tuple[str, str], str] = {}

    def follow(self, key: ObjectKey, namespace: str, configmap: str) -> None:
        self.readers.setdefault((namespace, configmap), set()).add(key)

    def seen(self, namespace: str, configmap: str, resource_version: str) -> None:
        self.versions[(namespace, configmap)] = resource_version

    def forget(self, key: ObjectKey) -> None:
        for configmap, readers in list(self.readers.items()):
            readers.discard(key)
            if not readers:
                del self.readers[configmap]
                self.versions.pop(configmap, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.config.poll_interval_seconds * CONFIGMAP_REFRESH_POLLS)
            for (namespace, name), readers in list(self.readers.items()):
                try:
                    configmap = await asyncio.to_thread(self.runtime.core.read_namespaced_config_map, name, namespace)
                    version = configmap.metadata.resource_version
                except kubernetes.client.ApiException as error:
                    if error.status != 404:
                        log.warning("reading ConfigMap %s/%s failed: %s", namespace, name, error.reason)
                        continue
                    version = None  # deleted: the Pipelines report it
                except Exception as error:  # e.g. the API server restarting: this loop must outlive it
                    log.warning("reading ConfigMap %s/%s failed: %s", namespace, name, error)
                    continue
                if version != self.versions.get((namespace, name)):
                    for key in list(readers):
                        self.runtime.work_queue.add(key)
