"""Regular expressions from rules run in RE2 (``google-re2``): time linear in the text, whatever the pattern.

A rule is user input (``POST /api/v1/rules/dry-run`` takes one from anyone allowed to try rules),
and Python's backtracking ``re`` spends exponential time on patterns like ``(a+)+$`` while holding
the interpreter: one request stalled every route for 9 s (issue 14). RE2 has no backtracking; it
cannot express backreferences (``\\1``) and lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``), so a
rule using them is refused with the construct named instead of run in a slower engine.
"""
from __future__ import annotations

import re2

# RE2's memory budget per compiled pattern (its default, 8 MiB): a pattern needing more is refused.
MAX_PROGRAM_BYTES = 8 << 20
_UNSUPPORTED = (("(?=", "lookahead (?=…)"), ("(?!", "negative lookahead (?!…)"), ("(?<=", "lookbehind (?<=…)"),
                ("(?<!", "negative lookbehind (?<!…)"))


class RegexRefused(ValueError):
    """The pattern is not valid RE2 syntax; the message names the construct when it is a known one."""


def compile_regex(pattern: str, *, ignore_case: bool = False, multiline: bool = False,
                  dot_all: bool = False) -> re2._Regexp:
    """The compiled pattern (``search``/``fullmatch`` as in ``re``), or RegexRefused saying why."""
    flags = "".join(f for f, on in (("i", ignore_case), ("m", multiline), ("s", dot_all)) if on)
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, options)
    except re2.error as exc:
        raise RegexRefused(_explain(pattern, exc)) from None


def _explain(pattern: str, exc: Exception) -> str:
    detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    for needle, construct in _UNSUPPORTED:
        if needle in pattern:
            return (f"regular expression {pattern[:80]!r} uses {construct}, which the linear-time engine (RE2) "
                    f"does not run: rewrite it without ({detail})")
    if any(f"\\{digit}" in pattern for digit in "123456789"):
        return (f"regular expression {pattern[:80]!r} uses a backreference (\\1…), which the linear-time engine "
                f"(RE2) does not run: rewrite it without ({detail})")
    return f"regular expression {pattern[:80]!r} is not valid RE2 syntax: {detail}"
