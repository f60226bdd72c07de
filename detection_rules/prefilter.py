"""Cheap necessary conditions of compiled rules, and an index that picks candidate rules per event.

For each rule the condition tree gives a *requirement*: a set of alternatives, at least one of
which every matching event satisfies. An alternative is a field that must be present, or a
literal that must occur (case-insensitively) in a field's value — or, for keyword searches, in
any string value. ``and`` keeps the most selective child's requirement, ``or`` unites its
children's (and has none if one child has none), ``not`` has none. A rule without a
requirement is a candidate for every event.

``PrefilterIndex`` holds one Aho-Corasick automaton per field over every rule's literals, so an
event's candidate rules cost one pass over each indexed field's value, whatever the number of
rules; only candidates then run their full predicate. The prefilter only ever drops rules that
cannot match, so alerts are the same as trying every rule (``bench/detect_eps.py`` asserts it).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from dataclasses import dataclass

import ahocorasick

try:  # the regular-expression parser, public under this name since Python 3.11
    from re import _constants as re_constants  # type: ignore[attr-defined]
    from re import _parser as re_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as re_constants  # type: ignore[no-redef]
    import sre_parse as re_parser  # type: ignore[no-redef]
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
)

from detection_rules.matching import URL_FIELDS, url_variants

MIN_LITERAL = 3  # shorter literals select too little to be worth indexing
# Joins an event's string values for the keyword scan. A keyword spanning two values through it
# would only add a candidate (the rule's own predicate then decides), never lose one.
_SEPARATOR = "\x00"
SCAN_CACHE_SIZE = 1 << 15  # string values remembered per automaton, with the clauses they hit
EXACT_WEIGHT = 8  # an exact value selects about as well as a substring of this length
NUMBER_STARTS = frozenset("0123456789+-. \t\n\r\f\v")  # first characters of a string float() reads as finite


@dataclass(frozen=True)
class Alternative:
    field: str | None  # None: any string value of the event (keyword search)
    literal: str | None  # None: the field only has to be present
    exact: bool = False  # the (lower-cased) value must equal ``literal``, not just contain it


Clause = frozenset[Alternative]  # at least one alternative holds
Requirement = tuple[Clause, ...]  # every clause holds
MAX_CLAUSES = 2


def requirement(conditions: Sequence[object]) -> Requirement | None:
    """The requirement of a rule whose detection is the OR of ``conditions`` (parsed trees)."""
    children = [_node(node) for node in conditions]
    return (children[0] if len(children) == 1 else _or(children)) or None


def _node(node: object) -> Requirement:
    if isinstance(node, ConditionAND):
        return _and([_node(arg) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _or([_node(arg) for arg in node.args])
    if isinstance(node, ConditionNOT):
        return ()
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(_value(node.field, node.value))
    if isinstance(node, ConditionValueExpression):
        return _leaf(_value(None, node.value))
    return ()


def _leaf(clause: Clause | None) -> Requirement:
    return () if clause is None else (clause,)


def _value(field: str | None, value: SigmaType) -> Clause | None:
    if isinstance(value, SigmaNull) or (isinstance(value, SigmaExists) and not value.exists):
        return None
    if isinstance(value, SigmaExpansion):
        inner = [_value(field, item) for item in value.values]
        return None if any(clause is None for clause in inner) else frozenset().union(*inner)  # type: ignore[arg-type]
    if isinstance(value, SigmaString):
        if field is not None and all(isinstance(part, str) for part in value.s):
            return frozenset({Alternative(field, "".join(value.s).lower(), exact=True)})  # type: ignore[arg-type]
        literal = _longest_literal(value)
        if literal is not None:
            return frozenset({Alternative(field, literal)})
    if isinstance(value, SigmaRegularExpression):
        literals = _regex_literals(str(value.regexp))
        if literals is not None:
            return frozenset(Alternative(field, literal) for literal in literals)
    if field is not None and type(value) is SigmaNumber:
        return frozenset({Alternative(field, _numeric_form(value.number), exact=True)})
    if field is None:
        return None  # a keyword regex or number: could be anywhere
    return frozenset({Alternative(field, None)})


def _longest_literal(value: SigmaString) -> str | None:
    best = max((part for part in value.s if isinstance(part, str)), key=len, default="")
    return best.lower() if len(best) >= MIN_LITERAL else None


def _regex_literals(pattern: str) -> frozenset[str] | None:
    """Literals one of which every match of ``pattern`` contains, if the pattern shows any.

    Runs of literal characters in sequence count, and so do required groups and alternations
    when each branch has its own literal; anything under a repeat or optional is skipped.
    """
    try:
        parsed = re_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return _sequence_literals(list(parsed))


def _sequence_literals(items: list[tuple[object, object]]) -> frozenset[str] | None:
    options: list[frozenset[str]] = []
    run: list[str] = []
    for op, argument in items + [(None, None)]:
        if op is re_constants.LITERAL:
            run.append(chr(argument))  # type: ignore[arg-type]
            continue
        if len(run) >= MIN_LITERAL:
            options.append(frozenset({"".join(run).lower()}))
        run = []
        if op is re_constants.SUBPATTERN:
            inner = _sequence_literals(list(argument[-1]))  # type: ignore[index]
            if inner is not None:
                options.append(inner)
        elif op is re_constants.BRANCH:
            branches = [_sequence_literals(list(branch)) for branch in argument[1]]  # type: ignore[index]
            if branches and all(branch is not None for branch in branches):
                options.append(frozenset().union(*branches))  # type: ignore[arg-type]
    if not options:
        return None
    return max(options, key=lambda option: (min(len(literal) for literal in option), -len(option)))


def _or(children: list[Requirement]) -> Requirement:
    # each child implies its best clause, so the OR implies their union
    if not children or any(not child for child in children):
        return ()
    return (frozenset().union(*(min(child, key=_cost) for child in children)),)


def _and(children: list[Requirement]) -> Requirement:
    clauses = sorted({clause for child in children for clause in child}, key=_cost)
    return tuple(clauses[:MAX_CLAUSES])


def _sort_key(alternative: Alternative) -> tuple[str, str, bool]:
    return (alternative.field or "", alternative.literal or "", alternative.exact)


def _cost(clause: Clause) -> tuple[int, int, int, tuple[tuple[str, str, bool], ...]]:
    # fewer presence-only alternatives first, then longer (rarer) literals, then fewer alternatives
    shortest = min((EXACT_WEIGHT if a.exact else len(a.literal) for a in clause if a.literal is not None), default=0)
    return (sum(alternative.literal is None for alternative in clause), -shortest, len(clause), tuple(sorted(_sort_key(a) for a in clause)))


class PrefilterIndex:
    """Candidate rule positions for an event, from the rules' requirements."""

    def __init__(self, requirements: Sequence[Requirement | None]) -> None:
        self.always: list[int] = []
        presence: dict[str, list[int]] = {}
        exact: dict[str, dict[str, list[int]]] = {}
        literals: dict[str | None, dict[str, list[int]]] = {}
        self._clause_rule: list[int] = []  # clause id → rule position
        self._rule_clauses: dict[int, frozenset[int]] = {}  # rules with more than one clause
        for position, required in enumerate(requirements):
            if not required:
                self.always.append(position)
                continue
            ids = []
            for clause in required:
                clause_id = len(self._clause_rule)
                self._clause_rule.append(position)
                ids.append(clause_id)
                for alternative in clause:
                    if alternative.literal is None:
                        presence.setdefault(alternative.field, []).append(clause_id)  # type: ignore[arg-type]
                    elif alternative.exact:
                        exact.setdefault(alternative.field, {}).setdefault(alternative.literal, []).append(clause_id)  # type: ignore[arg-type]
                    else:
                        literals.setdefault(alternative.field, {}).setdefault(alternative.literal, []).append(clause_id)
            if len(ids) > 1:
                self._rule_clauses[position] = frozenset(ids)
        self.automata: dict[str | None, ahocorasick.Automaton] = {}
        for field, by_literal in literals.items():
            automaton = ahocorasick.Automaton()
            for literal, clause_ids in by_literal.items():
                automaton.add_word(literal, tuple(clause_ids))
            automaton.make_automaton()
            self.automata[field] = automaton
        self._keywords = self.automata.pop(None, None)
        self._fields: tuple[tuple[str, ahocorasick.Automaton, dict[str, tuple[int, ...]]], ...] = tuple(
            (field, automaton, {}) for field, automaton in self.automata.items() if field is not None
        )
        self._presence = tuple(presence.items())
        self._exact = tuple(exact.items())
        # per exact field: whether it has numeric keys ("#22") and keys of another form, so the
        # common values (a str, an int) are keyed without working out forms nobody looks up
        self._exact_fast = tuple(
            (field, by_value, field in URL_FIELDS, any(key.startswith("#") for key in by_value),
             any(not key.startswith("#") for key in by_value))
            for field, by_value in self._exact
        )

    def candidates(self, event: dict[str, object]) -> set[int]:
        """Positions of the rules that may match ``event`` (every rule that does is among them)."""
        hits: set[int] = set()
        for field, clause_ids in self._presence:
            if field in event:  # `exists: true` holds for a present null too
                hits.update(clause_ids)
        for field, by_value, is_url, numeric, textual in self._exact_fast:
            value = event.get(field)
            if value is None:
                continue
            kind = type(value)
            if kind is str and not is_url:
                text: str = value  # type: ignore[assignment]  # type() is exact: a str
                keys: tuple[str, ...] = (text.lower(),) if textual else ()
                if numeric and (text[:1] in NUMBER_STARTS or not text[:1].isascii()):
                    keys += _numeric_forms(text)
            elif kind is int:  # never a bool: type() is exact
                keys = ((f"#{value}",) if numeric else ()) + ((str(value),) if textual else ())
            else:
                keys = _lowered(field, value) + _numeric_forms(value)
            for key in keys:
                value_ids = by_value.get(key)
                if value_ids:
                    hits.update(value_ids)
        for text_field, automaton, cache in self._fields:
            value = event.get(text_field)
            if value is None:
                continue
            if type(value) is str:
                cached = cache.get(value)  # type: ignore[call-overload]  # type() is exact: a str
                if cached is None:
                    cached = _scan(automaton, _lowered(text_field, value), cache, value)  # type: ignore[arg-type]
                hits.update(cached)
            else:
                hits.update(_scan(automaton, _lowered(text_field, value)))
        if self._keywords is not None:
            # every string value, in one pass of the automaton over them all joined by a separator no
            # keyword contains (one C call instead of a lookup per field: most of the values differ per event)
            texts: list[str] = []
            for field, value in event.items():
                if type(value) is str:
                    if field in URL_FIELDS:
                        texts.extend(_url_forms(value))
                    else:
                        texts.append(value)
                elif isinstance(value, list):
                    texts.extend(_lowered(field, [item for item in value if isinstance(item, str)]))
            for _, clause_ids in self._keywords.iter(_SEPARATOR.join(texts).lower()):
                hits.update(clause_ids)
        found = set(self.always)
        if not hits:
            return found
        clause_rule, rule_clauses = self._clause_rule, self._rule_clauses
        for clause_id in hits:
            position = clause_rule[clause_id]
            needed = rule_clauses.get(position)
            if needed is None or needed <= hits:
                found.add(position)
        return found


