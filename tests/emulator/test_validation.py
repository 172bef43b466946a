"""Requests validated as AWS validates them: every pattern of the service model for the operations
the emulator implements (read as Java reads it, at any length), unknown members, and values of the
wrong JSON type (timestamps, blobs, numbers)."""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any, Iterator

import pytest
from botocore.model import Shape, ShapeResolver

from kubemaker_emulator.javaregex import LINEAR_FORMS, UnsupportedPattern, compile_java, translate
from kubemaker_emulator.sagemaker import OPERATIONS
from kubemaker_emulator.servicemodel import RequestValidator
from tests.emulator.generated import generated, sample_string
from tests.emulator.helpers import ROLE_ARN, raw_call, training_request

VALIDATOR = RequestValidator("sagemaker")
# A value a pattern should refuse is looked for among these (and the pattern's own strings, spoilt).
SPOILERS = (
    "!",
    "\n",
    "\u2028",
    "\x85",
    " ",
    "a!",
    "a\nb",
    "-",
    "0",
    ".",
    "/",
    "a",
    "A",
    "_",
    "ä",
    "a b",
    "\t",
    "@",
    "",
)


# The patterns of the implemented operations -------------------------------------------------------


def pattern_paths() -> dict[str, tuple[str, list[tuple[str, str]], Shape]]:
    """Each string shape with a pattern that some implemented operation's request reaches:
    shape name -> (operation, the path to it from the request, the shape)."""
    found: dict[str, tuple[str, list[tuple[str, str]], Shape]] = {}
    for operation in sorted(OPERATIONS):
        start = VALIDATOR.operation(operation).input_shape
        queue: list[tuple[Shape, list[tuple[str, str]]]] = [(start, [])]
        seen = {start.name}
        while queue:
            shape, path = queue.pop(0)
            steps: list[tuple[str, str, Shape]] = []
            if shape.type_name == "structure":
                steps = [("member", name, member) for name, member in shape.members.items()]
            elif shape.type_name == "list":
                steps = [("item", "", shape.member)]
            elif shape.type_name == "map":
                steps = [("key", "", shape.key), ("value", "", shape.value)]
            for step, name, child in steps:
                if child.type_name == "string" and "pattern" in child.metadata and child.name not in found:
                    found[child.name] = (operation, path + [(step, name)], child)
                if child.name not in seen:
                    seen.add(child.name)
                    queue.append((child, path + [(step, name)]))
    return found


def refused_value(shape: Shape) -> str | None:
    """A string within the shape's length bounds that its pattern refuses, if there is one."""
    pattern, low, high = shape.metadata["pattern"], shape.metadata.get("min", 0), shape.metadata.get("max", 4096)
    compiled = compile_java(pattern)
    good = sample_string(pattern, max(low, 1), high) if high >= 1 else ""
    for candidate in itertools.chain(SPOILERS, (good + s for s in SPOILERS), (s + good for s in SPOILERS)):
        candidate = candidate[:high]
        if low <= len(candidate) <= high and compiled.fullmatch(candidate) is None:
            return candidate
    return None


def request_with(operation: str, path: list[tuple[str, str]], value: str) -> tuple[dict[str, Any], str]:
    """The operation's smallest valid request with `value` put at `path`; and AWS's name of that path."""
    shape = VALIDATOR.operation(operation).input_shape
    request = generated(shape, full=False)
    node: Any = request
    names: list[str] = []
    for index, (step, name) in enumerate(path):
        last = index == len(path) - 1
        if step == "member":
            child = shape.members[name]
            names.append(name[:1].lower() + name[1:])
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, generated(child, full=False))
        elif step == "item":
            child = shape.member
            names[-1] += ".1.member"
            if last:
                node[0] = value
            else:
                node = node[0]
        else:
            child = shape.key if step == "key" else shape.value
            key = next(iter(node))
            if step == "key":
                node[value] = node.pop(key)
                names[-1] += ".key"
            elif last:
                node[key] = value
                names[-1] += f".{key}"
            else:
                node = node[key]
                names[-1] += f".{key}"
        shape = child
    return request, ".".join(names)


