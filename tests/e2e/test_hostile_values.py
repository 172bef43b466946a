"""Oversized and hostile values: each is refused by the API server with a message naming the field,
or ends Stalled with a clear message; the operator never crashes and never loops hot."""

from __future__ import annotations

import json

from tests.e2e.helpers import apply, assert_no_hot_loop, condition, get, wait_for
from tests.e2e.hosting import API_VERSION, ROLE, endpoint, model, ready, variant
from tests.e2e.test_pipeline import definition, pipeline
from tests.e2e.test_trainingjob import training_job

DEPTH = 5000
# SageMaker's limit on PipelineDefinition, in characters.
MAX_DEFINITION_LENGTH = 1_048_576


def pipeline_text(name: str, definition_json: str) -> str:
    """A Pipeline manifest as JSON text: Python's json cannot serialise a document this deep."""
    return (f'{{"apiVersion": "{API_VERSION}", "kind": "Pipeline", "metadata": {{"name": "{name}"}}, '
            f'"spec": {{"roleArn": "{ROLE}", "pipelineDefinition": {definition_json}}}}}')


def stalled_pipeline(kubectl, namespace: str, name: str) -> dict | None:
    """The Pipeline's status (as {"status": ...}) once Stalled for its generation. Read with jsonpath:
    `-o json` indents a 5000-level definition into 100 MB."""
    generation, _, status = kubectl("get", "pipeline", name, "-n", namespace, "-o",
                                    "jsonpath={.metadata.generation} {.status}").stdout.partition(" ")
    obj = {"status": json.loads(status or "{}")}
    stalled = condition(obj, "Stalled")
    return obj if stalled.get("status") == "True" and str(stalled.get("observedGeneration")) == generation else None


def create(kubectl, namespace: str, text: str):
    # Not `apply`: its last-applied annotation would copy the spec, and annotations stop at 256 KiB.
    return kubectl("create", "-n", namespace, "-f", "-", input=text, check=False)


def test_deeply_nested_pipeline_definitions_stall_and_the_operator_stays_up(operator, emulator, kubectl, namespace):
    nested = '{"Nested": ' * DEPTH + "1" + "}" * DEPTH
    manifests = {
        "deep-object": pipeline_text("deep-object", nested),
        "deep-string": pipeline_text("deep-string", json.dumps(nested)),
        # Deeper than anything the operator parses: refused before SageMaker sees it.
        "deeper-string": pipeline_text("deeper-string", json.dumps("[" * 100_000 + "]" * 100_000)),
    }
    for name, text in manifests.items():
        created = create(kubectl, namespace, text)
        assert created.returncode == 0, created.stderr
    for name in manifests:
        obj = wait_for(lambda: stalled_pipeline(kubectl, namespace, name), timeout=60, what=f"{name} Stalled")
        assert "nested too deeply" in condition(obj, "Stalled")["message"], obj
    assert operator.process.poll() is None, "the operator died"
    # The watch survived them: an ordinary Pipeline next to them is still served.
    apply(kubectl, pipeline("ordinary", pipelineDefinition=definition("Train")), namespace)
    wait_for(lambda: ready(kubectl, "pipeline", namespace, "ordinary"), timeout=30, what="an ordinary Pipeline Ready")
    assert_no_hot_loop(emulator)


def test_a_pipeline_definition_over_sagemakers_limit_stalls_saying_where_it_goes(operator, emulator, kubectl, namespace):
    big = {**definition("Train"), "Metadata": {"padding": "x" * MAX_DEFINITION_LENGTH}}
    for name, form in (("big-object", big), ("big-string", json.dumps(big))):
        created = create(kubectl, namespace, pipeline_text(name, json.dumps(form)))
        assert created.returncode == 0, created.stderr
        obj = wait_for(lambda: stalled_pipeline(kubectl, namespace, name), timeout=60, what=f"{name} Stalled")
        stalled = condition(obj, "Stalled")
        assert stalled["reason"] == "InvalidDefinition"
        assert f"SageMaker takes at most {MAX_DEFINITION_LENGTH}" in stalled["message"]
        assert "spec.pipelineDefinitionS3Location" in stalled["message"]
    assert emulator.client("sagemaker").list_pipelines(PipelineNamePrefix=namespace)["PipelineSummaries"] == []
    assert operator.process.poll() is None
    assert_no_hot_loop(emulator)


