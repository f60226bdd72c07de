"""Compile a pySigma rule's detection, once, into a predicate over flat ECS event dicts.

The condition tree comes from pySigma (``rule.detection.parsed_condition``); by then the
value modifiers have already rewritten each value (``contains`` → ``*value*``), so the
compiler only has to understand Sigma's value types. Anything outside the supported subset
raises ``UnsupportedFeature`` naming the detection, field and modifier: a rule is either
evaluated exactly or rejected, never approximated.

Matching semantics (Sigma specification, with the choices it leaves open):

* strings compare case-insensitively; ``*`` and ``?`` are wildcards; a list of values is an OR
  (``|all`` makes it an AND);
* numbers compare as numbers (the event's ``"404"`` equals the rule's ``404``);
* ``null`` matches a missing or null field;
* ``|re`` is a Python regular expression, case-sensitive unless ``|i``, matched anywhere in
  the value (unanchored ``search``);
* a list-valued event field (``dns.resolved_ip``, ``tags``) matches if any element does;
* keyword (unbound) values are substring searches over every string value of the event;
* URL fields (``URL_FIELDS``) are matched on their raw, percent-encoded form *and* on the
  percent-decoded form (``%27`` → ``'``, ``+`` → space), so a rule written for the decoded
  attack string also catches its encoded variant. Rules keep encoded variants anyway, for
  backends (Elasticsearch) that see only the raw value;
* keyword searches see URL fields raw and percent-decoded but keep ``+`` as it is: a ``+`` is
  what a browser's form makes of a space, so ``q=select+a+course`` is someone's search, and
  reading it as ``=select `` made SigmaHQ's "SQL Injection Strings In URI" fire on every such
  search (injection tools send ``%20``, which is still decoded).
"""
from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, unquote_plus

from detection_rules.regexes import RegexRefused, compile_regex
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.modifiers import modifier_mapping, reverse_modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    Placeholder,
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

# Every value modifier of the Sigma specification (v2.1) that pySigma parses.
SUPPORTED_MODIFIERS = frozenset(modifier_mapping)

URL_FIELDS = frozenset({"url.query", "url.path", "url.original"})

_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "ignore_case",
    SigmaRegularExpressionFlag.MULTILINE: "multiline",
    SigmaRegularExpressionFlag.DOTALL: "dot_all",
}

# What a rule author wrote to get each value type we cannot evaluate.
_UNSUPPORTED_TYPES = {
    "SigmaQueryExpression": "raw query expression (a backend-specific placeholder replacement)",
}

_COMPARE = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}


