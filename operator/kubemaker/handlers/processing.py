"""ProcessingJob: its create request around the pure planner in reconcile.processing."""

from __future__ import annotations

from ..api.processing_job import ProcessingJobSpec, build_create_processing_job_request
from ..api.registry import parse_spec_as
from ..reconcile import processing as planner
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Plan
from ..runtime.protocols import require_allowed_roles
from .common import JobApi, JobController

API = JobApi(
    "processing job", "describe_processing_job", "ProcessingJobName", "ProcessingJobArn", "ProcessingJobStatus",
    "create_processing_job", "stop_processing_job", "list_processing_jobs", "ProcessingJobSummaries",
)


class ProcessingJobController(JobController):
    kind = "ProcessingJob"
    plural = "processingjobs"
    api = API

    async def create_request(self, ctx: ObjectContext, client, name: str) -> dict:
        spec = parse_spec_as(ProcessingJobSpec, ctx.spec)
        require_allowed_roles(ctx, spec.roleArn, where="spec.roleArn")
        return build_create_processing_job_request(spec, name, ctx.owner.tag_map())

    async def plan_observed(self, ctx: ObjectContext, client, description: dict) -> Plan:
        return planner.plan_observed(ctx.status, description, ctx.region)
