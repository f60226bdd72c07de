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


def test_unsupported_modifier_is_rejected_with_reason_and_line(tmp_path: Path) -> None:
    ruleset = rejected(tmp_path, "selection:\n    message|base64offset|contains: whoami\ncondition: selection")
    [error] = ruleset.errors
    assert error.path.name == "rule.yml"
    assert "modifier 'base64offset' is not supported" in error.reason
    assert "selection" in error.reason
    assert error.line == 8


def test_cidr_modifier_is_rejected(tmp_path: Path) -> None:
    ruleset = rejected(tmp_path, "selection:\n    source.ip|cidr: 10.0.0.0/8\ncondition: selection")
    assert "modifier 'cidr' is not supported" in ruleset.errors[0].reason


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
    make_rule(tmp_path, "selection:\n    message|cidr: 10.0.0.0/8\ncondition: selection", name="bad.yml")
    (tmp_path / "sub").mkdir()
    good = make_rule(tmp_path / "sub", "selection:\n    message: ok\ncondition: selection", name="good.yaml")
    good.write_text(good.read_text().replace("0b8a6e1c", "1b8a6e1c"))
    ruleset = load_ruleset([tmp_path], pipeline="none")
    assert [rule.meta.path.name for rule in ruleset.rules] == ["good.yaml"]
    assert {s.path.name: s.status for s in ruleset.file_statuses()} == {"bad.yml": "rejected", "good.yaml": "compiled"}


# -- pipeline -------------------------------------------------------------------------------


def test_ecs_pipeline_maps_webserver_fields_and_dataset(tmp_path: Path) -> None:
    engine = compiled(tmp_path, "selection:\n    cs-uri-query|contains: cmd=\ncondition: selection", "ecs", logsource="category: webserver")
    web = event(url__query="cmd=id")
    assert engine.process({**web, "event.dataset": "edusoc.web"})
    assert not engine.process({**web, "event.dataset": "edusoc.flow"})


def test_none_pipeline_leaves_field_names(tmp_path: Path) -> None:
    path = make_rule(tmp_path, "selection:\n    cs-uri-query|contains: cmd=\ncondition: selection", logsource="category: webserver")
    engine = DetectionEngine(load_ruleset([path], pipeline="none"))
    assert engine.process(event(**{"cs-uri-query": "cmd=id"}))
    assert not engine.process(event(url__query="cmd=id"))


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
