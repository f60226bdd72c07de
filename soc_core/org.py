"""The org tree (province → city → county → school) and the roles users hold in it."""
from __future__ import annotations

from enum import Enum


class UnitKind(str, Enum):
    PROVINCE = "province"  # 省教育厅
    CITY = "city"          # 市教育局
    COUNTY = "county"      # 区县教育局
    SCHOOL = "school"      # 学校

    @property
    def label(self) -> str:
        return {"province": "省级", "city": "市级", "county": "区县级", "school": "学校"}[self.value]


# A unit of each kind may sit only under a unit of the kind on its left.
PARENT_KIND: dict[UnitKind, UnitKind | None] = {
    UnitKind.PROVINCE: None,
    UnitKind.CITY: UnitKind.PROVINCE,
    UnitKind.COUNTY: UnitKind.CITY,
    UnitKind.SCHOOL: UnitKind.COUNTY,
}


class Role(str, Enum):
    SYSTEM_ADMIN = "system_admin"      # 系统管理员: everything, everywhere
    DUTY_OFFICER = "duty_officer"      # 值班员: works incidents in their unit's subtree
    SCHOOL_ADMIN = "school_admin"      # 学校网管: their own school
    DRILL_ORGANIZER = "drill_organizer"  # 攻防演练组织方: exercises in their subtree
    REGULATOR = "regulator"            # 教育主管部门: reads their region; declares key periods
    RED_TEAM = "red_team"              # 红队队员: an exercise's attacker; sees no unit, only their own drill results

    @property
    def label(self) -> str:
        return {
            "system_admin": "系统管理员",
            "duty_officer": "值班员",
            "school_admin": "学校网管",
            "drill_organizer": "演练组织方",
            "regulator": "主管部门（只读）",
            "red_team": "红队队员",
        }[self.value]


def child_path(parent_path: str | None, unit_id: int) -> str:
    """Materialised path of a unit: '/1/4/9/' — a subtree is every path with this prefix."""
    return f"{parent_path or '/'}{unit_id}/"
