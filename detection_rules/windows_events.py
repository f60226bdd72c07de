"""Windows event-log records (EVTX rendered as JSON) → flat events with Sigma's field names.

SigmaHQ's regression data holds each test's events as the JSON that ``evtx_dump`` writes:
one ``{"Event": {"System": …, "EventData": …}}`` document per record, several documents
concatenated in one file. Sigma's Windows rules name the ``EventData`` children directly
(``Image``, ``CommandLine``) and a few ``System`` fields (``EventID``, ``Channel``,
``Provider_Name``; data names without their spaces, ``Source Name`` → ``SourceName``),
which is what ``flatten_windows_event`` produces; ``@timestamp`` comes
from ``System/TimeCreated/@SystemTime`` so correlations run on event time.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

ATTRIBUTES = "#attributes"
TEXT = "#text"


def is_windows_event(document: object) -> bool:
    return isinstance(document, dict) and isinstance(document.get("Event"), dict) and "System" in document["Event"]


def flatten_windows_event(document: dict[str, Any]) -> dict[str, Any]:
    """One EVTX JSON record as a flat event (``EventData``/``UserData`` leaves, System fields)."""
    record = document["Event"]
    event: dict[str, Any] = {}
    system = record.get("System") or {}
    for name, value in system.items():
        if name == "Provider" and isinstance(value, dict):
            attributes = value.get(ATTRIBUTES) or {}
            if "Name" in attributes:
                event["Provider_Name"] = attributes["Name"]
            if "Guid" in attributes:
                event["Provider_Guid"] = attributes["Guid"]
        elif name == "TimeCreated" and isinstance(value, dict):
            created = (value.get(ATTRIBUTES) or {}).get("SystemTime")
            if created:
                event["TimeCreated"] = created
                event["@timestamp"] = created
        elif isinstance(value, dict):
            if TEXT in value:
                event[name] = value[TEXT]
            for attribute, inner in (value.get(ATTRIBUTES) or {}).items():
                event[f"{name}_{attribute}" if name != "Execution" and name != "Security" else attribute] = inner
        elif value is not None:
            event[name] = value
    for section in ("EventData", "UserData"):
        data = record.get(section)
        if isinstance(data, dict):
            _leaves(data, event)
    return event


def _leaves(data: dict[str, Any], event: dict[str, Any]) -> None:
    for name, value in data.items():
        if name == ATTRIBUTES:
            continue
        if isinstance(value, dict):
            _leaves(value, event)
        elif value is not None:
            # Defender and others name data "Source Name"; Sigma's rules write SourceName
            event.setdefault(name.replace(" ", ""), value)


def json_documents(text: str) -> Iterator[object]:
    """The JSON documents of ``text``: NDJSON or pretty-printed documents one after another."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return
        document, position = decoder.raw_decode(text, position)
        yield document
