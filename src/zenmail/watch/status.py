"""The status page: services, the last probe results and the SLO figures, as JSON and as a
small HTML page (public: it names no tenant, no account, no path; only the node's health)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.watch import history, observe
from zenmail.watch.models import Alert


def snapshot(settings: Settings, db: Database) -> dict[str, Any]:
    services = [{"name": f.name, "running": f.running, "healthy": f.healthy}
                for f in observe.services(settings)]
    with db.reading() as s:
        probes = [r.to_dict() for r in history.last(s).values()]
        slo = [x.to_dict() for x in history.slo(s, settings.watch.slo_seconds)]
        open_alerts = s.scalar(select(func.count()).select_from(Alert)
                               .where(Alert.resolved_at.is_(None))) or 0
    for p in probes:
        p["error"] = "failed" if p["error"] else ""  # no internals on a public page
    ok = (all(x["healthy"] for x in services if x["running"]) and any(services)
          and all(p["ok"] for p in probes))
    return {"node": settings.hostname, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "ok" if ok else "degraded", "services": services, "probes": probes,
            "slo": {"threshold_s": settings.watch.slo_seconds, "figures": slo},
            "open_alerts": int(open_alerts)}


def _service(x: dict[str, Any]) -> str:
    state = "up" if x["healthy"] else "running, not answering" if x["running"] else "down"
    cls = "ok" if x["healthy"] else "bad"
    return f"<tr><td>{html.escape(x['name'])}</td><td class={cls}>{state}</td></tr>"


def _probe(p: dict[str, Any]) -> str:
    cls, word = ("ok", "ok") if p["ok"] else ("bad", "failed")
    latency = "" if p["latency_s"] is None else f"{p['latency_s'] * 1000:.0f} ms"
    return (f"<tr><td>{html.escape(p['probe'])}</td><td class={cls}>{word}</td>"
            f"<td>{latency}</td><td>{html.escape(p['at'][:19])}</td></tr>")


def _slo(x: dict[str, Any]) -> str:
    good = "-" if x["ratio"] is None else f"{x['ratio'] * 100:.2f} %"
    return (f"<tr><td>{html.escape(x['probe'])}</td><td>{x['window']}</td><td>{good}</td>"
            f"<td>{x['runs']}</td></tr>")


def page(snap: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(_service(x) for x in snap["services"])
    probes = "".join(_probe(p) for p in snap["probes"])
    slo = "".join(_slo(x) for x in snap["slo"]["figures"])
    cls = "ok" if snap["status"] == "ok" else "bad"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(snap['node'])}: {snap['status']}</title>
<meta http-equiv="refresh" content="60">
<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto}}td,th{{padding:.2em 1em;
text-align:left}}.ok{{color:#176f2c}}.bad{{color:#b00020;font-weight:bold}}</style></head>
<body><h1>{e(snap['node'])}: <span class={cls}>{snap['status']}</span></h1>
<p>As of {e(snap['at'])} UTC; open alerts: {snap['open_alerts']}.
JSON: <a href="/status.json">/status.json</a></p>
<h2>Services</h2><table><tr><th>service</th><th>state</th></tr>{rows}</table>
<h2>Last probes</h2><table><tr><th>probe</th><th>result</th><th>latency</th><th>at</th></tr>
{probes}</table>
<h2>SLO: share of probes under {snap['slo']['threshold_s']:.0f} s</h2>
<table><tr><th>probe</th><th>window</th><th>good</th><th>runs</th></tr>{slo}</table>
</body></html>
"""
