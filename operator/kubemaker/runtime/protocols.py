"""The protocols every kind's observation uses, written once: describe-or-None, the ownership check
before touching a SageMaker object, adoption, the role policy and SageMaker objects used by name.
The judgements are reconcile.tenancy's; the create-once protocol is the reconciler's."""

from __future__ import annotations

from ..aws.clients import call
from ..aws.errors import is_not_found
from ..aws.ownership import describe_owner, owned_by
from ..conditions import Health
from ..reconcile import tenancy
from .context import ObjectContext
from .outcomes import Event, SageMakerObject, Stall


async def describe_or_none(client, operation: str, **params) -> dict | None:
    try:
        return await call(client, operation, **params)
    except Exception as error:
        if is_not_found(error):
            return None
        raise


async def tags_of(client, arn: str) -> list[dict]:
    """Every tag of the object: ownership tags may be on any page."""
    tags: list[dict] = []
    params = {"ResourceArn": arn}
    while True:
        page = await call(client, "list_tags", **params)
        tags += page.get("Tags") or []
        if not page.get("NextToken"):
            return tags
        params["NextToken"] = page["NextToken"]


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
    await call(client, "add_tags", ResourceArn=arn,
               Tags=[{"Key": k, "Value": v} for k, v in ctx.owner.tag_map().items()])
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


MODEL = SageMakerObject("model", "describe_model", "ModelName", "ModelArn")
PIPELINE = SageMakerObject("pipeline", "describe_pipeline", "PipelineName", "PipelineArn")
TUNING_JOB = SageMakerObject("tuning job", "describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
                       "HyperParameterTuningJobArn")
MODEL_PACKAGE = SageMakerObject("model package", "describe_model_package", "ModelPackageName", "ModelPackageArn")
MODEL_PACKAGE_GROUP = SageMakerObject("model package group", "describe_model_package_group", "ModelPackageGroupName",
                                "ModelPackageGroupArn")


async def require_referable(ctx: ObjectContext, client, kind: SageMakerObject, name: str,
                            field_name: str) -> dict | None:
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
