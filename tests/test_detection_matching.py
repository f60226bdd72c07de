"""Sigma modifiers, condition forms and rejections, through load_ruleset and DetectionEngine.

Matching semantics are tested with the ``none`` pipeline (field names as written, every event
looked at); the ``ecs`` pipeline has its own tests at the end.
"""
from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection_rules import DetectionEngine, RuleSet, load_ruleset


def make_rule(tmp_path: Path, detection: str, *, logsource: str = "category: test", name: str = "rule.yml") -> Path:
    text = textwrap.dedent(
        """\
        title: Test Rule
        id: 0b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c3d
        status: test
        logsource:
            {logsource}
        detection:
        {detection}
        level: high
        """
    ).format(logsource=logsource, detection=textwrap.indent(textwrap.dedent(detection), "    "))
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def compiled(tmp_path: Path, detection: str, pipeline: str = "none", **kwargs: str) -> DetectionEngine:
    ruleset = load_ruleset([make_rule(tmp_path, detection, **kwargs)], pipeline=pipeline)
    assert ruleset.errors == [], ruleset.errors
    assert len(ruleset.rules) == 1
    return DetectionEngine(ruleset)


def event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "@timestamp": "2026-11-02T01:00:00.000000Z",
        "event.id": "e-1",
        "event.kind": "event",
        "event.dataset": "edusoc.test",
    }
    base.update({name.replace("__", "."): value for name, value in fields.items()})
    return base


def fires(engine: DetectionEngine, **fields: object) -> bool:
    return bool(engine.process(event(**fields)))


def rejected(tmp_path: Path, detection: str, pipeline: str = "none", **kwargs: str) -> RuleSet:
    ruleset = load_ruleset([make_rule(tmp_path, detection, **kwargs)], pipeline=pipeline)
    assert ruleset.rules == []
    assert len(ruleset.errors) == 1
    return ruleset


# -- values ---------------------------------------------------------------------------------


