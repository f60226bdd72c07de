"""Parsing what people type into inventory forms and spreadsheets into typed values.

Each parser takes one raw value (a string from a form or CSV, or whatever openpyxl read from a
cell: str, int, float, datetime) and returns the typed value or raises ``CellError`` whose
message, in Chinese, says what was expected. Text is NFKC-normalised first, so full-width digits
and letters (１２３, ＡＢＣ) read as their ASCII forms.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from soc_core.errors import EdusocError


class CellError(EdusocError, ValueError):
    """One value that cannot be read; the message (Chinese) says what was expected."""


Parser = Callable[[Any], Any]

_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―－﹣−"})
_CN_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_TRUE = {"是", "y", "yes", "true", "1", "√", "✓", "有", "集中", "已集中"}
_FALSE = {"否", "n", "no", "false", "0", "×", "✗", "无", "不是", "未集中"}


def clean(raw: Any) -> str:
    """A value as normalised text: NFKC, dashes unified, surrounding blanks removed; numbers without '.0'."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = unicodedata.normalize("NFKC", str(raw)).translate(_DASHES)
    return text.replace("\u200b", "").replace("\ufeff", "").strip()


def is_blank(raw: Any) -> bool:
    return clean(raw) == ""


def text(max_len: int) -> Parser:
    def parse(raw: Any) -> str:
        value = clean(raw)
        if len(value) > max_len:
            raise CellError(f"不能超过 {max_len} 个字符（现有 {len(value)} 个）")
        return value

    return parse


def phone(raw: Any) -> str:
    value = re.sub(r"[\s()（）]", "", clean(raw))
    if not re.fullmatch(r"\+?\d[\d-]{5,19}", value):
        raise CellError(f"电话号码应为 6–20 位数字（可含区号连字符），而不是“{clean(raw)}”")
    return value


def ip(raw: Any) -> str:
    value = clean(raw)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise CellError(f"“{value}”不是有效的 IP 地址（如 10.1.2.3）") from None


def cidr(raw: Any) -> str:
    value = clean(raw).replace(" ", "")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise CellError(f"“{value}”不是有效的网段（如 10.1.2.0/24）") from None


def port(raw: Any) -> int:
    value = clean(raw)
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise CellError(f"端口应为 1–65535 的整数，而不是“{value}”")
    return int(value)


def transport(raw: Any) -> str:
    value = clean(raw).lower() or "tcp"
    if value not in ("tcp", "udp"):
        raise CellError(f"协议应为 tcp 或 udp，而不是“{value}”")
    return value


def flag(raw: Any) -> bool:
    value = clean(raw).lower()
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise CellError(f"应填“是”或“否”，而不是“{clean(raw)}”")


def employment(raw: Any) -> bool:
    """专职 → True (full-time), 兼职 → False (part-time)."""
    value = clean(raw).lower()
    if value in ("专职", "full-time", "full_time", "fulltime", "full"):
        return True
    if value in ("兼职", "part-time", "part_time", "parttime", "part"):
        return False
    raise CellError(f"应填“专职”或“兼职”，而不是“{clean(raw)}”")


def level(raw: Any) -> int | None:
    """An MLPS level: 3, 三, 三级, 第三级, S3 (1..5); blank means not graded yet."""
    value = clean(raw).upper()
    if value == "":
        return None
    match = re.fullmatch(r"(?:第)?([1-5一二三四五])(?:级)?|S([1-5])", value)
    if not match:
        raise CellError(f"等级应为 1–5（如“第三级”或“3”），而不是“{clean(raw)}”")
    digit = match.group(1) or match.group(2)
    return _CN_NUMERALS.get(digit) or int(digit)


_EXCEL_EPOCH = date(1899, 12, 30)


def day(raw: Any) -> date | None:
    """A date: a spreadsheet date cell, 2024-03-05, 2024/3/5, 2024.3.5, 20240305 or 2024年3月5日."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and 20000 < raw < 80000:
        return _EXCEL_EPOCH + timedelta(days=int(raw))  # an Excel serial day number
    value = clean(raw).replace(" ", "")
    if value == "":
        return None
    match = (re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", value)
             or re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ]?\d{1,2}:\d{2}(?::\d{2})?)?", value)
             or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value))
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise CellError(f"“{clean(raw)}”不是存在的日期") from None
    raise CellError(f"日期格式应为 2024-03-05 或 2024年3月5日，而不是“{clean(raw)}”")


CERT_NO = re.compile(r"\d{11}-\d{5}")


def filing_cert_no(raw: Any) -> str:
    """备案证明编号: 11 digits, '-', 5 digits (DOMAIN.md §2.3); blank when not filed."""
    value = clean(raw).replace(" ", "")
    if value and not CERT_NO.fullmatch(value):
        raise CellError(f"备案证明编号应为“11位数字-5位数字”（如 44030099001-00001），而不是“{clean(raw)}”")
    return value


_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def domain(raw: Any) -> str:
    value = clean(raw).lower()
    value = re.sub(r"^[a-z]+://", "", value).split("/")[0].rstrip(".")
    try:
        value = value.encode("idna").decode("ascii") if not value.isascii() else value
    except UnicodeError:
        raise CellError(f"“{clean(raw)}”不是有效的域名") from None
    if not _DOMAIN.fullmatch(value):
        raise CellError(f"“{clean(raw)}”不是有效的域名（如 www.example.edu.cn）")
    return value


def _items(raw: Any) -> list[str]:
    return [part for part in re.split(r"[,;，；、\s]+", clean(raw)) if part]


def domains(raw: Any) -> str:
    """Comma-separated domain names (、，; and blanks also separate)."""
    return ",".join(domain(part) for part in _items(raw))


def addresses(raw: Any) -> str:
    """Comma-separated IP addresses, networks or domain names a system answers on."""
    out = []
    for part in _items(raw):
        if "/" in part:
            out.append(cidr(part))
        elif re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+:[0-9a-fA-F:.]*", part):
            out.append(ip(part))
        else:
            out.append(domain(part))
    return ",".join(out)


def choice(options: dict[str, str], what: str, default: str | None = None) -> Parser:
    """One of a fixed set, given by its Chinese label or its code; returns the code (blank: ``default``)."""
    by_label = {label: code for code, label in options.items()}

    def parse(raw: Any) -> str:
        value = clean(raw)
        if value == "" and default is not None:
            return default
        if value in options:
            return value
        if value in by_label:
            return by_label[value]
        raise CellError(f"{what}应为{'/'.join(options.values())}之一，而不是“{value}”")

    return parse
