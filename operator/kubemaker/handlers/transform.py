"""TransformJob: its create request around the pure planner in reconcile.transform."""

from __future__ import annotations

from ..api.registry import parse_spec_as
from ..api.transform_job import TransformJobSpec, build_create_transform_job_request
from ..reconcile import transform as planner
from ..reconcile.common import model_in_another_region
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Plan, stalled
from ..runtime.protocols import MODEL, require_referable
from .common import JobApi, JobController

API = JobApi(
    "transform job", "describe_transform_job", "TransformJobName", "TransformJobArn", "TransformJobStatus",
    "create_transform_job", "stop_transform_job", "list_transform_jobs", "TransformJobSummaries",
)


class TransformJobController(JobController):
    kind = "TransformJob"
    plural = "transformjobs"
    api = API

    async def create_request(self, ctx: ObjectContext, client, name: str) -> dict | Plan:
        model = None
        if ctx.spec.get("modelRef"):
            ref = ctx.spec["modelRef"]["name"]
            model = ctx.referenced("Model", ref)
            elsewhere = model and model_in_another_region(ref, model, ctx.region, ctx.runtime.config.region)
            if elsewhere:
                return stalled(elsewhere)
        model_name = planner.resolve_model(ctx.spec, model)
        if isinstance(model_name, Plan):
            return model_name
        if ctx.spec.get("modelName"):
            await require_referable(ctx, client, MODEL, model_name, "spec.modelName")
        spec = parse_spec_as(TransformJobSpec, ctx.spec)
        return build_create_transform_job_request(spec, name, model_name, ctx.owner.tag_map())

    async def plan_observed(self, ctx: ObjectContext, client, description: dict) -> Plan:
        return planner.plan_observed(ctx.status, description, ctx.region)