def _scan(
    automaton: ahocorasick.Automaton, texts: Iterable[str], cache: dict[str, tuple[int, ...]] | None = None, value: str = ""
) -> tuple[int, ...]:
    """Clause ids whose literal occurs in one of ``texts``; remembered for ``value`` in ``cache``."""
    found: set[int] = set()
    for text in texts:
        for _, clause_ids in automaton.iter(text):
            found.update(clause_ids)
    result = tuple(found)
    if cache is not None:
        if len(cache) >= SCAN_CACHE_SIZE:
            cache.clear()  # unique values (ids, times) churn it; the repeating ones come back at once
        cache[value] = result
    return result


def _numeric_form(number: float) -> str:
    """How a number is keyed in the exact index ("#22" for 22, 22.0 and "22")."""
    return f"#{int(number)}" if float(number).is_integer() else f"#{float(number)!r}"


def _numeric_forms(value: object) -> tuple[str, ...]:
    """The numeric keys of an event value, compared as Sigma numbers are (``"22"`` equals 22)."""
    elements = value if isinstance(value, list) else (value,)
    forms = []
    for element in elements:
        if isinstance(element, bool):
            continue
        if isinstance(element, (int, float)):
            number: float = element
        elif isinstance(element, str):
            try:
                number = float(element.strip())
            except ValueError:
                continue
        else:
            continue
        if math.isfinite(number):
            forms.append(_numeric_form(number))
    return tuple(forms)


@lru_cache(maxsize=16384)
def _url_forms(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(variant.lower() for variant in url_variants(raw)))


def _lowered(field: str, value: object) -> tuple[str, ...]:
    """The forms of an event value the string tests see, lower-cased (URL fields also decoded)."""
    if isinstance(value, str):
        return _url_forms(value) if field in URL_FIELDS else (value.lower(),)
    return tuple(_texts(field, value))


def _texts(field: str, value: object, strings_only: bool = False) -> Iterable[str]:
    elements = value if isinstance(value, list) else (value,)
    for element in elements:
        if isinstance(element, str):
            if field in URL_FIELDS:
                for variant in url_variants(element):
                    yield variant.lower()
            else:
                yield element.lower()
        elif strings_only:
            continue
        elif isinstance(element, bool):
            yield "true" if element else "false"
        elif isinstance(element, (int, float)):
            yield str(element)
