"""Tenancy judgements as tables: roles in requests and pipeline definitions, SageMaker objects used
by name, adoption of objects others own."""

from __future__ import annotations

import pytest

from kubemaker.aws.ownership import Owner
from kubemaker.conditions import STALLED
from kubemaker.config import NamespacePolicy, OperatorConfig
from kubemaker.reconcile import tenancy

ALLOWED = "arn:aws:iam::111111111111:role/team-b-sagemaker"
FORBIDDEN = "arn:aws:iam::111111111111:role/team-a-sagemaker"
POLICY = NamespacePolicy(allowedRoleArns=["arn:aws:iam::111111111111:role/team-b-*"])
MODEL_ARN = "arn:aws:sagemaker:us-east-1:111111111111:model/shared-scorer"


def tags(namespace: str | None = None, name: str = "obj", uid: str = "uid-1", kind: str = "Model") -> list[dict]:
    if namespace is None:
        return [{"Key": "team", "Value": "ml"}]
    return [{"Key": "kubemaker.io/kind", "Value": kind}, {"Key": "kubemaker.io/namespace", "Value": namespace},
            {"Key": "kubemaker.io/name", "Value": name}, {"Key": "kubemaker.io/uid", "Value": uid}]


def training_step(role) -> dict:
    return {"Name": "Train", "Type": "Training", "Arguments": {"RoleArn": role, "AlgorithmSpecification": {}}}


def definition(*steps, parameters=()) -> dict:
    return {"Version": "2020-12-01", "Parameters": list(parameters), "Steps": list(steps)}


ROLE_PARAMETER = {"Name": "Role", "Type": "String", "DefaultValue": ALLOWED}


def test_definition_roles_finds_literal_parameter_and_computed_roles_anywhere_in_the_steps():
    document = definition(
        training_step(ALLOWED),
        {"Name": "Register", "Type": "Model", "Arguments": {"ExecutionRoleArn": {"Get": "Parameters.Role"}}},
        {"Name": "Branch", "Type": "Condition", "Arguments": {"IfSteps": [training_step(FORBIDDEN)], "ElseSteps": [
            training_step({"Std:Join": {"On": "", "Values": ["arn:aws:iam::1:role/", {"Get": "Parameters.X"}]}})]}},
        parameters=[ROLE_PARAMETER],
    )
    roles = tenancy.definition_roles(document)
    assert roles.literal == {ALLOWED, FORBIDDEN}
    assert roles.parameters == {"Role": ALLOWED}
    assert roles.unreadable == ["Steps[2].Arguments.ElseSteps[0].Arguments.RoleArn"]


@pytest.mark.parametrize("document, refused_role", [
    (definition(training_step(ALLOWED)), None),
    (definition(training_step(FORBIDDEN)), FORBIDDEN),
    (definition(training_step({"Get": "Parameters.Role"}), parameters=[ROLE_PARAMETER]), None),
    (definition(training_step({"Get": "Parameters.Role"}), parameters=[{**ROLE_PARAMETER, "DefaultValue": FORBIDDEN}]),
     FORBIDDEN),
    # A role parameter with no default: only executions give it, and their values are checked.
    (definition(training_step({"Get": "Parameters.Role"}), parameters=[{"Name": "Role", "Type": "String"}]), None),
    (definition(), None),
])
def test_pipeline_definition_roles_are_checked_against_the_namespace_policy(document, refused_role):
    refusal = tenancy.pipeline_definition_refusal("team-b", POLICY, document, "spec.pipelineDefinition")
    if refused_role is None:
        assert refusal is None
    else:
        assert refusal.state == STALLED and refusal.reason == "RoleNotAllowed"
        assert refused_role in refusal.message and "allowedRoleArns" in refusal.message
        assert "spec.pipelineDefinition" in refusal.message


def test_a_computed_role_in_a_definition_is_refused_as_uncheckable():
    document = definition(training_step({"Std:Join": {"On": "", "Values": ["arn:aws:iam::1:role/", "x"]}}))
    refusal = tenancy.pipeline_definition_refusal("team-b", POLICY, document, "ConfigMap defs key pipeline.json")
    assert refusal.reason == "RoleNotAllowed"
    assert "Steps[0].Arguments.RoleArn" in refusal.message and "ConfigMap defs key pipeline.json" in refusal.message


@pytest.mark.parametrize("parameters, refused", [
    (None, False),
    ([{"Name": "Role", "Value": ALLOWED}], False),
    ([{"Name": "Role", "Value": FORBIDDEN}], True),
    # Parameters the steps do not use as roles are not roles.
    ([{"Name": "InstanceType", "Value": FORBIDDEN}], False),
])
def test_an_executions_role_parameters_are_checked(parameters, refused):
    document = definition(training_step({"Get": "Parameters.Role"}), parameters=[ROLE_PARAMETER])
    refusal = tenancy.execution_role_refusal("team-b", POLICY, document, parameters)
    assert (refusal is not None) == refused
    if refused:
        assert refusal.reason == "RoleNotAllowed" and "spec.pipelineParameters Role" in refusal.message


def test_role_refusal_names_the_first_refused_role_and_where_it_comes_from():
    refusal = tenancy.role_refusal("team-b", POLICY, [("spec.roleArn", ALLOWED), ("spec.roleArn", None),
                                                      ("spec.executionRoleArn", FORBIDDEN)])
    assert refusal.reason == "RoleNotAllowed"
    assert f"namespace team-b may not use execution role {FORBIDDEN} (spec.executionRoleArn;" in refusal.message
    assert tenancy.role_refusal("team-b", POLICY, [("spec.roleArn", ALLOWED)]) is None
    # An empty allow-list allows no role at all.
    assert tenancy.role_refusal("team-b", NamespacePolicy(allowedRoleArns=[]), [("spec.roleArn", ALLOWED)]) is not None


