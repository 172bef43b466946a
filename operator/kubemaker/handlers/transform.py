"""TransformJob: the I/O around the pure planner in reconcile.transform."""

from __future__ import annotations

from ..api.registry import parse_spec
from ..api.transform_job import build_create_transform_job_request
from ..controller import ObjectContext
from ..reconcile import transform as planner
from ..reconcile.common import Event, Plan, model_in_another_region
from ..tracker import ListShape
from .common import MODEL, JobApi, JobController, require_referable

LIST_SHAPE = ListShape("list_transform_jobs", "TransformJobSummaries", "TransformJobName")
API = JobApi(
    "transform job", "TransformJobName", "TransformJobArn", "TransformJobStatus",
    "describe_transform_job", "create_transform_job", "stop_transform_job",
)


class TransformJobController(JobController):
    kind = "TransformJob"
    plural = "transformjobs"
    api = API

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec_model = parse_spec(self.kind, ctx.spec)
        name = API.sagemaker_name(ctx)
        client = ctx.client()
        description = await API.observe(ctx, client, name)
        if description is None:
            model = None
            if ctx.spec.get("modelRef"):
                ref = ctx.spec["modelRef"]["name"]
                model = await ctx.runtime.get_object("models", ctx.namespace, ref)
                elsewhere = model and model_in_another_region(ref, model, ctx.region, ctx.runtime.config.region)
                if elsewhere:
                    return Plan(health=elsewhere, events=[Event("Warning", elsewhere.reason, elsewhere.message)])
            model_name, waiting = planner.resolve_model(ctx.spec, model)
            if waiting is not None:
                return Plan(health=waiting, requeue_after=ctx.runtime.config.poll_interval_seconds)
            if ctx.spec.get("modelName"):
                await require_referable(ctx, client, MODEL, model_name, "spec.modelName")
            request = build_create_transform_job_request(spec_model, name, model_name, ctx.owner.tag_map())
            description = await API.create_once(ctx, client, name, request)
        plan = planner.plan_observed(ctx.status, description, ctx.region)
        API.follow(ctx, self.tracker, description, plan.track)
        return plan
