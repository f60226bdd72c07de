"""Password policy and user-name rules (GB/T 22239-2019 L3 §8.1.4.1 a: 口令具有复杂度要求并定期更换).

Pure functions: each returns the Chinese-first reasons a password or name is refused, empty when it is fine.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

USERNAME_MAX = 64
# Letters, digits and . _ - @ only: no markup, no spaces, nothing a page or a log line could misread.
_USERNAME = re.compile(r"[A-Za-z0-9._@-]+")
DISPLAY_NAME_MAX = 100


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    min_classes: int = 3
    history: int = 5

    def describe(self) -> str:
        return (f"口令至少 {self.min_length} 个字符，至少包含小写字母、大写字母、数字、其他符号中的 {self.min_classes} 类，"
                f"不得与用户名相同，不得与最近 {self.history} 次口令相同")


def character_classes(password: str) -> int:
    classes = (any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    return sum(classes)


def password_problems(policy: PasswordPolicy, password: str, username: str) -> list[str]:
    """Why ``password`` breaks the policy (history is checked by the caller, who holds the hashes)."""
    problems = []
    if len(password) < policy.min_length:
        problems.append(f"口令太短：至少 {policy.min_length} 个字符 / at least {policy.min_length} characters")
    if character_classes(password) < policy.min_classes:
        problems.append(f"口令太简单：至少包含小写、大写、数字、符号中的 {policy.min_classes} 类 / "
                        f"at least {policy.min_classes} of lower case, upper case, digits, symbols")
    lowered = password.casefold()
    if username and (lowered == username.casefold() or lowered == username.casefold()[::-1]):
        problems.append("口令不得与用户名相同 / must not be the user name")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in password):
        problems.append("口令不得包含控制字符 / no control characters")
    return problems


def username_problems(username: str) -> list[str]:
    if not username:
        return ["用户名不能为空 / the user name is empty"]
    problems = []
    if len(username) > USERNAME_MAX:
        problems.append(f"用户名最长 {USERNAME_MAX} 个字符 / at most {USERNAME_MAX} characters")
    if not _USERNAME.fullmatch(username):
        problems.append("用户名只能包含字母、数字和 . _ - @ / letters, digits and . _ - @ only")
    return problems


def display_name_problems(display_name: str) -> list[str]:
    problems = []
    if len(display_name) > DISPLAY_NAME_MAX:
        problems.append(f"显示名最长 {DISPLAY_NAME_MAX} 个字符 / at most {DISPLAY_NAME_MAX} characters")
    if any(c in "<>" for c in display_name) or any(unicodedata.category(c) in ("Cc", "Cs") for c in display_name):
        problems.append("显示名不得包含 < > 或控制字符 / no < > or control characters")
    return problems


def first_problem(*problem_lists: Iterable[str]) -> str | None:
    for problems in problem_lists:
        for problem in problems:
            return problem
    return None
