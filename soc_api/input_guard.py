"""The API's edge: input no store can hold is refused with 422 naming the field, before any route runs.

- integers beyond a signed 64-bit integer (SQLite, PostgreSQL and Elasticsearch all stop there), in an
  integer path or query parameter (as the OpenAPI schema declares them) or anywhere in a JSON body;
- NUL and other C0 control characters (except tab and line breaks) in path and query values: a NUL cut
  a search string short and made ``q`` match everything;
- lone UTF-16 surrogates (``"\\ud800"``) and NaN/Infinity in JSON bodies: no encoder can write them.
Sensors' ingest batches are left to the collector, which validates every event itself.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"\s*[+-]?\d[\d_]*(?:\.0*)?\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Paths whose bodies another layer validates (gzip NDJSON from sensors).
UNGUARDED_BODIES = ("/api/v1/ingest/",)
MAX_GUARDED_BODY = 16 * 1024 * 1024


class InputRefused(ValueError):
    def __init__(self, location: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


def _too_big(value: str) -> bool:
    if not _INTEGER.fullmatch(value):
        return False
    number = int(value.strip().split(".")[0].replace("_", ""))
    return not INT64_MIN <= number <= INT64_MAX


def _integer_message(name: str) -> str:
    return f"{name}：整数超出范围（须在 -2^63 到 2^63-1 之间） / integer out of range (signed 64-bit)"


def check_text(location: tuple[str | int, ...], value: str) -> None:
    name = str(location[-1])
    if _CONTROL.search(value):
        raise InputRefused(location, f"{name}：不得包含控制字符（如 NUL） / must not contain control characters such as NUL")
    if _SURROGATE.search(value):
        raise InputRefused(location, f"{name}：包含无效的 Unicode 代理字符 / contains a lone surrogate (invalid Unicode)")


def check_json(value: Any, location: tuple[str | int, ...] = ("body",)) -> None:
    """Walk a parsed JSON body: integers within int64, no lone surrogates anywhere (keys included)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InputRefused(location, _integer_message(str(location[-1])))
    elif isinstance(value, str):
        if _SURROGATE.search(value):
            raise InputRefused(location, f"{location[-1]}：包含无效的 Unicode 代理字符 / contains a lone surrogate (invalid Unicode)")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, (*location, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, (*location, key))
            check_json(item, (*location, key))


def _refuse_constant(name: str) -> float:
    raise InputRefused(("body",), f"JSON 不得包含 {name} / {name} is not a JSON number")


class InputGuard:
    """ASGI middleware applying the checks above; 422 in FastAPI's validation-error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[str, list[tuple[re.Pattern[str], set[tuple[str, str]]]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_path_and_query(scope)
        except InputRefused as exc:
            await _refuse(exc, send)
            return
        path: str = scope["path"]
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE") and _is_json(scope) and not path.startswith(UNGUARDED_BODIES):
            body, more = await _read_body(receive)
            if not more:
                try:
                    check_json(json.loads(body, parse_constant=_refuse_constant))
                except InputRefused as exc:
                    await _refuse(exc, send)
                    return
                except ValueError:
                    pass  # not JSON: the route's own validation answers 422
            receive = _replay(body, receive, more)
        await self.app(scope, receive, send)

    def _check_path_and_query(self, scope: Scope) -> None:
        from urllib.parse import parse_qsl

        operations = self._operations(scope.get("app"))
        path: str = scope["path"]
        method = scope["method"].lower()
        matched = [(template, params) for template, params in operations.get(method, []) if template.fullmatch(path)]
        if matched:
            # the most literal template wins (/events/aggregations/terms before /events/{event_id})
            template, integers = min(matched, key=lambda pair: pair[0].groups)
            for name, value in template.fullmatch(path).groupdict().items():  # type: ignore[union-attr]
                check_text(("path", name), value)
                if ("path", name) in integers and _too_big(value):
                    raise InputRefused(("path", name), _integer_message(name))
        else:  # a route outside the schema (the server-rendered pages): any all-digit segment is an id
            integers = set()
            for index, segment in enumerate(path.split("/")):
                check_text(("path", index), segment)
                if _too_big(segment):
                    raise InputRefused(("path", index), _integer_message(f"path segment {index}"))
        query = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            check_text(("query", name), name)
            check_text(("query", name), value)
            if ("query", name) in integers and _too_big(value):
                raise InputRefused(("query", name), _integer_message(name))

    def _operations(self, app: Any) -> dict[str, list[tuple[re.Pattern[str], set[tuple[str, str]]]]]:
        """method → (path template as a regex, the (in, name) of its integer parameters), from the app's OpenAPI
        schema, built once."""
        if self._templates is None:
            found: dict[str, list[tuple[re.Pattern[str], set[tuple[str, str]]]]] = {}
            for path, operations in (app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}).items():
                pattern = re.compile(re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path)))
                for method, operation in operations.items():
                    integers = {(p["in"], p["name"]) for p in operation.get("parameters", [])
                                if "integer" in set(_types(p.get("schema", {})))}
                    found.setdefault(method, []).append((pattern, integers))
            self._templates = found
        return self._templates


def _types(schema: dict[str, Any]) -> Iterator[str]:
    if "type" in schema:
        yield schema["type"]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _types(sub)
    if schema.get("type") == "array":
        yield from _types(schema.get("items", {}))


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body up to MAX_GUARDED_BODY; ``more`` when it goes on (then it is passed through unchecked)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_GUARDED_BODY:
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive, more: bool) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


async def _refuse(exc: InputRefused, send: Send) -> None:
    body = json.dumps({"detail": [{"loc": list(exc.location), "msg": exc.message, "type": "value_error"}]},
                      ensure_ascii=True).encode()  # ASCII: a refused key may hold a lone surrogate
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
