"""TrainingJob: the I/O around the pure planner in reconcile.trainingjob."""

from __future__ import annotations

import datetime

from ..api.registry import parse_spec
from ..api.training_job import build_create_training_job_request, build_update_training_job_request
from ..aws.clients import call
from ..aws.errors import error_code, is_not_found
from ..aws.ownership import describe_owner, owned_by
from ..conditions import Health
from ..controller import ObjectContext, Stall
from ..names import derived_name
from ..reconcile import trainingjob as planner
from ..reconcile.common import Event, Plan
from ..tracker import ListShape, Tracker

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LIST_SHAPE = ListShape("list_training_jobs", "TrainingJobSummaries", "TrainingJobName")
# Log streams appear once instances are up; before that there is nothing to look for.
STATES_WITH_LOGS = ("Training", "Uploading", "Completed", "Failed", "Stopped", "MaxRuntimeExceeded", "Interrupted")


def sagemaker_name(ctx: ObjectContext) -> str:
    return ctx.spec.get("trainingJobName") or ctx.status.get("trainingJobName") or derived_name(
        ctx.namespace, ctx.name, ctx.uid
    )


async def describe(client, name: str) -> dict | None:
    try:
        return await call(client, "describe_training_job", TrainingJobName=name)
    except Exception as error:
        if is_not_found(error):
            return None
        raise


class TrainingJobController:
    kind = "TrainingJob"
    plural = "trainingjobs"

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec_model = parse_spec(self.kind, ctx.spec)
        name = sagemaker_name(ctx)
        client = ctx.client()
        description = await describe(client, name)

        if description is None:
            if ctx.status.get("trainingJobArn"):
                raise Stall("NotFound", f"SageMaker no longer knows training job {name}")
            description = await self.create(ctx, client, spec_model, name)
        elif not ctx.status.get("trainingJobArn"):
            # First sight of a job by this name: ours after a crash mid-create, or someone else's.
            tags = (await call(client, "list_tags", ResourceArn=description["TrainingJobArn"])).get("Tags")
            if not owned_by(tags, ctx.owner):
                raise Stall(
                    "NameInUse",
                    f"a training job named {name} already exists and belongs to {describe_owner(tags)}; "
                    "choose another spec.trainingJobName",
                    status={"createPending": None},
                )

        plan = planner.plan_observed(
            ctx.spec, ctx.status, description, build_update_training_job_request(spec_model, name),
            ctx.region, await self.log_streams(ctx, description),
        )
        if plan.action == "update":
            await call(client, "update_training_job", **plan.request)
        self.follow(ctx, description, plan.track)
        return plan

    async def create(self, ctx: ObjectContext, client, spec_model, name: str) -> dict:
        role = ctx.spec.get("roleArn", "")
        policy = ctx.runtime.config.policy_for(ctx.namespace)
        if not policy.allows_role(role):
            raise Stall("RoleNotAllowed", f"namespace {ctx.namespace} may not use execution role {role} "
                        "(operator configuration: allowedRoleArns)")
        request = build_create_training_job_request(spec_model, name, ctx.owner.tag_map())
        # Recorded before the call: after a crash the next pass finds the job by name instead of
        # guessing, and SageMaker's unique names turn a repeated create into ResourceInUse.
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        await ctx.write_status({"createPending": {"name": name, "startedAt": now}, "trainingJobName": name})
        try:
            await call(client, "create_training_job", **request)
        except Exception as error:
            if error_code(error) != "ResourceInUse":
                await ctx.write_status({"createPending": None})
                raise
        ctx.event(Event("Normal", "Created", f"created SageMaker training job {name}"))
        description = await describe(client, name)
        if description is None:
            raise RuntimeError(f"training job {name} not visible yet after create")
        await ctx.write_status({"appliedUpdates": planner.applied_updatable(ctx.spec)})
        return description

    async def log_streams(self, ctx: ObjectContext, description: dict) -> list[str] | None:
        known = ctx.status.get("logStreams")
        settled = description.get("TrainingJobStatus") in planner.TERMINAL_STATES
        if description.get("SecondaryStatus") not in STATES_WITH_LOGS or (known and not settled):
            return known
        if known and ctx.status.get("trainingJobStatus") == description.get("TrainingJobStatus"):
            return known
        logs = ctx.client("logs")
        response = await call(
            logs, "describe_log_streams", logGroupName=LOG_GROUP,
            logStreamNamePrefix=f"{description['TrainingJobName']}/",
        )
        return [stream["logStreamName"] for stream in response.get("logStreams", [])] or known

    def follow(self, ctx: ObjectContext, description: dict, track: bool) -> None:
        name = description["TrainingJobName"]
        if track:
            self.tracker.track(
                ctx.namespace, ctx.region, name, ctx.key,
                description.get("LastModifiedTime") or description["CreationTime"], description["CreationTime"],
            )
        else:
            self.tracker.untrack(ctx.region, ctx.namespace, name)

    async def finalize(self, ctx: ObjectContext) -> str | None:
        name = ctx.status.get("trainingJobName")
        if ctx.spec.get("deletionPolicy") == "Retain" or not name:
            return None
        if not ctx.status.get("trainingJobArn") and not ctx.status.get("createPending"):
            return None  # never created anything
        client = ctx.client()
        description = await describe(client, name)
        if description is None:
            return None
        tags = (await call(client, "list_tags", ResourceArn=description["TrainingJobArn"])).get("Tags")
        if not owned_by(tags, ctx.owner):
            return None  # never stop someone else's job
        state = description["TrainingJobStatus"]
        if state == "InProgress":
            await call(client, "stop_training_job", TrainingJobName=name)
            ctx.event(Event("Normal", "Stopping", f"stopping SageMaker training job {name} before deletion"))
            return f"waiting for training job {name} to stop"
        if state == "Stopping":
            return f"waiting for training job {name} to stop"
        self.tracker.untrack(ctx.region, ctx.namespace, name)
        return None
