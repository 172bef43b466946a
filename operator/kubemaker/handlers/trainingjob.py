"""TrainingJob: its create request and log streams around the pure planner in reconcile.trainingjob."""

from __future__ import annotations

from ..api.registry import parse_spec
from ..api.training_job import build_create_training_job_request, build_update_training_job_request
from ..aws.clients import call
from ..aws.errors import is_not_found
from ..reconcile import trainingjob as planner
from ..runtime.outcomes import Plan
from ..runtime.context import ObjectContext
from ..runtime.protocols import MODEL_PACKAGE, MODEL_PACKAGE_GROUP, require_allowed_roles, require_referable
from .common import JobApi, JobController

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
API = JobApi(
    "training job", "describe_training_job", "TrainingJobName", "TrainingJobArn", "TrainingJobStatus",
    "create_training_job", "stop_training_job", "list_training_jobs", "TrainingJobSummaries",
)
# Log streams appear once instances are up; before that there is nothing to look for.
STATES_WITH_LOGS = ("Training", "Uploading", "Completed", "Failed", "Stopped", "MaxRuntimeExceeded", "Interrupted")


class TrainingJobController(JobController):
    kind = "TrainingJob"
    plural = "trainingjobs"
    api = API

    async def create_request(self, ctx: ObjectContext, client, name: str) -> dict:
        spec = parse_spec(self.kind, ctx.spec)
        require_allowed_roles(ctx, ctx.spec.get("roleArn", ""), where="spec.roleArn")
        # The job registers its model into a package group, from a source package: both by ARN.
        packages = spec.modelPackageConfig
        if packages is not None:
            await require_referable(ctx, client, MODEL_PACKAGE_GROUP, packages.modelPackageGroupArn,
                                    "spec.modelPackageConfig.modelPackageGroupArn")
            if packages.sourceModelPackageArn:
                await require_referable(ctx, client, MODEL_PACKAGE, packages.sourceModelPackageArn,
                                        "spec.modelPackageConfig.sourceModelPackageArn")
        return build_create_training_job_request(spec, name, ctx.owner.tag_map())

    def recorded(self, ctx: ObjectContext) -> dict:
        return {"appliedUpdates": planner.applied_updatable(ctx.spec)}

    async def plan_observed(self, ctx: ObjectContext, client, description: dict) -> Plan:
        update = build_update_training_job_request(parse_spec(self.kind, ctx.spec), description["TrainingJobName"])
        return planner.plan_observed(ctx.spec, ctx.status, description, update, ctx.region,
                                     await self.log_streams(ctx, description))

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
