"""HyperParameterTuningJob: its create request around the pure planner in reconcile.tuning. The
training jobs a tuning job launches are SageMaker's: reported through the tuning job, never touched."""

from __future__ import annotations

from ..api.registry import parse_spec_as
from ..api.tuning_job import (
    HyperParameterTuningJobSpec,
    build_create_hyper_parameter_tuning_job_request,
    referenced_tuning_jobs,
)
from ..reconcile import tuning as planner
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Plan
from ..runtime.protocols import TUNING_JOB, require_allowed_roles, require_referable
from .common import JobApi, JobController

API = JobApi(
    "tuning job", "describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName", "HyperParameterTuningJobArn",
    "HyperParameterTuningJobStatus", "create_hyper_parameter_tuning_job", "stop_hyper_parameter_tuning_job",
    "list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries",
)


class TuningJobController(JobController):
    kind = "HyperParameterTuningJob"
    plural = "hyperparametertuningjobs"
    api = API

    async def create_request(self, ctx: ObjectContext, client, name: str) -> dict | Plan:
        spec = parse_spec_as(HyperParameterTuningJobSpec, ctx.spec)
        parent_names = planner.resolve_parents(
            {ref: ctx.referenced(self.kind, ref) for ref in referenced_tuning_jobs(spec)})
        if isinstance(parent_names, Plan):
            return parent_names
        definitions = [spec.trainingJobDefinition] if spec.trainingJobDefinition else spec.trainingJobDefinitions
        require_allowed_roles(ctx, *(definition.roleArn for definition in definitions),
                              where="a trainingJobDefinition's roleArn")
        for parent in planner.named_parents(spec):
            await require_referable(ctx, client, TUNING_JOB, parent,
                                    "spec.warmStartConfig.parentHyperParameterTuningJobs")
        return build_create_hyper_parameter_tuning_job_request(spec, name, parent_names, ctx.owner.tag_map())

    async def plan_observed(self, ctx: ObjectContext, client, description: dict) -> Plan:
        return planner.plan_observed(ctx.status, description, ctx.region)
