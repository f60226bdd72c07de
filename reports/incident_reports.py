"""Incident reports upward: first report (初报), follow-ups (续报) and the final report (终报), DOMAIN.md §1.2.

Each report is generated from the incident (unit, times, category, grade, timeline, evidence, alerts)
plus the free-text items the duty staff keep on the incident (``Incident.report_fields``), stored as a
new version, and exported as DOCX or PDF. Reporting deadlines: the first report within 1 h (CII), 2 h
(central units) or 4 h (others) of discovery for 较大 and above; the final report within 30 days of
closure. A missed deadline is written to the timeline and the audit log once.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from incidents.deadlines import discovered_at
from incidents.folding import IncidentError, add_timeline
from incidents.grading import CATEGORY_LABELS, Grade, Source
from incidents.models import EvidenceFile, TimelineEntry
from incidents.states import OPERATOR_LABELS, REPORT_FIELDS
from playbooks.deadlines import after_commit
from playbooks.scheduler import Scheduler
from reports.models import IncidentReport
from soc_core.audit import record_audit
from soc_core.clock import Clock, as_utc, to_db, to_shanghai
from soc_core.config import IncidentSettings
from soc_core.models import Incident
from soc_core.models import Alert as AlertRecord

DUE = "report.due"
KIND_LABELS = {"initial": "初报", "followup": "续报", "final": "终报"}
# Items of a first/follow-up report (Art. 7 of the 2025 measures, DOMAIN.md §1.2), in order.
REPORT_ITEMS = (
    ("unit", "一、涉事单位名称及发生事件的设施、系统、平台的基本情况"),
    ("discovery", "二、事件发现（发生）时间、地点、事件类型、级别，已造成的影响和危害，已采取的应急处置措施及效果"),
    ("trend", "三、事态发展趋势及可能造成的进一步影响和危害"),
    ("cause", "四、网络安全事件原因初步分析意见"),
    ("leads", "五、溯源调查工作线索（可能的攻击者信息、攻击路径、存在的漏洞等）"),
    ("next_steps", "六、拟进一步采取的应对措施以及请求支援事项"),
    ("scene", "七、网络安全事件现场保护情况"),
    ("other", "八、其他应当报告的情况"),
)
# Items of the final report (Art. 8): 原因、应急处置措施、造成的危害、责任追究、完善整改情况、教训.
FINAL_ITEMS = (
    ("unit", "一、涉事单位及系统基本情况"),
    ("cause", "二、事件发生原因"),
    ("measures", "三、应急处置措施"),
    ("harm", "四、造成的危害"),
    ("accountability", "五、责任追究"),
    ("rectification", "六、完善整改情况"),
    ("lessons", "七、教训"),
)
EDITABLE = REPORT_FIELDS  # what the duty staff write on the incident (incidents.commands.set_report_fields)
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def _local(instant: datetime | None) -> str:
    return to_shanghai(instant).strftime("%Y-%m-%d %H:%M") if instant else "—"


def first_report_due(incident: Incident, policy: IncidentSettings) -> datetime | None:
    """Due time of the first report, or None when the grade needs no report (一般 IV by default)."""
    if Grade(incident.grade).rank > Grade(policy.report_min_grade).rank:
        return None
    return discovered_at(incident) + timedelta(hours=policy.report_hours(incident.operator_type))


def final_report_due(incident: Incident, policy: IncidentSettings) -> datetime | None:
    if incident.closed_at is None or first_report_due(incident, policy) is None:
        return None
    return as_utc(incident.closed_at) + timedelta(days=policy.final_report_days)


def compose(session: Session, incident: Incident, kind: str, policy: IncidentSettings) -> dict[str, str]:
    """The report's items, from the incident's facts and the texts the staff wrote."""
    texts: dict[str, str] = {k: str(v) for k, v in (incident.report_fields or {}).items() if k in EDITABLE}
    unit = incident.unit
    grade = Grade(incident.grade)
    steps = session.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id,
                                                        TimelineEntry.kind.in_(("status", "comment"))).order_by(TimelineEntry.id)).all()
    done = "；".join(f"{_local(as_utc(t.at))} {t.actor}：{t.text}" for t in steps[-12:])
    evidence = session.scalars(select(EvidenceFile).where(EvidenceFile.incident_id == incident.id)).all()
    sources = session.execute(select(func.count(), func.min(AlertRecord.timestamp), func.max(AlertRecord.timestamp))
                              .where(AlertRecord.incident_id == incident.id)).one()
    system = texts.get("system") or "（未填写受影响系统）"
    alert_facts = ""
    if incident.key_entity or sources[0]:
        first, last = (_local(as_utc(t)) if t else "—" for t in (sources[1], sources[2]))
        alert_facts = f"（关键实体 {incident.key_entity or '—'}，关联告警 {sources[0]} 条，{first} 至 {last}）"
    facts = {
        "unit": f"{unit.name}（{OPERATOR_LABELS[incident.operator_type]}）；受影响设施/系统/平台：{system}",
        "discovery": (f"事件名称 {incident.title}；发现时间 {_local(as_utc(incident.created_at))}（首次告警 {_local(as_utc(incident.first_seen_at))}）；"
                      f"地点 {texts.get('location') or unit.name}；事件类型 {CATEGORY_LABELS.get(incident.category, incident.category)}；"
                      f"级别 {grade.label}（{grade.value}），定级依据：{incident.grade_basis}；来源 {Source(incident.source).label}；"
                      f"已造成的影响和危害：{texts.get('impact') or '待评估'}；已采取的措施及效果：{texts.get('measures') or done or '处置中'}"
                      + (f"；勒索情况：{texts['ransom']}" if texts.get("ransom") else "")),
        "trend": texts.get("trend") or "待研判",
        "cause": texts.get("cause") or "待分析",
        "leads": "".join(filter(None, [texts.get("leads"), alert_facts])) or "待调查",
        "next_steps": "；".join(filter(None, [texts.get("next_steps"), f"请求支援：{texts['support']}" if texts.get("support") else ""])) or "按预案继续处置",
        "scene": texts.get("scene") or ("已保存证据：" + "；".join(f"{e.filename}（SHA-256 {e.sha256}）" for e in evidence) if evidence else "待补充"),
        "other": texts.get("other") or "无",
        "measures": texts.get("measures") or done or "—",
        "harm": texts.get("harm") or texts.get("impact") or "—",
        "accountability": texts.get("accountability") or "—",
        "rectification": texts.get("rectification") or "—",
        "lessons": texts.get("lessons") or "—",
    }
    items = FINAL_ITEMS if kind == "final" else REPORT_ITEMS
    return {key: facts[key] for key, _ in items}


class ReportService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, policy: IncidentSettings, scheduler: Scheduler) -> None:
        self.sessions, self.clock, self.policy, self.scheduler = sessions, clock, policy, scheduler
        scheduler.register(DUE, self._check)

    def plan(self, session: Session, incident: Incident) -> None:
        """Schedule the report deadlines the incident has now (idempotent; call on open and on every change)."""
        jobs: list[tuple[str, datetime]] = []
        first = first_report_due(incident, self.policy)
        if first is not None:
            jobs.append(("initial", first))
        final = final_report_due(incident, self.policy)
        if final is not None:
            jobs.append(("final", final))
        incident_id = incident.id
        after_commit(session, lambda: [self.scheduler.at(DUE, f"{incident_id}:{kind}", due, incident_id=incident_id, report=kind)
                                       for kind, due in jobs])

    def generate(self, session: Session, incident: Incident, kind: str, actor: str) -> IncidentReport:
        if kind not in KIND_LABELS:
            raise IncidentError(f"unknown report kind {kind!r}; expected initial, followup or final")
        existing = session.scalars(select(IncidentReport.kind).where(IncidentReport.incident_id == incident.id)).all()
        if kind == "followup" and "initial" not in existing:
            raise IncidentError("a follow-up report comes after the first report")
        if kind == "final" and incident.status != "closed":
            raise IncidentError("the final report is made after the incident is closed")
        now = self.clock.now()
        due = first_report_due(incident, self.policy) if kind == "initial" else (
            final_report_due(incident, self.policy) if kind == "final" else None)
        seq = len(existing) + 1
        report = IncidentReport(incident_id=incident.id, kind=kind, seq=seq, fields=compose(session, incident, kind, self.policy),
                                due_at=to_db(due) if due else None, late=bool(due and now >= due), created_by=actor, created_at=to_db(now))
        session.add(report)
        session.flush()
        add_timeline(session, self.clock, incident, actor, "report", f"生成{KIND_LABELS[kind]}（第 {seq} 版）" + ("，已逾期" if report.late else ""),
                     report_id=report.id)
        record_audit(session, self.clock, actor, "incident.report", "incident", incident.id, incident.unit_id, kind=kind, seq=seq, late=report.late)
        return report

    def _check(self, now: datetime, params: dict[str, Any]) -> None:
        kind = params["report"]
        with self.sessions() as session:
            incident = session.get(Incident, params["incident_id"])
            if incident is None:
                return
            made = session.scalar(select(IncidentReport.id).where(IncidentReport.incident_id == incident.id, IncidentReport.kind == kind))
            flagged = session.scalar(select(TimelineEntry.id).where(TimelineEntry.incident_id == incident.id,
                                                                    TimelineEntry.kind == "report_overdue", TimelineEntry.text.contains(KIND_LABELS[kind])))
            if made is not None or flagged is not None:
                return
            due = first_report_due(incident, self.policy) if kind == "initial" else final_report_due(incident, self.policy)
            if due is None or due > now:
                return
            add_timeline(session, self.clock, incident, "system", "report_overdue",
                         f"{KIND_LABELS[kind]}逾期未报（应于 {_local(due)} 前报送，{OPERATOR_LABELS[incident.operator_type]}）")
            record_audit(session, self.clock, "system", "incident.report_overdue", "incident", incident.id, incident.unit_id, kind=kind)
            session.commit()


# -- export -------------------------------------------------------------------------------------
def _title(report: IncidentReport, incident: Incident) -> str:
    return f"网络安全事件{KIND_LABELS[report.kind]}：{incident.title}（事件 #{incident.id}，第 {report.seq} 版）"


def _items(report: IncidentReport) -> list[tuple[str, str]]:
    labels = dict(FINAL_ITEMS if report.kind == "final" else REPORT_ITEMS)
    return [(labels.get(key, key), value) for key, value in report.fields.items()]


def to_docx(report: IncidentReport, incident: Incident) -> bytes:
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = Document()
    style = document.styles["Normal"]
    style.font.name, style.font.size = "Noto Sans CJK SC", Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "Noto Sans CJK SC")  # Chinese glyphs use the East Asian font slot
    document.add_heading(_title(report, incident), level=1)
    document.add_paragraph(f"报告单位：{incident.unit.name}    报告时间：{_local(as_utc(report.created_at))}    报告人：{report.created_by}")
    for label, value in _items(report):
        document.add_heading(label, level=2)
        document.add_paragraph(value)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def find_cjk_font(configured: str = "") -> Path:
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise IncidentError("no TrueType font with Chinese glyphs for PDF export: install fonts-wqy-microhei or set incidents.report_font")


def to_pdf(report: IncidentReport, incident: Incident, font_path: Path) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
    from xml.sax.saxutils import escape

    if "EdusocCJK" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("EdusocCJK", str(font_path), subfontIndex=0))  # embedded, subset
    body = ParagraphStyle("body", fontName="EdusocCJK", fontSize=10.5, leading=16, wordWrap="CJK")
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=18, spaceBefore=6)
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=24, alignment=1)
    story = [Paragraph(escape(_title(report, incident)), title), Spacer(1, 4 * mm),
             Paragraph(escape(f"报告单位：{incident.unit.name}　报告时间：{_local(as_utc(report.created_at))}　报告人：{report.created_by}"), body)]
    for label, value in _items(report):
        story += [Paragraph(escape(label), heading), Paragraph(escape(value), body)]
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=_title(report, incident), leftMargin=20 * mm, rightMargin=20 * mm).build(story)
    return buffer.getvalue()
