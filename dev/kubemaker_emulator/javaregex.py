"""AWS's constraint patterns are Java regular expressions: this reads one as Java does and writes the
Python `re` pattern that accepts the same strings.

Most of them mean the same in both, but not all, and the differences are not only the ones `re`
refuses to compile (`\\p{L}`, a `\\uD800\\uDC00` surrogate pair, a quantified `$`):
- Java's `.` stops at every line terminator (\\n, \\r, \\u0085, \\u2028, \\u2029), Python's only at \\n;
- Java's `$` matches at the end or before a final line terminator, whichever it is;
- Java's `\\w`, `\\d`, `\\s`, `\\b` and POSIX classes (`\\p{Alnum}`) are ASCII, Python's Unicode
  (so the result is compiled with re.ASCII; the Unicode categories are spelt out as ranges).

Everything else that the service models use (groups, lookaround, lazy and possessive quantifiers,
classes with ranges and escapes) is passed on. A construct this does not know raises
UnsupportedPattern, so a new pattern in a service model fails a test instead of being skipped.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

# What Java's `.` does not match, and what `$` may stand before (without MULTILINE or UNIX_LINES).
_DOT = r"[^\n\r\x85\u2028\u2029]"
_END = r"(?=(?:\r\n|[\n\r\x85\u2028\u2029])?\Z)"
# Java's \h and \v (Java 8 and later): horizontal and vertical whitespace.
_HORIZONTAL = r" \t\xa0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000"
_VERTICAL = r"\n\x0b\f\r\x85\u2028\u2029"
# Java's POSIX classes are US-ASCII unless UNICODE_CHARACTER_CLASS is set (AWS does not set it).
_POSIX: dict[str, tuple[tuple[int, int], ...]] = {
    "Lower": ((0x61, 0x7A),),
    "Upper": ((0x41, 0x5A),),
    "ASCII": ((0x00, 0x7F),),
    "Alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "Digit": ((0x30, 0x39),),
    "Alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "Punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "Graph": ((0x21, 0x7E),),
    "Print": ((0x20, 0x7E),),
    "Blank": ((0x09, 0x09), (0x20, 0x20)),
    "Cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "XDigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
    "Space": ((0x09, 0x0D), (0x20, 0x20)),
}
_GENERAL_CATEGORIES = {
    "L": ("Lu", "Ll", "Lt", "Lm", "Lo"),
    "M": ("Mn", "Mc", "Me"),
    "N": ("Nd", "Nl", "No"),
    "P": ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"),
    "S": ("Sm", "Sc", "Sk", "So"),
    "Z": ("Zs", "Zl", "Zp"),
    "C": ("Cc", "Cf", "Cs", "Co", "Cn"),
}
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "a": "\a", "e": "\x1b"}
_ASSERTIONS = ("^", _END, r"\b", r"\B", r"\A", r"\Z")
# Escapes that mean the same in both and go through as they are.
_SHARED_CLASS_ESCAPES = set("dDsSwW")


class UnsupportedPattern(ValueError):
    """A Java construct this translation does not handle."""


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges per two-letter general category, from Python's Unicode database."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\x00")
    for code in range(1, sys.maxunicode + 2):
        category = unicodedata.category(chr(code)) if code <= sys.maxunicode else None
        if category != current:
            ranges.setdefault(current, []).append((start, code - 1))
            start, current = code, category
    return ranges


def warm_up() -> None:
    """Builds the category table now (half a second of walking every code point), not while the
    first request with a \\p{...} pattern keeps the requests behind it waiting."""
    _category_ranges()


def _class_char(code: int) -> str:
    """One code point, safe anywhere inside a Python class."""
    if chr(code).isascii() and chr(code).isalnum():
        return chr(code)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _ranges_text(ranges: list[tuple[int, int]]) -> str:
    return "".join(_class_char(a) if a == b else f"{_class_char(a)}-{_class_char(b)}" for a, b in ranges)


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result, next_start = [], 0
    for low, high in sorted(ranges):
        if low > next_start:
            result.append((next_start, low - 1))
        next_start = max(next_start, high + 1)
    if next_start <= sys.maxunicode:
        result.append((next_start, sys.maxunicode))
    return result


@lru_cache(maxsize=64)
def _property_ranges(name: str) -> tuple[tuple[int, int], ...]:
    """`\\p{name}` as code point ranges."""
    if name in _POSIX:
        return _POSIX[name]
    for prefix in ("Is", "gc=", "general_category="):
        if name.startswith(prefix) and name[len(prefix) :] in _GENERAL_CATEGORIES:
            name = name[len(prefix) :]
    table = _category_ranges()
    if name in _GENERAL_CATEGORIES:
        return tuple(sorted(r for category in _GENERAL_CATEGORIES[name] for r in table.get(category, [])))
    if len(name) == 2 and name in table:
        return tuple(table[name])
    raise UnsupportedPattern(f"\\p{{{name}}}: only general categories and POSIX classes are translated")


def _property_class_body(name: str, negated: bool) -> str:
    ranges = list(_property_ranges(name))
    return _ranges_text(_complement(ranges) if negated else ranges)


class _Reader:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.index = 0

    def peek(self, offset: int = 0) -> str:
        position = self.index + offset
        return self.text[position] if position < len(self.text) else ""

    def take(self, count: int = 1) -> str:
        taken = self.text[self.index : self.index + count]
        self.index += count
        return taken

    def done(self) -> bool:
        return self.index >= len(self.text)

    def error(self, message: str) -> UnsupportedPattern:
        return UnsupportedPattern(f"{message} at position {self.index} of {self.text!r}")


def _hex_escape(reader: _Reader, digits: int) -> int:
    text = reader.take(digits)
    if len(text) != digits or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise reader.error("bad hexadecimal escape")
    return int(text, 16)


def _code_escape(reader: _Reader, letter: str) -> int | None:
    """The code point of an escape that stands for one character (after the backslash and
    `letter` were read), or None if `letter` starts no such escape."""
    if letter == "u":
        code = _hex_escape(reader, 4)
        # Java joins an escaped surrogate pair into the one supplementary character it encodes.
        if 0xD800 <= code <= 0xDBFF and reader.peek() == "\\" and reader.peek(1) == "u":
            saved = reader.index
            reader.take(2)
            low = _hex_escape(reader, 4)
            if 0xDC00 <= low <= 0xDFFF:
                return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            reader.index = saved
        return code
    if letter == "x":
        if reader.peek() == "{":
            reader.take()
            end = reader.text.find("}", reader.index)
            if end < 0:
                raise reader.error("unclosed \\x{")
            code = int(reader.take(end - reader.index), 16)
            reader.take()
            return code
        return _hex_escape(reader, 2)
    if letter == "0":
        digits = ""
        while len(digits) < 3 and reader.peek() in "01234567" and reader.peek():
            candidate = digits + reader.peek()
            if int(candidate, 8) > 0o377:
                break
            digits = candidate
            reader.take()
        if not digits:
            raise reader.error("bad octal escape")
        return int(digits, 8)
    if letter == "c":
        return ord(reader.take()) ^ 64
    if letter in _SIMPLE_ESCAPES:
        return ord(_SIMPLE_ESCAPES[letter])
    if not letter.isalnum():
        return ord(letter)
    return None


def _property_name(reader: _Reader) -> str:
    if reader.peek() != "{":
        return reader.take()  # \pL
    end = reader.text.find("}", reader.index)
    if end < 0:
        raise reader.error("unclosed \\p{")
    name = reader.text[reader.index + 1 : end]
    reader.index = end + 1
    return name


def _class(reader: _Reader) -> str:
    """A character class, from after its `[` to after its `]`, as a Python class."""
    negated = reader.peek() == "^"
    if negated:
        reader.take()
    items: list[str] = []
    first = True
    while True:
        if reader.done():
            raise reader.error("unclosed character class")
        char = reader.peek()
        if char == "]" and not first:
            reader.take()
            break
        if char == "[":
            raise reader.error("nested character classes (Java unions) are not translated")
        if char == "&" and reader.peek(1) == "&":
            raise reader.error("character class intersections are not translated")
        item, code = _class_atom(reader)
        first = False
        if code is not None and reader.peek() == "-" and reader.peek(1) not in ("]", "["):
            reader.take()
            end_item, end_code = _class_atom(reader)
            if end_code is None:
                raise reader.error(f"a range cannot end in {end_item}")
            if end_code < code:
                raise reader.error("illegal character range")
            items.append(f"{_class_char(code)}-{_class_char(end_code)}")
        else:
            items.append(item)
    body = "".join(items)
    if not body:
        raise reader.error("empty character class")
    return f"[{'^' if negated else ''}{body}]"


def _class_atom(reader: _Reader) -> tuple[str, int | None]:
    """One member of a class: (Python text, its code point when it is a single character)."""
    char = reader.take()
    if char != "\\":
        return _class_char(ord(char)), ord(char)
    letter = reader.take()
    if not letter:
        raise reader.error("trailing backslash")
    if letter in _SHARED_CLASS_ESCAPES:
        return "\\" + letter, None
    if letter in "pP":
        return _property_class_body(_property_name(reader), letter == "P"), None
    if letter == "h":
        return _HORIZONTAL, None
    if letter == "v":
        return _VERTICAL, None
    code = _code_escape(reader, letter)
    if code is None:
        raise reader.error(f"\\{letter} inside a class is not translated")
    return _class_char(code), code


def _escape(reader: _Reader) -> str:
    """An escape outside a class (after the backslash)."""
    letter = reader.take()
    if not letter:
        raise reader.error("trailing backslash")
    if letter in _SHARED_CLASS_ESCAPES or letter in "bBA":
        return "\\" + letter
    if letter in "pP":
        name = _property_name(reader)
        return f"[{_property_class_body(name, letter == 'P')}]"
    if letter == "z":
        return r"\Z"
    if letter == "Z":
        return _END
    if letter == "h":
        return f"[{_HORIZONTAL}]"
    if letter == "H":
        return f"[^{_HORIZONTAL}]"
    if letter == "v":
        return f"[{_VERTICAL}]"
    if letter == "V":
        return f"[^{_VERTICAL}]"
    if letter == "Q":
        end = reader.text.find("\\E", reader.index)
        end = len(reader.text) if end < 0 else end
        quoted = reader.take(end - reader.index)
        reader.take(2)
        return re.escape(quoted)
    if letter == "k" and reader.peek() == "<":
        end = reader.text.find(">", reader.index)
        name = reader.text[reader.index + 1 : end]
        reader.index = end + 1
        return f"(?P={name})"
    if letter.isdigit() and letter != "0":
        return "\\" + letter
    code = _code_escape(reader, letter)
    if code is None:
        raise reader.error(f"\\{letter} is not translated")
    return re.escape(chr(code)) if code < 0x80 else _class_char(code)


_QUANTIFIER = re.compile(r"[*+?]|\{\d+(?:,\d*)?\}")


def translate(pattern: str) -> str:
    """The Python pattern that accepts what the Java `pattern` accepts (to be used with re.ASCII)."""
    reader = _Reader(pattern)
    out: list[str] = []
    while not reader.done():
        char = reader.peek()
        quantifier = _QUANTIFIER.match(reader.text, reader.index)
        if quantifier is not None and out and out[-1] in _ASSERTIONS:
            # Java lets a zero-width assertion be quantified (`${1,128}`); repeating it changes
            # nothing, and a minimum of zero makes it always true.
            reader.index = quantifier.end()
            if reader.peek() in ("?", "+"):
                reader.take()
            low = {"*": 0, "?": 0, "+": 1}.get(quantifier.group(), None)
            if low is None:
                low = int(quantifier.group()[1:-1].split(",")[0])
            if low == 0:
                out.pop()
            continue
        if char == "\\":
            reader.take()
            out.append(_escape(reader))
        elif char == "[":
            reader.take()
            out.append(_class(reader))
        elif char == ".":
            reader.take()
            out.append(_DOT)
        elif char == "$":
            reader.take()
            out.append(_END)
        elif char == "(":
            out.append(_group_opening(reader))
        else:
            out.append(reader.take())
    return "".join(out)


def _group_opening(reader: _Reader) -> str:
    reader.take()
    if reader.peek() != "?":
        return "("
    head = reader.text[reader.index : reader.index + 3]
    if head.startswith(("?:", "?=", "?!", "?>", "?<=", "?<!")):
        return "("
    if head.startswith("?<"):
        reader.take(2)
        return "(?P<"
    flags = re.match(r"\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", reader.text[reader.index :])
    if flags and set(flags.group(1) + (flags.group(2) or "")) <= set("imsx") and flags.group(3) == ":":
        return "("  # scoped flags mean the same in Python
    raise reader.error("inline flags are not translated")


@lru_cache(maxsize=4096)
def compile_java(pattern: str) -> re.Pattern[str]:
    """The Java pattern, compiled to match as Java's String.matches does (use .fullmatch)."""
    return re.compile(LINEAR_FORMS.get(pattern) or translate(pattern), re.ASCII)


# Patterns whose direct translation backtracks exponentially on a string it refuses (Java's engine
# would too), given with an equivalent form that `re` matches in linear time. A test checks each
# pair against the direct translation on every short string over the characters that matter.
LINEAR_FORMS: dict[str, str] = {
    # Lines of anything joined by \r, \n, space or tab: any string without \x85, \u2028 or \u2029
    # (the line terminators the group does not take). PipelineDefinition, ResourcePolicyString.
    r".*(?:[ \r\n\t].*)*": r"[^\x85\u2028\u2029]*",
    r".*(?:[ \r\n\t].*)*.*": r"[^\x85\u2028\u2029]*",
}
