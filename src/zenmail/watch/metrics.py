"""`/metrics`: the node's figures in Prometheus' text format, gathered at scrape time.

Names follow Prometheus' conventions (`zenmail_` prefix, base units in the name: `_seconds`,
`_bytes`, `_total` for counters). Labels have bounded cardinality: a service name (the
registry's few daemons), a queue (4), a volume (2), a probe (4), a window (2), a migration
job's status (a handful), a filter verdict (3), a tenant (one per customer company, never
per account, mailbox or message).

A tenant administrator's scrape shows its own tenant's series only; the node-wide series
(services, queues, disk, certificate, probes, the last snapshot) name no tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory import usage
from zenmail.directory.models import Account, Tenant
from zenmail.stack.files import Layout
from zenmail.watch import engines, history, mailcount, observe

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeCollector(Collector):
    def __init__(self, settings: Settings, db: Database, tenant_id: int | None) -> None:
        self.settings, self.db, self.tenant_id = settings, db, tenant_id

    def collect(self) -> Iterator[Metric]:
        yield from self._services()
        yield from self._queues()
        yield from self._mail()
        yield from self._disk()
        yield from self._certificate()
        yield from self._vault()
        with self.db.reading() as s:
            yield from self._tenants(s)
            yield from self._probes(s)
            yield from self._migrations(s)
            tenant = (None if self.tenant_id is None
                      else s.scalar(select(Tenant.name).where(Tenant.id == self.tenant_id)))
        yield from self._filter(tenant)

    def _services(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("zenmail_service_up", "1 if the service's process runs and "
                               "answers its protocol, else 0.", labels=["service"])
        running = GaugeMetricFamily("zenmail_service_running", "1 if the service's process "
                                    "runs (it may still not answer), else 0.",
                                    labels=["service"])
        facts = observe.services(self.settings)
        for f in facts:
            up.add_metric([f.name], 1.0 if f.healthy else 0.0)
            running.add_metric([f.name], 1.0 if f.running else 0.0)
        restarts = CounterMetricFamily("zenmail_service_restarts", "Restarts the supervisor "
                                       "made of the service.", labels=["service"])
        counted = observe.restarts(self.settings)
        for f in facts:
            restarts.add_metric([f.name], float(counted.get(f.name, 0)))
        yield from (up, running, restarts)

    def _queues(self) -> Iterator[Metric]:
        g = GaugeMetricFamily("zenmail_postfix_queue_messages", "Messages in each of "
                              "Postfix's queues.", labels=["queue"])
        for q, n in observe.queues(self.settings).items():
            g.add_metric([q], float(n))
        yield g

    def _mail(self) -> Iterator[Metric]:
        c = CounterMetricFamily("zenmail_mail_messages", "Messages (accepted, rejected) and "
                                "recipients' copies (delivered, deferred attempts, bounced) "
                                "in Postfix's log.", labels=["outcome"])
        log = Layout.of(self.settings.state_dir).log / "postfix.log"
        for kind, n in mailcount.counts(log).items():
            c.add_metric([kind], float(n))
        yield c

    def _disk(self) -> Iterator[Metric]:
        free = GaugeMetricFamily("zenmail_disk_free_bytes", "Free bytes of the file system "
                                 "holding the volume.", labels=["volume"])
        size = GaugeMetricFamily("zenmail_disk_size_bytes", "Size in bytes of the file "
                                 "system holding the volume.", labels=["volume"])
        for d in observe.disks(self.settings):
            free.add_metric([d.volume], float(d.free_bytes))
            size.add_metric([d.volume], float(d.size_bytes))
        yield from (free, size)

    def _certificate(self) -> Iterator[Metric]:
        expiry = observe.certificate_expiry(self.settings)
        if expiry is not None:
            yield GaugeMetricFamily("zenmail_tls_certificate_expiry_timestamp_seconds",
                                    "When the certificate the daemons present expires "
                                    "(Unix time).", value=expiry.timestamp())

    def _vault(self) -> Iterator[Metric]:
        last = engines.last_snapshot(self.settings)
        if last is None:
            return  # no vault in use here (or no complete snapshot yet)
        yield GaugeMetricFamily("zenmail_vault_last_snapshot_timestamp_seconds", "When the "
                                "newest snapshot of everything was taken (Unix time).",
                                value=last.timestamp())
        yield GaugeMetricFamily("zenmail_vault_last_snapshot_age_seconds", "Age of the "
                                "newest snapshot of everything.",
                                value=max(0.0, (datetime.now(UTC) - last).total_seconds()))

    def _migrations(self, s: Session) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("zenmail_migration_jobs", "Migration jobs (one source "
                                 "mailbox each) per status.", labels=["tenant", "status"])
        msgs = GaugeMetricFamily("zenmail_migration_messages", "Messages of the tenant's "
                                 "migration jobs: found at the sources, and copied.",
                                 labels=["tenant", "state"])
        size = GaugeMetricFamily("zenmail_migration_bytes", "Bytes of the tenant's migration "
                                 "jobs: found at the sources, and copied.",
                                 labels=["tenant", "state"])
        ratio = GaugeMetricFamily("zenmail_migration_progress_ratio", "Share of the bytes "
                                  "found at the sources that was copied.", labels=["tenant"])
        for f in engines.migrations(s, self.tenant_id):
            for status, n in sorted(f.jobs.items()):
                jobs.add_metric([f.tenant, status], float(n))
            msgs.add_metric([f.tenant, "source"], float(f.messages_total))
            msgs.add_metric([f.tenant, "copied"], float(f.messages_done))
            size.add_metric([f.tenant, "source"], float(f.bytes_total))
            size.add_metric([f.tenant, "copied"], float(f.bytes_done))
            if f.bytes_total:
                ratio.add_metric([f.tenant], min(1.0, f.bytes_done / f.bytes_total))
        yield from (jobs, msgs, size, ratio)

    def _filter(self, tenant: str | None) -> Iterator[Metric]:
        if self.tenant_id is not None and tenant is None:
            return
        c = CounterMetricFamily("zenmail_filter_verdicts", "Messages to the tenant the "
                                "filter refused or junked as spam, found carrying a virus, "
                                "or took for phishing (over the 400 days kept).",
                                labels=["tenant", "verdict"])
        for (name, verdict), n in sorted(engines.verdicts(self.settings, tenant).items()):
            c.add_metric([name, verdict], float(n))
        yield c

    def _tenants(self, s: Session) -> Iterator[Metric]:
        pool = GaugeMetricFamily("zenmail_tenant_pool_bytes", "The tenant's storage pool.",
                                 labels=["tenant"])
        allocated = GaugeMetricFamily("zenmail_tenant_quota_allocated_bytes", "Sum of the "
                                      "quotas of the tenant's accounts.", labels=["tenant"])
        used = GaugeMetricFamily("zenmail_tenant_quota_used_bytes", "What the tenant's "
                                 "mailboxes store, as Dovecot counts it.", labels=["tenant"])
        stmt = (select(Tenant.id, Tenant.name, Tenant.pool_bytes,
                       func.coalesce(func.sum(Account.quota_bytes), 0))
                .outerjoin(Account, Account.tenant_id == Tenant.id)
                .group_by(Tenant.id, Tenant.name, Tenant.pool_bytes).order_by(Tenant.name))
        if self.tenant_id is not None:
            stmt = stmt.where(Tenant.id == self.tenant_id)
        rows = s.execute(stmt).all()
        measured = usage.of_tenants(s, [r[0] for r in rows])
        for tid, name, pool_bytes, alloc in rows:
            pool.add_metric([name], float(pool_bytes))
            allocated.add_metric([name], float(alloc))
            used.add_metric([name], float(measured.get(tid, 0)))
        yield from (pool, allocated, used)

    def _probes(self, s: Session) -> Iterator[Metric]:
        ok = GaugeMetricFamily("zenmail_probe_success", "1 if the probe's last run "
                               "succeeded, else 0.", labels=["probe"])
        latency = GaugeMetricFamily("zenmail_probe_latency_seconds", "How long the probe's "
                                    "last successful run took (end to end).", labels=["probe"])
        when = GaugeMetricFamily("zenmail_probe_last_run_timestamp_seconds", "When the probe "
                                 "last ran (Unix time).", labels=["probe"])
        for run in history.last(s).values():
            ok.add_metric([run.probe], 1.0 if run.ok else 0.0)
            if run.ok and run.latency_s is not None:
                latency.add_metric([run.probe], run.latency_s)
            when.add_metric([run.probe], datetime.fromisoformat(run.at).timestamp())
        slo = GaugeMetricFamily("zenmail_probe_slo_ratio", "Share of the probe's runs that "
                                "succeeded within the SLO's seconds, over the window.",
                                labels=["probe", "window"])
        for x in history.slo(s, self.settings.watch.slo_seconds):
            if x.ratio is not None:
                slo.add_metric([x.probe, x.window], x.ratio)
        yield from (ok, latency, when, slo)


def render(settings: Settings, db: Database, tenant_id: int | None = None) -> bytes:
    """The exposition text: every series (tenant_id None) or one tenant's and the node's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(settings, db, tenant_id))
    return generate_latest(registry)
