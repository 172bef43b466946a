"""I/O every kind's controller does the same way: describe-or-None, the ownership check before
touching a SageMaker object, adoption, the role policy, SageMaker objects used by name, the
create-once protocol of jobs and stop-on-delete. The judgements are reconcile.tenancy's."""

from __future__ import annotations

from dataclasses import dataclass

from ..aws.clients import call
from ..aws.errors import error_code, is_not_found
from ..aws.ownership import describe_owner, owned_by
from ..conditions import Health, now_iso
from ..controller import ObjectContext, Stall
from ..names import MAX_NAME_LENGTH, derived_name
from ..reconcile import tenancy
from ..reconcile.common import Event
from ..tracker import Tracker


async def describe_or_none(client, operation: str, **params) -> dict | None:
    try:
        return await call(client, operation, **params)
    except Exception as error:
        if is_not_found(error):
            return None
        raise


async def tags_of(client, arn: str) -> list[dict]:
    return (await call(client, "list_tags", ResourceArn=arn)).get("Tags") or []


async def is_owned(ctx: ObjectContext, client, arn: str) -> bool:
    return owned_by(await tags_of(client, arn), ctx.owner)


async def require_owned(ctx: ObjectContext, client, arn: str, what: str, name_field: str) -> None:
    """Stalls unless the SageMaker object carries this object's ownership tags."""
    tags = await tags_of(client, arn)
    if not owned_by(tags, ctx.owner):
        raise Stall(
            "NameInUse",
            f"{what} already exists and belongs to {describe_owner(tags)}; choose another spec.{name_field}",
            status={"createPending": None},
        )


async def adopt_or_refuse(ctx: ObjectContext, client, arn: str, kind: str, name: str, adopt: bool) -> bool:
    """A SageMaker object by our name that we did not record: go on if it carries our tags, tag it
    as ours if the object asks to adopt it and the namespace allows it, else Stall. True if adopted."""
    tags = await tags_of(client, arn)
    if owned_by(tags, ctx.owner):
        return False
    owner = describe_owner(tags)
    if not adopt:
        raise Stall("NameInUse", f"a SageMaker {kind} named {name} already exists and belongs to {owner}; "
                    "choose another name, or set adoptExisting: true to take it over")
    refusal = tenancy.adoption_refusal(ctx.owner, kind, name, tags)
    if refusal is not None:
        raise stall(refusal)
    if not ctx.runtime.config.policy_for(ctx.namespace).allow_adoption:
        raise Stall("AdoptionNotAllowed", f"namespace {ctx.namespace} may not adopt the existing {kind} {name} "
                    "(operator configuration: allowAdoption)")
    await call(client, "add_tags", ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in ctx.owner.tag_map().items()])
    ctx.event(Event("Normal", "Adopted", f"adopted the existing SageMaker {kind} {name} (was {owner})"))
    return True


def stall(health: Health) -> Stall:
    return Stall(health.reason, health.message)


def require_allowed_roles(ctx: ObjectContext, *roles: str | None, where: str = "spec") -> None:
    """Before any request that passes a role, on create and update alike: nothing is sent otherwise."""
    refusal = tenancy.role_refusal(ctx.namespace, ctx.runtime.config.policy_for(ctx.namespace),
                                   [(where, role) for role in roles])
    if refusal is not None:
        raise stall(refusal)


@dataclass(frozen=True)
class Referable:
    """A kind of SageMaker object a spec may name, and how to find its ARN."""

    noun: str
    describe: str
    name_member: str
    arn_member: str


MODEL = Referable("model", "describe_model", "ModelName", "ModelArn")
PIPELINE = Referable("pipeline", "describe_pipeline", "PipelineName", "PipelineArn")
TUNING_JOB = Referable("tuning job", "describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
                       "HyperParameterTuningJobArn")
MODEL_PACKAGE = Referable("model package", "describe_model_package", "ModelPackageName", "ModelPackageArn")
MODEL_PACKAGE_GROUP = Referable("model package group", "describe_model_package_group", "ModelPackageGroupName",
                                "ModelPackageGroupArn")


async def require_referable(ctx: ObjectContext, client, kind: Referable, name: str, field_name: str) -> dict | None:
    """Stalls unless the namespace may use the SageMaker object `name` (its tags name this namespace,
    or the policy lists it); its description, or None when it does not exist (SageMaker's own
    refusal then says so, and nobody's object was used)."""
    description = await describe_or_none(client, kind.describe, **{kind.name_member: name})
    if description is None:
        return None
    arn = description[kind.arn_member]
    if kind is MODEL_PACKAGE and description.get("ModelPackageGroupName"):
        # A version belongs to its group, whose tags say who owns it (a version may carry none).
        group = await call(client, "describe_model_package_group",
                           ModelPackageGroupName=description["ModelPackageGroupName"])
        tags = await tags_of(client, group["ModelPackageGroupArn"])
    else:
        tags = await tags_of(client, arn)
    refusal = tenancy.reference_refusal(ctx.namespace, ctx.runtime.config.policy_for(ctx.namespace), kind.noun,
                                        name, arn, tags, field_name)
    if refusal is not None:
        raise stall(refusal)
    return description