def test_maps_and_lists_over_sagemakers_limits_are_refused_by_the_api_server(operator, kubectl, namespace):
    entries = {f"p{i}": str(i) for i in range(5000)}
    refused = [
        ("spec.hyperParameters", "must have at most 100", training_job("hyper", hyperParameters=entries)),
        ("spec.primaryContainer.environment", "must have at most 100", model("env", primaryContainer={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.0", "environment": entries})),
        # 46 leaves room for the operator's 4 ownership tags within SageMaker's 50.
        ("spec.tags", "must have at most 46", model("tagged", tags=[{"key": f"größe-{i}", "value": "ü"}
                                                                    for i in range(47)])),
    ]
    for field, limit, manifest in refused:
        applied = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
        assert applied.returncode != 0 and field in applied.stderr and limit in applied.stderr, applied.stderr
    assert operator.process.poll() is None


def test_a_refusal_quoting_huge_values_is_shown_shortened(operator, emulator, kubectl, namespace):
    # Each value breaks SageMaker's pattern (no line breaks) and SageMaker quotes all 100 of them.
    multiline = {f"p{i}": ("line\n" * 500)[:2500] for i in range(100)}
    created = create(kubectl, namespace, json.dumps(training_job("multiline", hyperParameters=multiline)))
    assert created.returncode == 0, created.stderr
    obj = wait_for(lambda: condition(o := get(kubectl, "trainingjob", namespace, "multiline"), "Stalled").get("status")
                   == "True" and o, timeout=60, what="Stalled")
    message = condition(obj, "Stalled")["message"]
    assert len(message) <= 4096 and "characters left out" in message
    assert message.startswith("SageMaker refused the request: 100 validation errors detected")
    assert message.endswith("Member must satisfy regular expression pattern: .*")
    assert_no_hot_loop(emulator)


def test_long_names_and_unicode_tags_reach_sagemaker_intact(operator, emulator, kubectl, namespace):
    long_name = "m" * 253
    tags = [{"key": f"größe-{i:02d}-" + "ü" * 119, "value": "ü" * 256} for i in range(46)]
    apply(kubectl, model(long_name, tags=tags), namespace)
    apply(kubectl, endpoint(long_name, [variant("main", long_name)]), namespace)
    obj = wait_for(lambda: ready(kubectl, "model", namespace, long_name), timeout=30, what="Model Ready")
    sagemaker = emulator.client("sagemaker")
    model_name = obj["status"]["modelName"]
    assert len(model_name) <= 63 and model_name.startswith(namespace)
    arn = obj["status"]["revisions"][0]["modelArn"]
    described = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert {t["key"]: t["value"] for t in tags}.items() <= described.items()
    assert described["kubemaker.io/name"] == long_name
    served = wait_for(lambda: ready(kubectl, "endpoint.sagemaker.kubemaker.io", namespace, long_name), timeout=60,
                      what="Endpoint Ready")
    assert len(served["status"]["endpointName"]) <= 63 and len(served["status"]["endpointConfigName"]) <= 63

    refused = {
        "spec.modelName": model("umlaut", modelName="größe-modell"),
        "spec.tags[0].value": model("symbols", tags=[{"key": "check", "value": "✓"}]),
        "metadata.name": model("größe"),
    }
    for field, manifest in refused.items():
        applied = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
        assert applied.returncode != 0 and field in applied.stderr, applied.stderr
    assert operator.process.poll() is None
    assert_no_hot_loop(emulator)