@pytest.mark.parametrize("owner_tags, patterns, allowed", [
    (tags("team-b"), [], True),  # its own namespace's object
    (tags("team-a"), [], False),  # another namespace's
    (tags(None), [], False),  # made outside Kubemaker: needs the explicit allowance too
    (tags("team-a"), ["arn:aws:sagemaker:*:*:model/shared-*"], True),
    (tags(None), ["arn:aws:sagemaker:*:*:model/shared-*"], True),
    # SageMaker lowercases names in ARNs; patterns match whatever case they are written in.
    (tags(None), ["arn:aws:sagemaker:*:*:model/Shared-Scorer"], True),
    (tags(None), ["arn:aws:sagemaker:*:*:pipeline/shared-*"], False),  # another kind
    (tags(None), ["arn:aws:sagemaker:*:*:model/shared"], False),  # globs match whole ARNs
])
def test_a_sagemaker_object_used_by_name_must_be_the_namespaces_own_or_allowed(owner_tags, patterns, allowed):
    policy = NamespacePolicy(allowedSageMakerReferences=patterns)
    refusal = tenancy.reference_refusal("team-b", policy, "model", "shared-scorer", MODEL_ARN, owner_tags, "spec.modelName")
    assert (refusal is None) == allowed
    if not allowed:
        assert refusal.state == STALLED and refusal.reason == "ReferenceNotAllowed"
        assert "allowedSageMakerReferences" in refusal.message and MODEL_ARN in refusal.message
        assert "spec.modelName" in refusal.message


def test_a_refused_reference_names_the_owner():
    refusal = tenancy.reference_refusal("team-b", NamespacePolicy(), "pipeline", "etl", MODEL_ARN,
                                        tags("team-a", "etl", kind="Pipeline"), "spec.pipelineName")
    assert "belongs to Pipeline team-a/etl" in refusal.message
    refusal = tenancy.reference_refusal("team-b", NamespacePolicy(), "pipeline", "etl", MODEL_ARN, [], "spec.pipelineName")
    assert "no Kubemaker owner" in refusal.message


ME = Owner("Endpoint", "team-b", "web", "uid-b")


@pytest.mark.parametrize("existing_tags, refused", [
    (tags(None), False),  # nobody's: adoptable (if the policy allows adoption)
    ([], False),
    (tags("team-b", "web", "uid-b", kind="Endpoint"), False),  # already ours
    # Left behind (Retain) by an earlier object of the same kind, namespace and name: taken back.
    (tags("team-b", "web", "uid-old", kind="Endpoint"), False),
    (tags("team-a", "web", "uid-a", kind="Endpoint"), True),  # another namespace's object
    (tags("team-b", "other", "uid-o", kind="Endpoint"), True),  # another object of this namespace
    (tags("team-b", "web", "uid-m", kind="Model"), True),  # another kind's object of the same name
])
def test_adoption_never_takes_an_object_another_kubemaker_object_owns(existing_tags, refused):
    refusal = tenancy.adoption_refusal(ME, "endpoint", "web-prod", existing_tags)
    assert (refusal is not None) == refused
    if refused:
        assert refusal.state == STALLED and refusal.reason == "OwnedByAnotherObject"
        values = {tag["Key"]: tag["Value"] for tag in existing_tags}
        assert f"namespace {values['kubemaker.io/namespace']}, name {values['kubemaker.io/name']}" in refusal.message


def test_the_reference_allowance_is_part_of_the_namespace_policy_and_defaults_to_none():
    config = OperatorConfig.model_validate({
        "defaultNamespacePolicy": {"allowedRoleArns": []},
        "namespacePolicies": {"team-b": {"allowedSageMakerReferences": ["arn:aws:sagemaker:*:*:model/shared-*"]}},
    })
    assert config.policy_for("team-b").allows_reference(MODEL_ARN)
    assert not config.policy_for("team-c").allows_reference(MODEL_ARN)
    assert not config.policy_for("team-c").allows_role(ALLOWED)


def test_the_names_a_spec_uses_sagemaker_objects_by():
    from kubemaker.api.registry import parse_spec
    from kubemaker.reconcile import model, tuning

    assert model.model_packages({"Containers": [{"ModelPackageName": "arn:p/1"}, {"Image": "i"}]}) == ["arn:p/1"]
    assert model.model_packages({"PrimaryContainer": {"ModelPackageName": "p"}}) == ["p"]
    spec = parse_spec("HyperParameterTuningJob", {
        "hyperParameterTuningJobConfig": {"strategy": "Random", "resourceLimits": {"maxNumberOfTrainingJobs": 1,
                                                                                    "maxParallelTrainingJobs": 1}},
        "trainingJobDefinition": {"roleArn": ALLOWED, "algorithmSpecification": {"trainingImage": "i", "trainingInputMode": "File"},
                                  "outputDataConfig": {"s3OutputPath": "s3://b/o"}, "stoppingCondition": {"maxRuntimeInSeconds": 60},
                                  "resourceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGB": 1}},
        "warmStartConfig": {"warmStartType": "TransferLearning", "parentHyperParameterTuningJobs": [
            {"hyperParameterTuningJobName": "theirs"}, {"ref": {"name": "ours"}}]},
    })
    assert tuning.named_parents(spec) == ["theirs"]
