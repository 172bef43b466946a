"""Requests generated from the service model: every member set ("full") or only the required ones.

Values satisfy the model's own constraints: the first enum value, numbers at their minimum, strings
drawn from their pattern (read as Java reads it) and within their length bounds, one item per list
and map. What the model cannot say (a model name that exists, members that exclude each other) the
tests fix up afterwards.
"""

from __future__ import annotations

import random
import re
import string
import time
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from kubemaker_emulator.javaregex import compile_java

try:  # Python 3.11+
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as sre  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

PREFERRED_CHARS = string.ascii_lowercase + string.digits + string.ascii_uppercase + "-_./: "
NOW = float(int(time.time()))


@lru_cache(maxsize=1024)
def sample_string(pattern: str | None, low: int, high: int) -> str:
    """A string of length low..high that `pattern` accepts (as Java's String.matches would)."""
    if not pattern:
        return "x" * max(low, 1) if high >= 1 else ""
    compiled = compile_java(pattern)
    parsed = sre_parse.parse(compiled.pattern, compiled.flags)
    rng = random.Random(pattern)
    for attempt in range(400):
        extra = attempt // 40
        text = _generate(parsed, rng, extra, wild=attempt > 0)
        if low <= len(text) <= high and compiled.fullmatch(text):
            return text
    raise AssertionError(f"no string of length {low}..{high} found for {pattern!r}")


def _generate(items: Any, rng: random.Random, extra: int, wild: bool) -> str:
    out = []
    for op, argument in items:
        out.append(_one(op, argument, rng, extra, wild))
    return "".join(out)


def _one(op: Any, argument: Any, rng: random.Random, extra: int, wild: bool) -> str:
    if op is sre.LITERAL:
        return chr(argument)
    if op is sre.NOT_LITERAL:
        return next(c for c in PREFERRED_CHARS if ord(c) != argument)
    if op is sre.ANY:
        return "a"
    if op is sre.IN:
        return _from_class(argument, rng, wild)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
        low, high, body = argument
        high = low + 64 if high is sre.MAXREPEAT else high
        count = min(high, max(low, 1 if wild and rng.random() < 0.5 else low) + extra)
        return "".join(_generate(body, rng, extra, wild) for _ in range(count))
    if op is sre.SUBPATTERN:
        return _generate(argument[-1], rng, extra, wild)
    if op is getattr(sre, "ATOMIC_GROUP", None):
        return _generate(argument, rng, extra, wild)
    if op is sre.BRANCH:
        branches = argument[1]
        return _generate(rng.choice(branches) if wild else branches[0], rng, extra, wild)
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF):
        return ""
    raise AssertionError(f"cannot generate for {op}")


def _from_class(items: list[Any], rng: random.Random, wild: bool) -> str:
    negated = any(op is sre.NEGATE for op, _ in items)

    def member(char: str) -> bool:
        code = ord(char)
        for op, argument in items:
            if op is sre.LITERAL and code == argument:
                return True
            if op is sre.RANGE and argument[0] <= code <= argument[1]:
                return True
            if op is sre.CATEGORY and re.fullmatch(_CATEGORY[argument], char, re.ASCII):
                return True
        return False

    candidates = [c for c in PREFERRED_CHARS if member(c) != negated]
    if not candidates:
        candidates = [chr(c) for c in range(32, 127) if member(chr(c)) != negated]
    if not candidates:
        first = next(argument for op, argument in items if op in (sre.LITERAL, sre.RANGE))
        return chr(first if isinstance(first, int) else first[0])
    return rng.choice(candidates) if wild else candidates[0]


_CATEGORY = {
    sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S", sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W",
}  # fmt: skip


def generated(shape: Shape, full: bool, path: tuple[str, ...] = ()) -> Any:
    """A value of `shape`: with every member (`full`) or only the required ones."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        value = {}
        for name, member in shape.members.items():
            if name in shape.required_members or (full and member.name not in path):
                value[name] = generated(member, full, path + (shape.name,))
        return value
    if kind == "list":
        return [generated(shape.member, full, path + (shape.name,)) for _ in range(max(1, meta.get("min", 1)))]
    if kind == "map":
        key = generated(shape.key, full, path)
        return {key: generated(shape.value, full, path + (shape.name,))}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        low, high = int(meta.get("min", 0)), int(meta.get("max", 64))
        try:
            return sample_string(meta.get("pattern"), max(low, 1), high)  # a visible value where one fits
        except AssertionError:
            return sample_string(meta.get("pattern"), low, high)
    if kind in ("integer", "long"):
        return int(meta.get("min", 1)) if meta.get("min", 1) <= meta.get("max", 2**31) else int(meta["max"])
    if kind in ("float", "double"):
        return float(meta.get("min", 1.0))
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return NOW
    if kind == "blob":
        return "AA=="
    raise AssertionError(f"no generator for {kind}")
