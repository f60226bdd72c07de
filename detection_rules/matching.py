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
  backends (Elasticsearch) that see only the raw value.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, unquote_plus

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.modifiers import reverse_modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

SUPPORTED_MODIFIERS = frozenset(
    {"contains", "startswith", "endswith", "all", "re", "i", "ignorecase", "m", "multiline", "s", "dotall"}
)

URL_FIELDS = frozenset({"url.query", "url.path", "url.original"})

_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}

# What a rule author wrote to get each value type we cannot evaluate.
_UNSUPPORTED_TYPES = {
    "SigmaCIDRExpression": "modifier 'cidr'",
    "SigmaCompareExpression": "comparison modifier (lt/lte/gt/gte)",
    "SigmaFieldReference": "modifier 'fieldref'",
    "SigmaExists": "modifier 'exists'",
    "SigmaExpansion": "value expansion (modifier 'windash')",
    "SigmaQueryExpression": "raw query expression",
    "SigmaTimestampPart": "timestamp part modifier (minute/hour/day/week/month/year)",
    "SigmaCasedString": "modifier 'cased'",
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
        return _any_of([_compile_node(arg, negated, leaves) for arg in node.args])
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
    return str(value)


def _reject_type(value: SigmaType) -> UnsupportedFeature:
    for cls in type(value).__mro__:
        if cls.__name__ in _UNSUPPORTED_TYPES:
            label = _UNSUPPORTED_TYPES[cls.__name__]
            needle = label.split("'")[1] if "'" in label else None
            return UnsupportedFeature(f"{label} is not supported", needle=f"|{needle}" if needle else None)
    return UnsupportedFeature(f"value type {type(value).__name__} is not supported")


def _scalar_test(value: SigmaType) -> Callable[[object], bool]:
    """A test for one scalar event value (str, int, float, bool)."""
    if isinstance(value, (SigmaCasedString, SigmaTimestampPart)):
        raise _reject_type(value)
    if isinstance(value, SigmaString):
        matcher = _string_matcher(value)

        def string_test(candidate: object) -> bool:
            if isinstance(candidate, str):
                return matcher(candidate.lower())
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
            if isinstance(candidate, bool):
                return False
            if isinstance(candidate, (int, float)):
                return candidate == number
            if isinstance(candidate, str):
                try:
                    return float(candidate.strip()) == number
                except ValueError:
                    return False
            return False

        return number_test
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= _REGEX_FLAGS[flag]
        compiled = re.compile(str(value.regexp), flags)

        def regex_test(candidate: object) -> bool:
            if isinstance(candidate, str):
                return compiled.search(candidate) is not None
            if isinstance(candidate, (int, float)) and not isinstance(candidate, bool):
                return compiled.search(str(candidate)) is not None
            return False

        return regex_test
    raise _reject_type(value)


def _string_matcher(value: SigmaString) -> Callable[[str], bool]:
    """Match a lower-cased event string against a Sigma string with wildcards."""
    parts = list(value.iter_parts())
    for part in parts:
        if isinstance(part, Placeholder):
            raise UnsupportedFeature(f"placeholder '%{part.name}%' (modifier 'expand') is not supported", needle="|expand")
    star = SpecialChars.WILDCARD_MULTI
    texts = [part.lower() if isinstance(part, str) else part for part in parts]
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
    compiled = re.compile(pattern, re.DOTALL)
    return lambda candidate: compiled.fullmatch(candidate) is not None


@lru_cache(maxsize=16384)
def url_variants(raw: str) -> tuple[str, ...]:
    """The raw URL part and its percent-decoded forms (path-style and form-style)."""
    variants = [raw]
    for decoded in (unquote(raw, errors="replace"), unquote_plus(raw, errors="replace")):
        if decoded not in variants:
            variants.append(decoded)
    return tuple(variants)


def _field_test(field: str, value: SigmaType) -> Predicate:
    if isinstance(value, SigmaNull):
        return lambda event: event.get(field) is None
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


def _keyword_test(value: SigmaType) -> Predicate:
    if isinstance(value, SigmaNumber) and not isinstance(value, SigmaTimestampPart):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaString) and not isinstance(value, SigmaCasedString):
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SpecialChars.WILDCARD_MULTI + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SpecialChars.WILDCARD_MULTI
    elif not isinstance(value, SigmaRegularExpression):
        raise UnsupportedFeature(
            f"keyword search with {_reject_type(value).reason.replace(' is not supported', '')} is not supported"
        )
    scalar = _scalar_test(value)

    def keyword_test(event: Event) -> bool:
        for name, candidate in event.items():
            elements = candidate if isinstance(candidate, list) else (candidate,)
            for element in elements:
                if not isinstance(element, str):
                    continue
                if name in URL_FIELDS:
                    if any(scalar(variant) for variant in url_variants(element)):
                        return True
                elif scalar(element):
                    return True
        return False

    return keyword_test
