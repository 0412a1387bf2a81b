"""The report: JSON sealed with a SHA-256 over its content, and the same as HTML.

`seal` adds `sha256`, the digest of the canonical JSON of everything else (keys sorted,
no spaces, UTF-8), so an edit made later — a verdict changed, a missing message removed —
no longer matches: `check_seal` says so.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any


def _canonical(report: dict[str, Any]) -> bytes:
    body = {k: v for k, v in report.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                      ).encode()


def seal(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "sha256": hashlib.sha256(_canonical(report)).hexdigest()}


def check_seal(report: dict[str, Any]) -> bool:
    return report.get("sha256") == hashlib.sha256(_canonical(report)).hexdigest()


def _e(value: object) -> str:
    return html.escape(str(value))


def to_html(reports: list[dict[str, Any]], title: str) -> str:
    """One readable page: per account the verdict, per folder the counts, the missing."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
             ".ok{color:#070}.bad{color:#b00}</style></head><body>",
             f"<h1>{_e(title)}</h1>"]
    for r in reports:
        ok = r.get("verdict") == "zero loss"
        t = r.get("totals", {})
        parts.append(f"<h2>{_e(r.get('account'))} ← {_e(r.get('source'))}</h2>"
                     f"<p class='{'ok' if ok else 'bad'}'><b>{_e(r.get('verdict'))}</b>"
                     f" — {_e(t.get('migrated_messages', 0))} of "
                     f"{_e(t.get('source_messages', 0))} messages migrated, "
                     f"{_e(t.get('missing', 0))} missing, {_e(t.get('extras', 0))} extra "
                     "at the target</p>")
        if r.get("error"):
            parts.append(f"<p class='bad'>Error: {_e(r['error'])}</p>")
        parts.append("<table><tr><th>source folder</th><th>target folder</th>"
                     "<th>source msgs</th><th>source bytes</th><th>migrated</th>"
                     "<th>target msgs</th><th>target bytes</th><th>missing</th></tr>")
        for f in r.get("folders", []):
            parts.append("<tr>" + "".join(f"<td>{_e(f.get(k, ''))}</td>" for k in (
                "source", "target", "source_messages", "source_bytes", "migrated_messages",
                "target_messages", "target_bytes", "missing")) + "</tr>")
        parts.append("</table>")
        if r.get("missing"):
            parts.append("<h3>Missing at the target</h3><table><tr><th>folder</th>"
                         "<th>date</th><th>from</th><th>subject</th><th>Message-ID</th>"
                         "<th>why</th></tr>")
            for m in r["missing"]:
                parts.append("<tr>" + "".join(f"<td>{_e(m.get(k, ''))}</td>" for k in (
                    "folder", "internal_date", "from", "subject", "message_id", "reason"))
                    + "</tr>")
            parts.append("</table>")
        parts.append(f"<p><small>report SHA-256: {_e(r.get('sha256', ''))}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts)