def lower_first(member: str) -> str:
    return member[:1].lower() + member[1:]


@dataclass(frozen=True)
class JobApi:
    """The SageMaker operations and members of one kind of run-once job."""

    noun: str  # "training job", as messages name it
    name_member: str  # TrainingJobName
    arn_member: str  # TrainingJobArn
    state_member: str  # TrainingJobStatus
    describe: str  # describe_training_job
    create: str
    stop: str

    @property
    def name_field(self) -> str:
        """The spec and status field of the SageMaker name: trainingJobName."""
        return lower_first(self.name_member)

    @property
    def arn_field(self) -> str:
        return lower_first(self.arn_member)

    def sagemaker_name(self, ctx: ObjectContext, max_length: int = MAX_NAME_LENGTH) -> str:
        """The spec's name, else the one status recorded, else one derived from the object."""
        return ctx.spec.get(self.name_field) or ctx.status.get(self.name_field) or derived_name(
            ctx.namespace, ctx.name, ctx.uid, max_length
        )

    async def describe_job(self, client, name: str) -> dict | None:
        return await describe_or_none(client, self.describe, **{self.name_member: name})

    async def observe(self, ctx: ObjectContext, client, name: str) -> dict | None:
        """The job by its name; None when it does not exist yet. A job found before status records
        its ARN is ours after a crash mid-create, or someone else's: the tags tell."""
        if not ctx.spec.get(self.name_field) and not ctx.status.get(self.name_field):
            # A name derived from the object's uid, never recorded: nobody can have created it,
            # since status records the name before any create. One call fewer per new object.
            return None
        description = await self.describe_job(client, name)
        if description is None:
            if ctx.status.get(self.arn_field):
                raise Stall("NotFound", f"SageMaker no longer knows {self.noun} {name}")
        elif not ctx.status.get(self.arn_field):
            await require_owned(ctx, client, description[self.arn_member], f"a {self.noun} named {name}", self.name_field)
        return description

    async def create_once(
        self, ctx: ObjectContext, client, name: str, request: dict, recorded: dict | None = None
    ) -> dict:
        """Creates the job; the name is recorded as create-pending before the call, so after a crash
        the next pass finds the job by name, and SageMaker's unique names turn a repeated create
        into ResourceInUse instead of a second job. `recorded`: more status fields the same write
        records, true once the job exists."""
        await ctx.write_status({"createPending": {"name": name, "startedAt": now_iso()}, self.name_field: name,
                                **(recorded or {})})
        try:
            await call(client, self.create, **request)
        except Exception as error:
            if error_code(error) != "ResourceInUse":
                await ctx.write_status({"createPending": None})
                raise
        ctx.event(Event("Normal", "Created", f"created SageMaker {self.noun} {name}"))
        description = await self.describe_job(client, name)
        if description is None:
            raise RuntimeError(f"{self.noun} {name} not visible yet after create")
        return description

    async def stop_on_delete(self, ctx: ObjectContext, tracker: Tracker) -> str | None:
        """The finalizer of a job: stops it if it runs and is ours; None once nothing is left to do."""
        name = ctx.status.get(self.name_field)
        if ctx.spec.get("deletionPolicy") == "Retain" or not name:
            return None
        if not ctx.status.get("createPending") and not ctx.status.get(self.arn_field):
            return None  # never created anything
        client = ctx.client()
        description = await self.describe_job(client, name)
        if description is None or not await is_owned(ctx, client, description[self.arn_member]):
            return None  # gone, or someone else's: never stop that
        state = description[self.state_member]
        if state == "InProgress":
            await call(client, self.stop, **{self.name_member: name})
            ctx.event(Event("Normal", "Stopping", f"stopping SageMaker {self.noun} {name} before deletion"))
            return f"waiting for {self.noun} {name} to stop"
        if state == "Stopping":
            return f"waiting for {self.noun} {name} to stop"
        tracker.untrack(ctx.region, ctx.namespace, name)
        return None

    def follow(self, ctx: ObjectContext, tracker: Tracker, description: dict, track: bool) -> None:
        """Registers the job with the batched tracker while it can still change."""
        name = description[self.name_member]
        if track:
            tracker.track(
                ctx.namespace, ctx.region, name, ctx.key,
                description.get("LastModifiedTime") or description["CreationTime"], description["CreationTime"],
            )
        else:
            tracker.untrack(ctx.region, ctx.namespace, name)


class JobController:
    """What the run-once job kinds (training, tuning, transform) share: the batched tracker that
    wakes them, and stopping the job on delete."""

    api: JobApi

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    async def finalize(self, ctx: ObjectContext) -> str | None:
        return await self.api.stop_on_delete(ctx, self.tracker)
