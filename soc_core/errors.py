"""One root for the errors edusoc raises on purpose, each able to say where the bad input was.

Modelled on pySigma's ``SigmaError(source=SigmaRuleLocation)``: an ``EdusocError`` carries an optional
``Location`` — a file and line (a rule, a playbook, a config file), a spreadsheet cell (sheet, row, column)
or an event field. ``Refusal`` is a user's action refused, with the Chinese message first and the English
second; the API maps it once (``soc_api.errors``) to 422 ``{"detail": {"message_zh", "message_en", "location"?}}``.
``PermissionDenied`` is the refusal of an action the permission table does not grant, mapped once to 403.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class Location:
    """Where the bad input is: any of file/line/column, sheet/row/column, or an event field."""

    file: str | None = None
    line: int | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | int | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file + (f":{self.line}" if self.line is not None else ""))
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ", ".join(parts)


class EdusocError(Exception):
    """Root of edusoc's own errors; ``location`` says where the bad input was, when there was one."""

    def __init__(self, message: str = "", *, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    @property
    def where(self) -> str:
        """The location in words ('rules/x.yml:12', 'sheet 主机, row 5, column IP', 'field source.ip'), or ''."""
        return str(self.location) if self.location is not None else ""


class Refusal(EdusocError):
    """A user's action refused, nothing changed: the Chinese message first, the English second.

    One text ``"中文 / English"`` is split at the first `` / ``; a text without Chinese is taken as the English one.
    """

    status_code = 422

    def __init__(self, message_zh: str, message_en: str | None = None, *, location: Location | None = None) -> None:
        if message_en is None:
            message_zh, message_en = _split(message_zh)
        self.message_zh, self.message_en = message_zh, message_en
        super().__init__(" / ".join(m for m in (message_zh, message_en) if m), location=location)

    def body(self) -> dict[str, Any]:
        """The ``detail`` of the HTTP answer."""
        body: dict[str, Any] = {"message_zh": self.message_zh or self.message_en, "message_en": self.message_en}
        if self.location is not None:
            body["location"] = self.location.as_dict()
        return body


class PermissionDenied(Refusal):
    """The permission table (``soc_core.permissions``) does not grant this action to this user here."""

    status_code = 403


def _split(text: str) -> tuple[str, str]:
    zh, sep, en = text.partition(" / ")
    if sep and _CJK.search(zh):
        return zh.strip(), en.strip()
    if _CJK.search(text):
        return text, ""
    return "", text