def test_every_pattern_of_the_implemented_operations_is_enforced(record_property, capsys):
    paths = pattern_paths()
    enforced, accept_everything = [], []
    for shape_name, (operation, path, shape) in sorted(paths.items()):
        pattern = shape.metadata["pattern"]
        bad = refused_value(shape)
        if bad is None:
            # Nothing within the bounds is refused ([\S\s]*): there is no value to refuse.
            assert compile_java(pattern).fullmatch("\n\u2028\ud800 !") is not None, shape_name
            accept_everything.append(shape_name)
            continue
        request, where = request_with(operation, path, bad)
        errors: list[str] = []
        VALIDATOR._check(VALIDATOR.operation(operation).input_shape, request, "", errors)
        expected = (
            f"at '{where}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
        )
        assert any(expected in error for error in errors), f"{shape_name} ({operation} {where}) not enforced: {errors}"
        enforced.append(shape_name)
    distinct = {shape.metadata["pattern"] for _, _, shape in paths.values()}
    total = len(paths)
    assert len(enforced) + len(accept_everything) == total
    summary = (
        f"patterns enforced: {total} of {total} pattern shapes ({len(distinct)} distinct patterns) reached by the "
        f"{len(OPERATIONS)} operations the emulator implements; a refused value proven for {len(enforced)}, "
        f"{len(accept_everything)} accept every string ({', '.join(accept_everything)})"
    )
    record_property("patterns_enforced", f"{total}/{total}")
    with capsys.disabled():
        print("\n" + summary)


def test_every_pattern_of_the_whole_service_model_translates():
    patterns = {shape["pattern"] for shape in VALIDATOR.model._shape_resolver._shape_map.values() if "pattern" in shape}
    for pattern in patterns:
        compile_java(pattern)  # raises UnsupportedPattern or re.error if not
    assert len(patterns) > 200


@pytest.mark.parametrize(
    ("pattern", "text", "java_matches"),
    [
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "équipe 日本 ٣", True),  # \p{..}: Unicode letters, separators, numbers
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "a!b", False),
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "a\tb", False),  # tab is no separator (Zs/Zl/Zp)
        (
            r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            True,
        ),
        (
            r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*",
            "arn:äws:lambda:us-east-1:123456789012:function:f",
            False,
        ),
        (
            r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*",
            "emoji \U0001f600",
            True,
        ),  # a surrogate pair's range
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "\x01", False),
        (r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}", "key", True),  # a quantified $
        (r".*", "one\ntwo", False),  # Java's . stops at line terminators...
        (r".*", "one\rtwo", False),
        (r".*", "one\u2028two", False),
        (r".*(?:[ \r\n\t].*)*", '{\n  "Steps": []\r\n}', True),  # ...which this pattern allows
        (r".*(?:[ \r\n\t].*)*", '{"a": "\u2028"}', False),
        (r"\w+", "é", False),  # Java's \w, \d, \s are ASCII
        (r"\d+", "٣", False),
        (r"[\S\s]*", "anything\nat all\u2028", True),
        (r"(?!\s*$).+", "   ", False),
        (r"(?!\s*$).+", " x ", True),
    ],
)
def test_patterns_mean_what_they_mean_in_java(pattern, text, java_matches):
    assert (compile_java(pattern).fullmatch(text) is not None) is java_matches


def test_unknown_java_constructs_are_refused_not_skipped():
    for pattern in (r"[a-z&&[^e]]", r"\p{IsLatin}", r"a(?i)b", r"\R"):
        with pytest.raises(UnsupportedPattern):
            translate(pattern)


def test_linear_forms_accept_what_the_pattern_accepts():
    alphabet = "a \t\r\n\x85\u2028\u2029"
    for pattern, linear in LINEAR_FORMS.items():
        direct, fast = re.compile(translate(pattern), re.ASCII), re.compile(linear, re.ASCII)
        for length in range(6):
            for chars in itertools.product(alphabet, repeat=length):
                text = "".join(chars)
                assert (direct.fullmatch(text) is None) == (fast.fullmatch(text) is None), (pattern, text)


def adversarial(shape: Shape) -> Iterator[str]:
    """Strings of the shape's maximum length built to make a backtracking matcher work hardest: a
    value the pattern accepts, padded with one repeated character, ending in one it may refuse."""
    pattern, high = shape.metadata["pattern"], min(shape.metadata.get("max", 4096), 1_048_576)
    good = sample_string(pattern, 1, high) if high >= 1 else ""
    for pad in " a-0./\t\n":
        for end in ("\u2028", "!", ""):
            yield (good + pad * high)[: high - len(end)] + end


def test_no_pattern_backtracks_on_a_long_value():
    slow = []
    for shape_name, (_, _, shape) in sorted(pattern_paths().items()):
        compiled = compile_java(shape.metadata["pattern"])
        for text in adversarial(shape):
            started = time.perf_counter()
            compiled.fullmatch(text)
            elapsed = time.perf_counter() - started
            if elapsed > 0.5:
                slow.append((shape_name, len(text), round(elapsed, 2)))
    assert not slow, f"patterns that take over 0.5 s on one value: {slow}"


# Through the emulator ------------------------------------------------------------------------------


def error_of(status: int, answer: dict[str, Any]) -> tuple[int, str, str]:
    return status, answer.get("__type", ""), answer.get("message", "")