def test_plain_value_equals_case_insensitively(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    http.request.method: post\ncondition: selection")
    assert fires(engine, http__request__method="POST")
    assert not fires(engine, http__request__method="POSTX")
    assert not fires(engine)


def test_number_compares_as_number(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    http.response.status_code: 404\ncondition: selection")
    assert fires(engine, http__response__status_code=404)
    assert fires(engine, http__response__status_code="404")
    assert fires(engine, http__response__status_code=404.0)
    assert not fires(engine, http__response__status_code=4040)
    assert not fires(engine, http__response__status_code="not a number")


def test_string_value_matches_number_field_by_text(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    destination.port: '44*'\ncondition: selection")
    assert fires(engine, destination__port=443)
    assert not fires(engine, destination__port=80)


def test_contains(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message|contains: Union Select\ncondition: selection")
    assert fires(engine, message="id=1 UNION SELECT 1")
    assert not fires(engine, message="union-select")


def test_startswith_and_endswith(tmp_path: Path) -> None:
    engine = compiled(
        tmp_path,
        "selection:\n    url.path|startswith: /admin\n    user_agent.original|endswith: sqlmap\ncondition: selection",
    )
    assert fires(engine, url__path="/Admin/login", user_agent__original="python sqlmap")
    assert not fires(engine, url__path="/news/admin", user_agent__original="python sqlmap")
    assert not fires(engine, url__path="/admin", user_agent__original="sqlmap/1.7")


def test_regular_expression_is_case_sensitive_and_unanchored(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message|re: 'id=[0-9]+x'\ncondition: selection")
    assert fires(engine, message="GET /?id=12x HTTP/1.1")
    assert not fires(engine, message="GET /?ID=12X")


def test_regular_expression_ignorecase_flag(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message|re|i: '^select'\ncondition: selection")
    assert fires(engine, message="SELECT 1")
    assert not fires(engine, message="x select")


def test_list_of_values_is_or(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    network.connection.state:\n        - REJ\n        - S0\ncondition: selection")
    assert fires(engine, network__connection__state="REJ")
    assert fires(engine, network__connection__state="s0")
    assert not fires(engine, network__connection__state="SF")


def test_all_modifier_makes_list_and(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message|contains|all:\n        - union\n        - select\ncondition: selection")
    assert fires(engine, message="union all select")
    assert not fires(engine, message="union only")


def test_wildcards_in_plain_values(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    url.path: '/up*/s?ell.php'\ncondition: selection")
    assert fires(engine, url__path="/uploads/shell.php")
    assert fires(engine, url__path="/UPLOAD/sHell.php")
    assert not fires(engine, url__path="/uploads/sheell.php")
    assert not fires(engine, url__path="/x/uploads/shell.php")


def test_escaped_wildcard_is_literal(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message: 'what\\?'\ncondition: selection")
    assert fires(engine, message="what?")
    assert not fires(engine, message="whatx")


def test_null_value_matches_missing_field(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    user.name: null\ncondition: selection")
    assert fires(engine)
    assert not fires(engine, user__name="alice")


def test_list_valued_event_field_matches_any_element(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    dns.resolved_ip: 10.0.0.9\ncondition: selection")
    assert fires(engine, dns__resolved_ip=["10.0.0.1", "10.0.0.9"])
    assert not fires(engine, dns__resolved_ip=["10.0.0.1"])


def test_keyword_search_over_string_values(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "keywords:\n    - 'wget http'\n    - curl\ncondition: keywords")
    assert fires(engine, message="sh -c 'WGET http://x/a.sh'")
    assert fires(engine, user_agent__original="curl/8.0")
    assert not fires(engine, message="nothing here")


def test_url_fields_match_raw_and_percent_decoded(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    url.query|contains: \"' or 1=1\"\ncondition: selection")
    assert fires(engine, url__query="id=1%27%20or%201=1--")
    assert fires(engine, url__query="id=1'+or+1=1--")
    assert fires(engine, url__query="id=1' or 1=1--")
    assert not fires(engine, url__query="id=1")


def test_other_fields_are_not_percent_decoded(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message|contains: \"' or\"\ncondition: selection")
    assert not fires(engine, message="%27%20or")


# -- conditions -----------------------------------------------------------------------------

SELECTIONS = """\
sel_a:
    message|contains: alpha
sel_b:
    message|contains: beta
filter:
    message|contains: gamma
"""


@pytest.mark.parametrize(
    ("condition", "message", "expected"),
    [
        ("sel_a and sel_b", "alpha beta", True),
        ("sel_a and sel_b", "alpha", False),
        ("sel_a or sel_b", "beta", True),
        ("sel_a or sel_b", "gamma", False),
        ("sel_a and not filter", "alpha gamma", False),
        ("sel_a and not filter", "alpha", True),
        ("(sel_a or sel_b) and not filter", "beta", True),
        ("not (sel_a or sel_b)", "delta", True),
        ("1 of sel_*", "beta", True),
        ("1 of sel_*", "gamma", False),
        ("all of sel_*", "alpha beta", True),
        ("all of sel_*", "alpha gamma", False),
        ("1 of them", "gamma", True),
        ("all of them", "alpha beta gamma", True),
        ("all of them", "alpha beta", False),
        ("1 of sel_* and not filter", "alpha gamma", False),
    ],
)
def test_condition_forms(tmp_path: Path, condition: str, message: str, expected: bool) -> None:
    engine = compiled(tmp_path, SELECTIONS + f"condition: {condition}\n")
    assert fires(engine, message=message) is expected


def test_several_field_items_in_one_selection_are_and(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message: a\n    user.name: b\ncondition: selection")
    assert fires(engine, message="a", user__name="b")
    assert not fires(engine, message="a")


def test_list_of_maps_in_one_selection_is_or(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    - message: a\n    - user.name: b\ncondition: selection")
    assert fires(engine, user__name="b")
    assert not fires(engine, message="b")


def test_alert_explains_which_field_matched(tmp_path: Path) -> None:
    engine = compiled(tmp_path, SELECTIONS + "condition: sel_a and not filter\n")
    [alert] = engine.process(event(message="alpha"))
    assert alert.matches == {"message": "*alpha*"}


# -- rejections -----------------------------------------------------------------------------


def test_placeholder_without_a_value_is_rejected_with_reason_and_line(tmp_path: Path) -> None:
    ruleset = rejected(tmp_path, "selection:\n    user.name|expand: '%admins%'\ncondition: selection")
    [error] = ruleset.errors
    assert error.path.name == "rule.yml"
    assert "placeholder '%admins%'" in error.reason
    assert error.line == 8


def test_correlation_over_a_correlation_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "chain.yml"
    path.write_text(textwrap.dedent("""\
        title: Base
        id: 0b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c30
        name: base
        logsource:
            category: test
        detection:
            selection:
                message: x
            condition: selection
        ---
        title: First
        id: 0b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c31
        name: first
        correlation:
            type: event_count
            rules: [base]
            timespan: 1m
            condition:
                gte: 2
        ---
        title: Second
        id: 0b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c32
        correlation:
            type: event_count
            rules: [first]
            timespan: 1h
            condition:
                gte: 2
        """))
    ruleset = load_ruleset([path], pipeline="none")
    [error] = ruleset.errors
    assert "correlation over another correlation ('first')" in error.reason


def test_unknown_modifier_is_rejected(tmp_path: Path) -> None:
    ruleset = rejected(tmp_path, "selection:\n    message|nosuchthing: x\ncondition: selection")
    assert "nosuchthing" in ruleset.errors[0].reason


def test_undefined_detection_in_condition_is_rejected(tmp_path: Path) -> None:
    ruleset = rejected(tmp_path, "selection:\n    message: x\ncondition: selection and missing")
    assert "missing" in ruleset.errors[0].reason


def test_malformed_yaml_is_rejected_with_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("title: Broken\ndetection:\n    selection:\n      message: [unclosed\n    condition: selection\n")
    ruleset = load_ruleset([path])
    [error] = ruleset.errors
    assert error.path == path
    assert error.reason.startswith("malformed YAML")
    assert error.line is not None


def test_missing_path_is_an_error_not_an_exception(tmp_path: Path) -> None:
    ruleset = load_ruleset([tmp_path / "nope"])
    assert ruleset.errors[0].reason == "no such file or directory"


def test_a_rejected_file_does_not_stop_the_others(tmp_path: Path) -> None:
    make_rule(tmp_path, "selection:\n    message|expand: '%nope%'\ncondition: selection", name="bad.yml")
    (tmp_path / "sub").mkdir()
    good = make_rule(tmp_path / "sub", "selection:\n    message: ok\ncondition: selection", name="good.yaml")
    good.write_text(good.read_text().replace("0b8a6e1c", "1b8a6e1c"))
    ruleset = load_ruleset([tmp_path], pipeline="none")
    assert [rule.meta.path.name for rule in ruleset.rules] == ["good.yaml"]
    assert {s.path.name: s.status for s in ruleset.file_statuses()} == {"bad.yml": "rejected", "good.yaml": "compiled"}


# -- pipeline -------------------------------------------------------------------------------


def test_ecs_pipeline_maps_webserver_fields_and_dataset(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    cs-uri-query|contains: cmd=\ncondition: selection", "ecs", logsource="category: webserver")
    web = event(url__original="/x.php?cmd=id", url__path="/x.php", url__query="cmd=id")
    assert engine.process({**web, "event.dataset": "edusoc.web"})
    assert not engine.process({**web, "event.dataset": "edusoc.flow"})


def test_none_pipeline_leaves_field_names(tmp_path: Path) -> None:
    path = make_rule(tmp_path, "selection:\n    cs-uri-query|contains: cmd=\ncondition: selection", logsource="category: webserver")
    engine = DetectionEngine(load_ruleset([path], pipeline="none"))
    assert engine.process(event(**{"cs-uri-query": "cmd=id", "event.dataset": "edusoc.web"}))
    assert not engine.process(event(url__query="cmd=id", event__dataset="edusoc.web"))


@pytest.mark.parametrize("prefilter", [True, False])
def test_none_pipeline_rule_looks_only_at_events_of_its_log_source(tmp_path: Path, prefilter: bool) -> None:
    path = make_rule(tmp_path, "selection:\n    Image|endswith: /bash\ncondition: not selection",
                     logsource="product: linux\n    category: process_creation")
    engine = DetectionEngine(load_ruleset([path], pipeline="none"), prefilter=prefilter)
    assert engine.process(event(Image="/usr/bin/id", event__dataset="linux.process_creation"))
    assert engine.process(event(Image="/usr/bin/id", event__dataset="hostlog"))  # says no log source
    assert not engine.process(event(Image="/usr/bin/id", event__dataset="linux.auditd"))
    assert not engine.process(event(Image="/usr/bin/id", event__dataset="zeek.rdp"))
    assert not engine.process(event(destination__port=22, event__dataset="edusoc.flow"))  # a flow is never a Linux process


def test_ecs_pipeline_rejects_a_logsource_edusoc_does_not_produce(tmp_path: Path) -> None:
    ruleset = rejected(tmp_path, "keywords:\n    - 'password'\ncondition: keywords", "ecs", logsource="product: linux\n    service: auditd")
    [error] = ruleset.errors
    assert "logsource product=linux/service=auditd is not an edusoc event source" in error.reason
    assert error.line == 4


def test_ecs_pipeline_rejects_a_field_outside_the_schema(tmp_path: Path) -> None:
    # a negated test on a field events never carry would always hold: reject, never mis-evaluate
    ruleset = rejected(tmp_path, "flag:\n    Z: 0\ncondition: not flag", "ecs", logsource="product: zeek\n    service: dns")
    assert "field 'Z' is not in the edusoc event schema" in ruleset.errors[0].reason


def test_ecs_fields_pass_through_the_ecs_pipeline(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    dns.question.type: TXT\ncondition: selection", "ecs", logsource="category: dns")
    assert engine.process(event(event__dataset="edusoc.dns", dns__question__type="TXT"))


@settings(max_examples=40, deadline=None)
@given(needle=st.text(alphabet="abAB'%= ", min_size=1, max_size=5), haystack=st.text(alphabet="abAB'%= ", max_size=12))
def test_contains_agrees_with_case_insensitive_substring(needle: str, haystack: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        detection = "selection:\n    message|contains: " + json.dumps(needle) + "\ncondition: selection"
        engine = compiled(Path(directory), detection)
        assert fires(engine, message=haystack) is (needle.lower() in haystack.lower())


# -- the rest of the modifier appendix (Sigma 2.1) ------------------------------------------


def test_cidr_matches_addresses_in_the_network_only(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    source.ip|cidr:\n        - 10.20.0.0/16\n        - 2001:db8::/32\ncondition: selection")
    assert fires(engine, source__ip="10.20.3.66")
    assert fires(engine, source__ip="2001:db8::1")
    assert not fires(engine, source__ip="10.21.0.1")
    assert not fires(engine, source__ip="not-an-ip")


def test_exists_tests_presence_not_value(tmp_path: Path) -> None:
    present = compiled(tmp_path, "selection:\n    user.name|exists: true\ncondition: selection")
    assert fires(present, user__name="")
    assert not fires(present)
    absent = compiled(tmp_path, "selection:\n    user.name|exists: false\ncondition: selection")
    assert fires(absent)
    assert not fires(absent, user__name="alice")


def test_numeric_comparisons(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "big:\n    source.bytes|gt: 1000\nsmall:\n    source.bytes|lte: 10\ncondition: big or small")
    assert fires(engine, source__bytes=1001)
    assert fires(engine, source__bytes="10")
    assert not fires(engine, source__bytes=1000)
    assert not fires(engine, source__bytes="many")


def test_neq_negates_the_item(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    destination.port|neq: 443\n    network.transport: tcp\ncondition: selection")
    assert fires(engine, destination__port=80, network__transport="tcp")
    assert not fires(engine, destination__port=443, network__transport="tcp")


def test_fieldref_compares_two_fields(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    source.ip|fieldref: destination.ip\ncondition: selection")
    assert fires(engine, source__ip="10.0.0.1", destination__ip="10.0.0.1")
    assert not fires(engine, source__ip="10.0.0.1", destination__ip="10.0.0.2")
    assert not fires(engine, source__ip="10.0.0.1")
    contains = compiled(tmp_path, "selection:\n    message|fieldref|contains: user.name\ncondition: selection")
    assert fires(contains, message="login by Alice failed", user__name="alice")


def test_windash_accepts_every_dash(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    process.command_line|windash|contains: ' -enc '\ncondition: selection")
    for dash in ("-", "/", "\u2013", "\u2014", "\u2015"):
        assert fires(engine, process__command_line=f"powershell {dash}enc AAAA"), dash
    assert not fires(engine, process__command_line="powershell enc AAAA")


def test_base64_and_base64offset(tmp_path: Path) -> None:
    import base64

    plain = compiled(tmp_path, "selection:\n    message|base64: whoami\ncondition: selection")
    assert fires(plain, message=base64.b64encode(b"whoami").decode())
    offset = compiled(tmp_path, "selection:\n    message|base64offset|contains: whoami\ncondition: selection")
    for prefix in (b"", b"x", b"xy"):
        encoded = base64.b64encode(prefix + b"cmd /c whoami /all").decode()
        assert fires(offset, message=encoded), prefix
    assert not fires(offset, message=base64.b64encode(b"hostname").decode())


def test_wide_then_base64offset(tmp_path: Path) -> None:
    import base64

    engine = compiled(tmp_path, "selection:\n    message|wide|base64offset|contains: ping\ncondition: selection")
    assert fires(engine, message=base64.b64encode("cmd ping -n 1".encode("utf-16-le")).decode())
    assert not fires(engine, message=base64.b64encode(b"cmd ping -n 1").decode())


def test_cased_is_case_sensitive(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    message|cased|contains: EVIL\ncondition: selection")
    assert fires(engine, message="an EVIL thing")
    assert not fires(engine, message="an evil thing")


def test_expand_uses_configured_placeholder_values(tmp_path: Path) -> None:
    path = make_rule(tmp_path, "selection:\n    user.name|expand: '%admins%'\ncondition: selection")
    ruleset = load_ruleset([path], pipeline="none", placeholders={"admins": ["root", "administrator"]})
    assert ruleset.errors == []
    engine = DetectionEngine(ruleset)
    assert engine.process(event(user__name="Administrator"))
    assert not engine.process(event(user__name="alice"))


def test_timestamp_part_modifiers(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "night:\n    '@timestamp|hour': 1\ncondition: night")
    assert fires(engine)  # the event is at 01:00 UTC
    later = dict(event(), **{"@timestamp": "2026-11-02T13:00:00Z"})
    assert not engine.process(later)


def test_keyword_with_windash_expansion(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "keywords:\n    '|windash': ' -nop '\ncondition: keywords")
    assert fires(engine, message="powershell /nop -w hidden")


def test_null_and_empty_values(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "empty:\n    user.name: ''\ncondition: empty")
    assert fires(engine, user__name="")
    assert not fires(engine)
    null = compiled(tmp_path, "missing:\n    user.name: null\ncondition: missing")
    assert fires(null)
    assert not fires(null, user__name="")


def test_filter_documents_except_events_per_rule_and_per_unit(tmp_path: Path) -> None:
    make_rule(tmp_path, "selection:\n    message|contains: scan\ncondition: selection")
    (tmp_path / "filter.yml").write_text(textwrap.dedent("""\
        title: Known scanner at school 1
        id: 5b0b7f3a-55e5-4a93-8b2a-6c4c7c1f2e01
        logsource:
            category: test
        filter:
            rules: [0b8a6e1c-2f4d-4c4b-9d55-1f0e3a1b2c3d]
            selection:
                source.ip: 10.1.1.1
            condition: not selection
        units: [SCHOOL-1]
        """))
    ruleset = load_ruleset([tmp_path], pipeline="none")
    assert ruleset.errors == []
    engine = DetectionEngine(ruleset)
    assert not engine.process(event(message="scan", source__ip="10.1.1.1", organization__id="SCHOOL-1"))
    assert engine.process(event(message="scan", source__ip="10.1.1.1", organization__id="SCHOOL-2"))
    assert engine.process(event(message="scan", source__ip="10.9.9.9", organization__id="SCHOOL-1"))
