"""HyperParameterTuningJob: the I/O around the pure planner in reconcile.tuning. The training jobs
a tuning job launches are SageMaker's: reported through the tuning job, never touched."""

from __future__ import annotations

from ..api.registry import parse_spec
from ..api.tuning_job import (
    HYPER_PARAMETER_TUNING_JOB,
    build_create_hyper_parameter_tuning_job_request,
    referenced_tuning_jobs,
)
from ..controller import ObjectContext, Stall
from ..reconcile import tuning as planner
from ..reconcile.common import Plan
from ..tracker import ListShape
from .common import TUNING_JOB, JobApi, JobController, require_allowed_roles, require_referable

LIST_SHAPE = ListShape("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", "HyperParameterTuningJobName")
API = JobApi(
    "tuning job", "HyperParameterTuningJobName", "HyperParameterTuningJobArn", "HyperParameterTuningJobStatus",
    "describe_hyper_parameter_tuning_job", "create_hyper_parameter_tuning_job", "stop_hyper_parameter_tuning_job",
)


class TuningJobController(JobController):
    kind = "HyperParameterTuningJob"
    plural = "hyperparametertuningjobs"
    api = API

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec_model = parse_spec(self.kind, ctx.spec)
        name = API.sagemaker_name(ctx, HYPER_PARAMETER_TUNING_JOB.name_max_length)
        client = ctx.client()
        description = await API.observe(ctx, client, name)
        if description is None:
            parents = {
                ref: await ctx.runtime.get_object(self.plural, ctx.namespace, ref)
                for ref in referenced_tuning_jobs(spec_model)
            }
            try:
                parent_names, waiting = planner.resolve_parents(parents)
            except planner.ParentFailed as failed:
                raise Stall("ParentFailed", str(failed)) from None
            if waiting is not None:
                return Plan(health=waiting, requeue_after=ctx.runtime.config.poll_interval_seconds)
            definitions = [spec_model.trainingJobDefinition] if spec_model.trainingJobDefinition else spec_model.trainingJobDefinitions
            require_allowed_roles(ctx, *(definition.roleArn for definition in definitions),
                                  where="a trainingJobDefinition's roleArn")
            for parent in planner.named_parents(spec_model):
                await require_referable(ctx, client, TUNING_JOB, parent,
                                        "spec.warmStartConfig.parentHyperParameterTuningJobs")
            request = build_create_hyper_parameter_tuning_job_request(spec_model, name, parent_names, ctx.owner.tag_map())
            description = await API.create_once(ctx, client, name, request)
        plan = planner.plan_observed(ctx.status, description, ctx.region)
        API.follow(ctx, self.tracker, description, plan.track)
        return plan