class UnsupportedFeature(Exception):
    """The rule uses a Sigma feature the compiler does not evaluate; ``needle`` locates it in the file."""

    def __init__(self, reason: str, needle: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needle = needle


@dataclass(frozen=True)
class Leaf:
    """One field/value test; kept so a match can be explained afterwards."""

    field: str | None  # None for a keyword search
    pattern: str
    test: Predicate
    negated: bool


@dataclass(frozen=True)
class CompiledDetection:
    """A rule's detection as one predicate, plus the leaves that explain a match."""

    predicate: Predicate
    leaves: tuple[Leaf, ...]

    def matches(self, event: Event) -> bool:
        return self.predicate(event)

    def explain(self, event: Event) -> dict[str, object]:
        """Which field matched which pattern (keyword hits under ``"keywords"``)."""
        found: dict[str, list[str]] = {}
        for leaf in self.leaves:
            if not leaf.negated and leaf.test(event):
                found.setdefault(leaf.field or "keywords", []).append(leaf.pattern)
        return {name: patterns[0] if len(patterns) == 1 else patterns for name, patterns in found.items()}


def check_modifiers(rule: SigmaRule) -> None:
    """Reject modifiers outside ``SUPPORTED_MODIFIERS``, naming detection, field and modifier."""
    for name, detection in rule.detection.detections.items():
        for item in _detection_items(detection):
            for modifier in item.modifiers:
                modifier_name = reverse_modifier_mapping.get(modifier.__name__, modifier.__name__)
                if modifier_name not in SUPPORTED_MODIFIERS:
                    key = "|".join([item.field or "", *(reverse_modifier_mapping.get(m.__name__, "?") for m in item.modifiers)])
                    raise UnsupportedFeature(
                        f"modifier '{modifier_name}' is not supported (detection '{name}', key '{key}'); "
                        f"supported: {', '.join(sorted(SUPPORTED_MODIFIERS))}",
                        needle=f"|{modifier_name}",
                    )


def _detection_items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _detection_items(item)
        else:
            yield item


def compile_detection(rule: SigmaRule, known_fields: frozenset[str] | None = None) -> CompiledDetection:
    """Compile the (already field-mapped) rule's condition(s) into one predicate.

    With ``known_fields``, a field outside it is rejected: events never carry it, so a test on
    it could never match and its negation would always hold — a silent mis-evaluation.
    """
    leaves: list[Leaf] = []
    for condition in rule.detection.parsed_condition:
        _check_fields(condition.parsed, known_fields)
    predicates = [_compile_node(condition.parsed, False, leaves) for condition in rule.detection.parsed_condition]
    predicate = predicates[0] if len(predicates) == 1 else _any_of(predicates)
    return CompiledDetection(predicate, tuple(leaves))


def _check_fields(node: object, known_fields: frozenset[str] | None) -> None:
    if known_fields is None:
        return
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field not in known_fields:
            raise UnsupportedFeature(
                f"field '{node.field}' is not in the edusoc event schema and the pipeline has no mapping for it",
                needle=node.field,
            )
    elif isinstance(node, (ConditionAND, ConditionOR, ConditionNOT)):
        for arg in node.args:
            _check_fields(arg, known_fields)


def _compile_node(node: object, negated: bool, leaves: list[Leaf]) -> Predicate:
    if isinstance(node, ConditionAND):
        return _all_of([_compile_node(arg, negated, leaves) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _compile_or(node, negated, leaves)
    if isinstance(node, ConditionNOT):
        inner = _compile_node(node.args[0], not negated, leaves)
        return lambda event: not inner(event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        test = _field_test(node.field, node.value)
        leaves.append(Leaf(node.field, _pattern_text(node.value), test, negated))
        return test
    if isinstance(node, ConditionValueExpression):
        test = _keyword_test(node.value)
        leaves.append(Leaf(None, _pattern_text(node.value), test, negated))
        return test
    raise UnsupportedFeature(f"condition element {type(node).__name__} is not supported")


def _plain_string(value: object) -> bool:
    return (
        type(value) is SigmaString
        and not any(isinstance(part, Placeholder) for part in value.s)
    )


def _compile_or(node: ConditionOR, negated: bool, leaves: list[Leaf]) -> Predicate:
    """OR of its children; plain strings on one field (or keywords) become one test.

    ``field|contains: [a, b, c]`` arrives as an OR of three field tests; testing them together
    reads and lower-cases the event value once instead of once per value.
    """
    groups: dict[tuple[str, str | None], list[object]] = {}
    predicates: list[Predicate] = []
    for arg in node.args:
        if isinstance(arg, ConditionFieldEqualsValueExpression) and _plain_string(arg.value):
            groups.setdefault(("field", arg.field), []).append(arg)
        elif isinstance(arg, ConditionValueExpression) and _plain_string(arg.value):
            groups.setdefault(("keyword", None), []).append(arg)
        else:
            predicates.append(_compile_node(arg, negated, leaves))
    for (kind, field), args in groups.items():
        if len(args) == 1:
            predicates.append(_compile_node(args[0], negated, leaves))
            continue
        values = [arg.value for arg in args]  # type: ignore[attr-defined]
        if kind == "field":
            assert field is not None
            predicates.append(_field_test(field, values[0], _strings_scalar(values)))
        else:
            predicates.append(_keyword_test(values[0], _strings_scalar([_as_keyword(v) for v in values])))
        for value_arg in args:  # one leaf per value, to explain which one matched
            _compile_node(value_arg, negated, leaves)
    return _any_of(predicates)


def _strings_scalar(values: list[SigmaType]) -> Callable[[object], bool]:
    """One scalar test for several plain Sigma strings (any of them)."""
    exact: set[str] = set()
    needles: list[str] = []
    others: list[Callable[[str], bool]] = []
    star = SpecialChars.WILDCARD_MULTI
    for value in values:
        assert isinstance(value, SigmaString)
        parts = [part.lower() if isinstance(part, str) else part for part in value.s]
        if all(isinstance(part, str) for part in parts):
            exact.add("".join(parts))  # type: ignore[arg-type]
        elif len(parts) == 3 and parts[0] is star and parts[2] is star and isinstance(parts[1], str):
            needles.append(parts[1])
        else:
            others.append(_string_matcher(value))
    needle_tuple, other_tuple = tuple(needles), tuple(others)

    def match_text(text: str) -> bool:
        if text in exact:
            return True
        for needle in needle_tuple:
            if needle in text:
                return True
        for other in other_tuple:
            if other(text):
                return True
        return False

    def strings_test(candidate: object) -> bool:
        if isinstance(candidate, str):
            return match_text(candidate.lower())
        if isinstance(candidate, bool):
            return match_text("true" if candidate else "false")
        if isinstance(candidate, (int, float)):
            return match_text(str(candidate))
        return False

    return strings_test


def _all_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda event: first(event) and second(event)
    parts = tuple(predicates)
    return lambda event: all(p(event) for p in parts)


def _any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda event: first(event) or second(event)
    parts = tuple(predicates)
    return lambda event: any(p(event) for p in parts)


# -- values -------------------------------------------------------------------------------


def _pattern_text(value: SigmaType) -> str:
    if isinstance(value, SigmaRegularExpression):
        return f"re:{value.regexp}"
    if isinstance(value, SigmaString):
        return value.convert()
    if isinstance(value, SigmaNull):
        return "null"
    if isinstance(value, SigmaExpansion):
        return " | ".join(_pattern_text(inner) for inner in value.values)
    if isinstance(value, SigmaCompareExpression):
        return f"{value.op.name.lower()} {value.number.number}"
    if isinstance(value, SigmaFieldReference):
        return f"fieldref:{value.field}"
    if isinstance(value, SigmaExists):
        return f"exists:{str(value.exists).lower()}"
    if isinstance(value, SigmaCIDRExpression):
        return f"cidr:{value.cidr}"
    if isinstance(value, SigmaTimestampPart):
        return f"{value.timestamp_part.name.lower()}:{value.number}"
    return str(value)


def _reject_type(value: SigmaType) -> UnsupportedFeature:
    for cls in type(value).__mro__:
        if cls.__name__ in _UNSUPPORTED_TYPES:
            return UnsupportedFeature(f"{_UNSUPPORTED_TYPES[cls.__name__]} is not supported")
    return UnsupportedFeature(f"value type {type(value).__name__} is not supported")


def _as_number(candidate: object) -> int | float | None:
    if isinstance(candidate, bool):
        return None
    if isinstance(candidate, (int, float)):
        return candidate
    if isinstance(candidate, str):
        try:
            return float(candidate.strip())
        except ValueError:
            return None
    return None


@lru_cache(maxsize=65536)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None


def _timestamp_part(part: TimestampPart, candidate: object) -> int | None:
    if not isinstance(candidate, str):
        return None
    try:
        when = datetime.fromisoformat(candidate.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if part is TimestampPart.WEEK:
        return when.isocalendar().week
    return getattr(when, part.name.lower())


def _scalar_test(value: SigmaType) -> Callable[[object], bool]:
    """A test for one scalar event value (str, int, float, bool)."""
    if isinstance(value, SigmaExpansion):
        # values expanded by windash/base64offset are OR-linked, whatever links the list
        inner_tests = tuple(_scalar_test(inner) for inner in value.values)
        return lambda candidate: any(test(candidate) for test in inner_tests)
    if isinstance(value, SigmaTimestampPart):
        part, expected = value.timestamp_part, value.number
        return lambda candidate: _timestamp_part(part, candidate) == expected
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        matcher = _string_matcher(value, cased)

        def string_test(candidate: object) -> bool:
            if isinstance(candidate, str):
                return matcher(candidate if cased else candidate.lower())
            if isinstance(candidate, bool):
                return matcher("true" if candidate else "false")
            if isinstance(candidate, (int, float)):
                return matcher(str(candidate))
            return False

        return string_test
    if isinstance(value, SigmaBool):
        expected = bool(value.boolean)

        def bool_test(candidate: object) -> bool:
            if isinstance(candidate, bool):
                return candidate is expected
            if isinstance(candidate, str):
                return candidate.lower() == ("true" if expected else "false")
            return False

        return bool_test
    if isinstance(value, SigmaNumber):
        number = value.number

        def number_test(candidate: object) -> bool:
            return _as_number(candidate) == number

        return number_test
    if isinstance(value, SigmaCompareExpression):
        compare, bound = _COMPARE[value.op], value.number.number

        def compare_test(candidate: object) -> bool:
            number = _as_number(candidate)
            return number is not None and compare(number, bound)

        return compare_test
    if isinstance(value, SigmaCIDRExpression):
        network = value.network

        def cidr_test(candidate: object) -> bool:
            if not isinstance(candidate, str):
                return False
            address = _parse_ip(candidate)
            return address is not None and address.version == network.version and address in network

        return cidr_test
    if isinstance(value, SigmaRegularExpression):
        try:
            compiled = compile_regex(str(value.regexp), **{_REGEX_FLAGS[flag]: True for flag in value.flags})
        except RegexRefused as exc:
            raise UnsupportedFeature(str(exc), needle="|re") from None

        def regex_test(candidate: object) -> bool:
            if isinstance(candidate, str):
                return compiled.search(candidate) is not None
            if isinstance(candidate, (int, float)) and not isinstance(candidate, bool):
                return compiled.search(str(candidate)) is not None
            return False

        return regex_test
    raise _reject_type(value)


def _string_matcher(value: SigmaString, cased: bool = False) -> Callable[[str], bool]:
    """Match an event string (lower-cased unless ``cased``) against a Sigma string with wildcards."""
    parts = list(value.iter_parts())
    for part in parts:
        if isinstance(part, Placeholder):
            raise UnsupportedFeature(
                f"placeholder '%{part.name}%' (modifier 'expand') has no value: define it in the "
                "detection placeholders setting",
                needle="|expand",
            )
    star = SpecialChars.WILDCARD_MULTI
    texts = [part if cased or not isinstance(part, str) else part.lower() for part in parts]
    if all(isinstance(part, str) for part in texts):
        exact = "".join(texts)  # type: ignore[arg-type]
        return lambda candidate: candidate == exact
    if texts == [star]:
        return lambda candidate: True
    if len(texts) == 2 and texts[0] is star and isinstance(texts[1], str):
        suffix = texts[1]
        return lambda candidate: candidate.endswith(suffix)
    if len(texts) == 2 and texts[1] is star and isinstance(texts[0], str):
        prefix = texts[0]
        return lambda candidate: candidate.startswith(prefix)
    if len(texts) == 3 and texts[0] is star and texts[2] is star and isinstance(texts[1], str):
        needle = texts[1]
        return lambda candidate: needle in candidate
    pattern = "".join(
        re.escape(part) if isinstance(part, str) else (".*" if part is star else ".") for part in texts
    )
    # RE2: a rule's many wildcards ("*a*b*c*") cost Python's re polynomial time per value.
    compiled = compile_regex(pattern, dot_all=True)
    return lambda candidate: compiled.fullmatch(candidate) is not None


@lru_cache(maxsize=16384)
def url_variants(raw: str) -> tuple[str, ...]:
    """The raw URL part and its percent-decoded forms (path-style and form-style)."""
    variants = [raw]
    for decoded in (unquote(raw, errors="replace"), unquote_plus(raw, errors="replace")):
        if decoded not in variants:
            variants.append(decoded)
    return tuple(variants)


@lru_cache(maxsize=16384)
def url_keyword_variants(raw: str) -> tuple[str, ...]:
    """The raw URL part and its percent-decoded form, ``+`` left as sent (what keyword searches see)."""
    decoded = unquote(raw, errors="replace")
    return (raw,) if decoded == raw else (raw, decoded)


def _fieldref_test(field: str, reference: SigmaFieldReference) -> Predicate:
    other, starts, ends = reference.field, reference.starts_with, reference.ends_with

    def fieldref_test(event: Event) -> bool:
        mine, theirs = event.get(field), event.get(other)
        if mine is None or theirs is None:
            return False
        if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) and not (starts or ends):
            return mine == theirs
        mine_text, their_text = str(mine).lower(), str(theirs).lower()
        if starts and ends:
            return their_text in mine_text
        if starts:
            return mine_text.startswith(their_text)
        if ends:
            return mine_text.endswith(their_text)
        return mine_text == their_text

    return fieldref_test


def _field_test(field: str, value: SigmaType, scalar: Callable[[object], bool] | None = None) -> Predicate:
    if isinstance(value, SigmaNull):
        return lambda event: event.get(field) is None
    if isinstance(value, SigmaExists):
        # presence only, whatever the value (spec: "be it empty or null")
        if value.exists:
            return lambda event: field in event
        return lambda event: field not in event
    if isinstance(value, SigmaFieldReference):
        return _fieldref_test(field, value)
    if scalar is None:
        scalar = _scalar_test(value)
    if field in URL_FIELDS:
        inner = scalar

        def decoded_scalar(candidate: object) -> bool:
            if isinstance(candidate, str):
                return any(inner(variant) for variant in url_variants(candidate))
            return inner(candidate)

        scalar = decoded_scalar

    def field_test(event: Event) -> bool:
        candidate = event.get(field)
        if candidate is None:
            return False
        if isinstance(candidate, list):
            return any(scalar(element) for element in candidate)
        return scalar(candidate)

    return field_test


def _as_keyword(value: SigmaType) -> SigmaType:
    """A keyword value as the substring search it stands for."""
    if isinstance(value, SigmaExpansion):
        return SigmaExpansion([_as_keyword(inner) for inner in value.values])
    if isinstance(value, SigmaNumber) and not isinstance(value, SigmaTimestampPart):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SpecialChars.WILDCARD_MULTI + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SpecialChars.WILDCARD_MULTI
        if cased and not isinstance(value, SigmaCasedString):
            value = SigmaCasedString.from_sigma_string(value)
        return value
    if isinstance(value, SigmaRegularExpression):
        return value
    raise UnsupportedFeature(f"a keyword search with a {type(value).__name__.removeprefix('Sigma')} value is not supported")


def _keyword_test(value: SigmaType, scalar: Callable[[object], bool] | None = None) -> Predicate:
    if scalar is None:
        scalar = _scalar_test(_as_keyword(value))

    def keyword_test(event: Event) -> bool:
        for name, candidate in event.items():
            elements = candidate if isinstance(candidate, list) else (candidate,)
            for element in elements:
                if not isinstance(element, str):
                    continue
                if name in URL_FIELDS:
                    if any(scalar(variant) for variant in url_keyword_variants(element)):
                        return True
                elif scalar(element):
                    return True
        return False

    return keyword_test