def test_java_only_patterns_are_enforced_on_the_wire(emulator, unique):
    name = unique("tagged")
    status, answer = raw_call(
        emulator.url,
        "CreateModel",
        {
            "ModelName": name,
            "ExecutionRoleArn": ROLE_ARN,
            "PrimaryContainer": {"Image": "image:1"},
            "Tags": [{"Key": "équipe", "Value": "データ科学"}],
        },
    )
    assert status == 200, answer
    status, _, message = error_of(
        *raw_call(
            emulator.url,
            "AddTags",
            {
                "ResourceArn": answer["ModelArn"],
                "Tags": [{"Key": "cost!center", "Value": "x"}],
            },
        )
    )
    assert status == 400
    assert message == (
        "1 validation error detected: Value 'cost!center' at 'tags.1.member.key' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
    )
    # Java's `.*` refuses a line break in a hyperparameter value.
    request = training_request(unique("newline"), HyperParameters={"note": "two\nlines"})
    status, code, message = error_of(*raw_call(emulator.url, "CreateTrainingJob", request))
    assert (status, code) == (400, "ValidationException")
    assert (
        "at 'hyperParameters.note' failed to satisfy constraint: Member must satisfy regular expression pattern: .*"
        in message
    )


def test_a_pipeline_definition_is_checked_whatever_its_length(emulator, unique):
    steps = [{"Name": f"Step{i}", "Type": "Training", "Arguments": {"Padding": "x" * 900}} for i in range(1000)]
    definition = json.dumps({"Version": "2020-12-01", "Steps": steps}, indent=1)
    assert 900_000 < len(definition) < 1_048_576
    base = {"RoleArn": ROLE_ARN, "ClientRequestToken": "t" * 32}
    started = time.monotonic()
    status, answer = raw_call(
        emulator.url, "CreatePipeline", {**base, "PipelineName": unique("long"), "PipelineDefinition": definition}
    )
    assert status == 200, answer
    spoilt = definition.replace('"Step999"', '"Step\u2028999"')  # a raw U+2028, which JSON allows in a string
    status, code, message = error_of(
        *raw_call(
            emulator.url,
            "CreatePipeline",
            {
                **base,
                "PipelineName": unique("long"),
                "PipelineDefinition": spoilt,
            },
        )
    )
    assert (status, code) == (400, "ValidationException")
    assert (
        "at 'pipelineDefinition' failed to satisfy constraint: Member must satisfy regular expression pattern"
        in message
    )
    assert time.monotonic() - started < 10


def test_an_unknown_member_is_refused_by_name(emulator, unique):
    request = {"ModelName": unique("model"), "PrimaryContainer": {"Image": "image:1", "Imag": "typo"}, "Colour": "blue"}
    status, code, message = error_of(*raw_call(emulator.url, "CreateModel", request))
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("2 validation errors detected: ")
    unknown = "failed to satisfy constraint: Member 'Imag' is not a member of ContainerDefinition"
    assert f"Value at 'primaryContainer.imag' {unknown}" in message
    assert (
        "Value at 'colour' failed to satisfy constraint: Member 'Colour' is not a member of CreateModelInput" in message
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"CreationTimeAfter": "2025-01-01T00:00:00Z"},
            "Expected a timestamp (seconds since the epoch) at 'creationTimeAfter'",
        ),
        ({"CreationTimeAfter": True}, "Expected a timestamp"),
        ({"MaxResults": 2**40}, "out of range of int"),
        ({"MaxResults": "10"}, "Expected an integer at 'maxResults'"),
        ('{"MaxResults": NaN}', "not valid JSON"),
        ('{"MaxResults": 10', "not valid JSON"),
        ("[]", "Expected a structure at 'request'"),
    ],
)
def test_values_of_the_wrong_json_type_are_serialization_errors(emulator, body, fragment):
    status, code, message = error_of(*raw_call(emulator.url, "ListTrainingJobs", body))
    assert (status, code) == (400, "SerializationException")
    assert fragment in message


def test_a_timestamp_as_seconds_is_accepted(emulator):
    status, answer = raw_call(emulator.url, "ListTrainingJobs", {"CreationTimeAfter": 1735689600.5, "MaxResults": 1})
    assert status == 200, answer


def test_blobs_must_be_base64():
    # SageMaker's model has no blob members; the check is the JSON protocol's, tried on a shape of its own.
    resolver = ShapeResolver(
        {"Request": {"type": "structure", "members": {"Data": {"shape": "Data"}}}, "Data": {"type": "blob"}}
    )
    shape = resolver.get_shape_by_name("Request")
    errors: list[str] = []
    VALIDATOR._check(shape, {"Data": "aGVsbG8="}, "", errors)
    assert errors == []
    for bad in ("not base64!", 12):
        with pytest.raises(Exception) as refused:
            VALIDATOR._check(shape, {"Data": bad}, "", errors)
        assert refused.value.code == "SerializationException"
