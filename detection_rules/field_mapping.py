"""Sigma taxonomy field names → edusoc ECS field names, and which event dataset a log source is.

This is the one file to edit when a Sigma log source gains or changes fields. Fields a
mapping does not name (including fields already written in ECS) pass through unchanged.

Two pipelines exist:

* ``ecs`` (default): maps the taxonomy of the log sources edusoc produces (webserver, proxy,
  dns, zeek conn/dns/http, firewall, and ``product: linux`` rules without a category — sshd,
  sudo, syslog, cron... lines, which edusoc parses into edusoc.auth and edusoc.syslog) and restricts each such rule to the matching
  ``event.dataset`` so a web rule never looks at a flow. A rule for another log source, or
  one that tests a field neither mapped here nor in the edusoc schema, is rejected by the
  engine: it could not be evaluated faithfully on edusoc events.
* ``none``: field names are left as written and no dataset restriction applies.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation, ValueListPlaceholderTransformation
from sigma.rule import SigmaLogSource

PIPELINE_NAMES = ("ecs", "none")

WEB_DATASET = "edusoc.web"  # access logs
HTTP_DATASET = "edusoc.http"  # HTTP transactions carved from packets
DNS_DATASET = "edusoc.dns"
FLOW_DATASET = "edusoc.flow"
TLS_DATASET = "edusoc.tls"
SSH_DATASET = "edusoc.ssh"
FILES_DATASET = "edusoc.files"  # files carved out of HTTP (Zeek's files.log)
AUTH_DATASET = "edusoc.auth"  # sshd/sudo lines of auth.log/secure
SYSLOG_DATASET = "edusoc.syslog"  # every other syslog line
WEB_DATASETS = (WEB_DATASET, HTTP_DATASET)
LINUX_DATASETS = (AUTH_DATASET, SYSLOG_DATASET)

# W3C extended log format names used by Sigma's webserver (and proxy) taxonomy. SigmaHQ's webserver
# rules write cs-uri-query for what the access log's request line holds — path and query (e.g.
# ``cs-uri-query|endswith: '/mgmt/tm/util/bash'``) — so it maps to the whole target and to the
# path (an OR: ``endswith`` a path still fires when a query follows); cs-uri-stem is the path alone.
WEBSERVER_FIELDS: dict[str | None, str | list[str]] = {
    "cs-uri-query": ["url.original", "url.path"],
    "cs-uri-stem": "url.path",
    "cs-uri": "url.original",
    "c-uri": "url.original",
    "c-uri-query": "url.query",
    "c-uri-stem": "url.path",
    "cs-method": "http.request.method",
    "c-ip": "source.ip",
    "s-ip": "destination.ip",
    "s-port": "destination.port",
    "sc-status": "http.response.status_code",
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "cs-referer": "http.request.referrer",
    "cs-referrer": "http.request.referrer",
    "cs-host": "url.domain",
    "cs-version": "http.version",
    "cs-bytes": "http.request.body.bytes",
    "sc-bytes": "http.response.body.bytes",
    "cs-username": "user.name",
    "c-uri-extension": "url.extension",
    "cs-uri-extension": "url.extension",
    "dst_ip": "destination.ip",
    "dst_port": "destination.port",
    "src_ip": "source.ip",
    "cs-content-type": "http.request.mime_type",
    "cs-cookie": "http.request.cookie",
    "cs(Cookie)": "http.request.cookie",
    "sc-content-type": "http.response.mime_type",
}

DNS_FIELDS: dict[str | None, str | list[str]] = {
    "query": "dns.question.name",
    "record_type": "dns.question.type",
    "answer": "dns.resolved_ip",
    "qtype_name": "dns.question.type",  # zeek dns.log
    "rcode_name": "dns.response_code",
    "answers": "dns.resolved_ip",
    "trans_id": "dns.id",
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "id.orig_h": "source.ip",
    "id.resp_h": "destination.ip",
}

NETWORK_FIELDS: dict[str | None, str | list[str]] = {
    "id.orig_h": "source.ip",
    "id.orig_p": "source.port",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
    "src_ip": "source.ip",
    "src_port": "source.port",
    "dst_ip": "destination.ip",
    "dst_port": "destination.port",
    "conn_state": "network.connection.state",
    "proto": "network.transport",
    "service": "network.protocol",
    "orig_bytes": "source.bytes",
    "resp_bytes": "destination.bytes",
    "orig_pkts": "source.packets",
    "resp_pkts": "destination.packets",
    "community_id": "network.community_id",
}

ZEEK_HTTP_FIELDS: dict[str | None, str | list[str]] = {
    **WEBSERVER_FIELDS,  # SigmaHQ's zeek http rules mix in the W3C names
    "id.orig_h": "source.ip",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
    "method": "http.request.method",
    "host": "url.domain",
    "uri": "url.original",
    "referrer": "http.request.referrer",
    "resp_mime_types": "http.response.mime_type",  # Zeek lists the MIME types it saw; edusoc keeps the one declared
    "user_agent": "user_agent.original",
    "status_code": "http.response.status_code",
    "request_body_len": "http.request.body.bytes",
    "response_body_len": "http.response.body.bytes",
    "trans_depth": "http.trans_depth",
    "orig_mime_types": "http.request.mime_type",
    "cookie": "http.request.cookie",
}

# Zeek files.log names for edusoc.files.
ZEEK_FILES_FIELDS: dict[str | None, str | list[str]] = {
    **{name: target for name, target in NETWORK_FIELDS.items() if name is not None and name.startswith("id.")},
    "filename": "file.name",
    "mime_type": "file.mime_type",
    "seen_bytes": "file.size",
    "total_bytes": "file.size",
    "md5": "file.hash.md5",
    "sha256": "file.hash.sha256",
    "source": "network.protocol",
}

# Linux logs (auth.log, syslog): SigmaHQ's builtin linux rules are keyword searches over the line; the
# few named fields are syslog's.
LINUX_FIELDS: dict[str | None, str | list[str]] = {
    "host": "host.hostname",
    "hostname": "host.hostname",
    "process": "process.name",
    "program": "process.name",
    "pid": "process.pid",
    "user": "user.name",
    "pam_user": "user.name",
    "pam_rhost": "source.ip",
}


# Zeek ssl.log / ssh.log names.
TLS_FIELDS: dict[str | None, str | list[str]] = {
    **{name: target for name, target in NETWORK_FIELDS.items() if name and name.startswith("id.")},
    "server_name": "tls.client.server_name",
    "version": "tls.version",
    "cipher": "tls.cipher",
    "ja3": "tls.client.ja3",
    "ja4": "tls.client.ja4",
    "established": "tls.established",
}

SSH_FIELDS: dict[str | None, str | list[str]] = {
    **{name: target for name, target in NETWORK_FIELDS.items() if name and name.startswith("id.")},
    "client": "ssh.client",
    "server": "ssh.server",
    "version": "ssh.version",
}


@dataclass(frozen=True)
class LogsourceMapping:
    """The fields and the event dataset of one Sigma log source (unset parts match anything)."""

    category: str | None
    product: str | None
    service: str | None
    datasets: tuple[str, ...]
    fields: dict[str | None, str | list[str]]
    # product-wide sources (linux): only rules with no category, and not these services
    without_category: bool = False
    excluded_services: tuple[str, ...] = ()

    def covers(self, logsource: SigmaLogSource) -> bool:
        if logsource not in self.logsource:
            return False
        if self.without_category and logsource.category is not None:
            return False
        return logsource.service not in self.excluded_services

    @property
    def logsource(self) -> SigmaLogSource:
        return SigmaLogSource(self.category, self.product, self.service)


LOGSOURCES: tuple[LogsourceMapping, ...] = (
    LogsourceMapping("webserver", None, None, WEB_DATASETS, WEBSERVER_FIELDS),
    LogsourceMapping("proxy", None, None, WEB_DATASETS, WEBSERVER_FIELDS),
    LogsourceMapping(None, "zeek", "http", WEB_DATASETS, ZEEK_HTTP_FIELDS),
    LogsourceMapping("dns", None, None, (DNS_DATASET,), DNS_FIELDS),
    LogsourceMapping(None, "zeek", "dns", (DNS_DATASET,), DNS_FIELDS),
    LogsourceMapping("firewall", None, None, (FLOW_DATASET,), NETWORK_FIELDS),
    LogsourceMapping(None, "zeek", "conn", (FLOW_DATASET,), NETWORK_FIELDS),
    LogsourceMapping(None, "zeek", "ssl", (TLS_DATASET,), TLS_FIELDS),
    LogsourceMapping(None, "zeek", "ssh", (SSH_DATASET,), SSH_FIELDS),
    LogsourceMapping(None, "zeek", "files", (FILES_DATASET,), ZEEK_FILES_FIELDS),
    # sshd, sudo, syslog, cron, vsftpd... lines; auditd records and process/file/network telemetry are
    # not what edusoc collects, so those categories stay rejected
    LogsourceMapping(None, "linux", None, LINUX_DATASETS, LINUX_FIELDS, without_category=True,
                     excluded_services=("auditd",)),
)


MAPPED_DATASETS = frozenset(dataset for mapping in LOGSOURCES for dataset in mapping.datasets)


def processing_pipeline(name: str, placeholders: Mapping[str, Sequence[str]] | None = None) -> ProcessingPipeline:
    """A fresh pySigma pipeline for ``name`` (pipelines carry per-rule state, so never share one).

    ``placeholders`` gives the values of ``%name%`` placeholders (modifier ``expand``), each
    expanded to an OR of its values; a placeholder without values is left for the compiler to
    reject.
    """
    expand: list[ProcessingItem] = []
    variables = {key: list(values) for key, values in (placeholders or {}).items()}
    if variables:
        expand.append(ProcessingItem(
            identifier="edusoc_placeholders",
            transformation=ValueListPlaceholderTransformation(include=sorted(variables)),
        ))
    if name == "none":
        return ProcessingPipeline(name="edusoc none", items=expand, vars=variables)
    if name != "ecs":
        raise ValueError(f"unknown pipeline {name!r}; expected one of {', '.join(PIPELINE_NAMES)}")
    items = expand + [
        ProcessingItem(
            identifier=f"edusoc_ecs_{mapping.category or mapping.product}_{mapping.service or 'any'}",
            transformation=FieldMappingTransformation(dict(mapping.fields)),
            rule_conditions=[LogsourceCondition(mapping.category, mapping.product, mapping.service)],
        )
        for mapping in LOGSOURCES
    ]
    return ProcessingPipeline(name="edusoc ecs", items=items, vars=variables)


def dataset_for(pipeline: str, logsource: SigmaLogSource) -> tuple[str, ...] | None:
    """The ``event.dataset`` values a rule with this log source applies to, or None for every event."""
    if pipeline != "ecs":
        return None
    for mapping in LOGSOURCES:
        if mapping.covers(logsource):
            return mapping.datasets
    return None


def mapped_logsources() -> list[str]:
    """The log sources the ecs pipeline knows, as category/product/service text."""
    return [
        "/".join(f"{name}={value}" for name, value in (("category", m.category), ("product", m.product), ("service", m.service)) if value)
        + (" (no category)" if m.without_category else "")
        for m in LOGSOURCES
    ]
