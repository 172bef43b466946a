"""TrainingJob: the I/O around the pure planner in reconcile.trainingjob."""

from __future__ import annotations

from ..api.registry import parse_spec
from ..api.training_job import build_create_training_job_request, build_update_training_job_request
from ..aws.clients import call
from ..aws.errors import is_not_found
from ..controller import ObjectContext
from ..reconcile import trainingjob as planner
from ..reconcile.common import Plan
from ..tracker import ListShape
from .common import MODEL_PACKAGE, MODEL_PACKAGE_GROUP, JobApi, JobController, require_allowed_roles, require_referable

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LIST_SHAPE = ListShape("list_training_jobs", "TrainingJobSummaries", "TrainingJobName")
API = JobApi(
    "training job", "TrainingJobName", "TrainingJobArn", "TrainingJobStatus",
    "describe_training_job", "create_training_job", "stop_training_job",
)
# Log streams appear once instances are up; before that there is nothing to look for.
STATES_WITH_LOGS = ("Training", "Uploading", "Completed", "Failed", "Stopped", "MaxRuntimeExceeded", "Interrupted")


class TrainingJobController(JobController):
    kind = "TrainingJob"
    plural = "trainingjobs"
    api = API

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec_model = parse_spec(self.kind, ctx.spec)
        name = API.sagemaker_name(ctx)
        client = ctx.client()
        description = await API.observe(ctx, client, name)
        if description is None:
            description = await self.create(ctx, client, spec_model, name)

        plan = planner.plan_observed(
            ctx.spec, ctx.status, description, build_update_training_job_request(spec_model, name),
            ctx.region, await self.log_streams(ctx, description),
        )
        if plan.action == "update":
            await call(client, "update_training_job", **plan.request)
        API.follow(ctx, self.tracker, description, plan.track)
        return plan

    async def create(self, ctx: ObjectContext, client, spec_model, name: str) -> dict:
        require_allowed_roles(ctx, ctx.spec.get("roleArn", ""), where="spec.roleArn")
        # The job registers its model into a package group, from a source package: both by ARN.
        packages = spec_model.modelPackageConfig
        if packages is not None:
            await require_referable(ctx, client, MODEL_PACKAGE_GROUP, packages.modelPackageGroupArn,
                                    "spec.modelPackageConfig.modelPackageGroupArn")
            if packages.sourceModelPackageArn:
                await require_referable(ctx, client, MODEL_PACKAGE, packages.sourceModelPackageArn,
                                        "spec.modelPackageConfig.sourceModelPackageArn")
        request = build_create_training_job_request(spec_model, name, ctx.owner.tag_map())
        return await API.create_once(ctx, client, name, request,
                                     recorded={"appliedUpdates": planner.applied_updatable(ctx.spec)})

    async def log_streams(self, ctx: ObjectContext, description: dict) -> list[str] | None:
        known = ctx.status.get("logStreams")
        settled = description.get("TrainingJobStatus") in planner.TERMINAL_STATES
        if description.get("SecondaryStatus") not in STATES_WITH_LOGS or (known and not settled):
            return known
        if known and ctx.status.get("trainingJobStatus") == description.get("TrainingJobStatus"):
            return known
        try:
            response = await call(
                ctx.client("logs"), "describe_log_streams", logGroupName=LOG_GROUP,
                logStreamNamePrefix=f"{description['TrainingJobName']}/",
            )
        except Exception as error:
            # An account whose jobs never logged has no log group yet: no streams, not a failure.
            if is_not_found(error):
                return known
            raise
        return [stream["logStreamName"] for stream in response.get("logStreams", [])] or known
