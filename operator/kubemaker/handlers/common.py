"""What the run-once job kinds (training, tuning, transform) share: find the job by its name,
plan its create (the core carries it out once), follow it with the batched tracker, stop it on
delete. A job kind adds its create request and its planner."""

from __future__ import annotations

from dataclasses import dataclass

from ..conditions import Health
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, SageMakerObject, Stall, Transient
from ..runtime.protocols import describe_or_none, is_owned, require_owned
from ..runtime.tracker import ListShape, Tracker


def lower_first(member: str) -> str:
    return member[:1].lower() + member[1:]


@dataclass(frozen=True)
class JobApi(SageMakerObject):
    """The SageMaker operations and members of one kind of run-once job."""

    state_member: str = ""  # TrainingJobStatus
    create: str = ""
    stop: str = ""
    list_operation: str = ""  # list_training_jobs
    summaries_member: str = ""  # TrainingJobSummaries

    @property
    def name_field(self) -> str:
        """The spec and status field of the SageMaker name: trainingJobName."""
        return lower_first(self.name_member)

    @property
    def arn_field(self) -> str:
        return lower_first(self.arn_member)

    @property
    def list_shape(self) -> ListShape:
        return ListShape(self.list_operation, self.summaries_member, self.name_member)


class JobController:
    kind: str
    plural: str
    api: JobApi

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    async def create_request(self, ctx: ObjectContext, client, name: str) -> dict | Plan:
        """The create request, or a plan to wait (a reference not ready yet)."""
        raise NotImplementedError

    async def plan_observed(self, ctx: ObjectContext, client, description: dict) -> Plan:
        """Observes what else the planner needs (reads only) and returns its plan."""
        raise NotImplementedError

    def recorded(self, ctx: ObjectContext) -> dict:
        """Status fields true once the job exists, written before the pass looks at the job."""
        return {}

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        client = ctx.client()
        name = ctx.sagemaker_name
        description = await self.observe(ctx, client, name)
        if description is None:
            request = await self.create_request(ctx, client, name)
            if isinstance(request, Plan):
                return request
            return self.create_plan(ctx, name, request)
        plan = await self.plan_observed(ctx, client, description)
        plan.follow = description
        return plan

    async def observe(self, ctx: ObjectContext, client, name: str) -> dict | None:
        """The job by its name; None when it does not exist yet. A job found before status records
        its ARN is ours after a crash mid-create, or someone else's: the tags tell."""
        api = self.api
        if not ctx.spec.get(api.name_field) and not ctx.status.get(api.name_field) and name not in ctx.made:
            # A name derived from the object's uid, never recorded: no pass has seen it created, so
            # create it without asking. After a crash between a create and its status write the
            # create is refused as a name in use, and the tags show the job is ours.
            return None
        description = await describe_or_none(client, api.describe, **{api.name_member: name})
        if description is None:
            if ctx.status.get(api.arn_field):
                raise Stall("NotFound", f"SageMaker no longer knows {api.noun} {name}")
            if name in ctx.made:
                raise Transient(f"{api.noun} {name} not visible yet after create")
        elif not ctx.status.get(api.arn_field) and name not in ctx.made:
            await require_owned(ctx, client, description[api.arn_member], f"a {api.noun} named {name}", api.name_field)
        return description

    def create_plan(self, ctx: ObjectContext, name: str, request: dict) -> Plan:
        """The create, once, with no status write before it: a job's name is given or derived from
        the object's uid, and SageMaker never lets a name be used twice, so a create repeated after a
        crash is ResourceInUse instead of a second job. Status records the name with the job's
        description, in the same pass."""
        api = self.api
        return Plan(
            health=Health.reconciling("Creating", f"creating SageMaker {api.noun} {name}"),
            action=api.create, request=request, creates=api, again=True, status=self.recorded(ctx),
            events=[Event("Normal", "Created", f"created SageMaker {api.noun} {name}")],
        )

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        """Stops the job if it runs and is ours. Status may not have recorded a job that exists (a
        crash right after its create): the job is looked for by name whatever status says."""
        api = self.api
        name = ctx.sagemaker_name
        client = ctx.client()
        description = await describe_or_none(client, api.describe, **{api.name_member: name})
        if description is None or not await is_owned(ctx, client, description[api.arn_member]):
            return Cleanup()  # gone, or someone else's: never stop that
        state = description[api.state_member]
        waiting = f"waiting for {api.noun} {name} to stop"
        if state == "InProgress":
            return Cleanup([Call(api.stop, {api.name_member: name})], waiting,
                           [Event("Normal", "Stopping", f"stopping SageMaker {api.noun} {name} before deletion")])
        if state == "Stopping":
            return Cleanup(waiting=waiting)
        return Cleanup()
