"""The CO2 model (docs/eco.md): a mailbox's yearly footprint from what it stores and what
it receives, before and after each eco policy.

    storage    = GB stored x (replicas x storage_kwh_per_gb_year
                              + backup_copies x backup_kwh_per_gb_year) x PUE x grid
    processing = messages per year x wh_per_message / 1000 x PUE x grid
    transfer   = GB received per year x (1 + reads_per_message) x kwh_per_gb_transfer x grid
    embodied   = accounts x embodied_g_per_account_year

Every factor comes from `[eco]` (defaults and sources in docs/eco.md) and is printed with
the report; the inputs come from the storage analysis (zenmail.eco.analyze). The report is
a pure function of both: the same store and settings give the same figures, to the gram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zenmail.config import EcoSettings
from zenmail.directory.views import View
from zenmail.eco.analyze import Usage

GB = 1e9
# Grid carbon intensity per zone, g CO2e per kWh (docs/eco.md, "Grid": sources and years).
ZONES: dict[str, float] = {"EU": 251.0, "FR": 52.0, "DE": 380.0, "PL": 662.0, "US": 373.0}


@dataclass
class Factor(View):
    name: str
    value: float
    unit: str


@dataclass
class Scenario(View):
    name: str
    description: str
    stored_bytes: int
    storage_g: float
    processing_g: float
    transfer_g: float
    embodied_g: float
    total_g: float
    per_account_g: float
    saved_g: float          # against the scenario before it ("now": what is saved already)
    saved_bytes: int


@dataclass
class PolicyUsed(View):
    archive_after_months: int
    trash_after_days: int
    reduce_images: bool
    source: str             # "tenant": its own policy; "suggested": none set, defaults shown


@dataclass
class Report(View):
    scope: str
    accounts: int
    factors: list[Factor]
    inputs: dict[str, float]
    policy: PolicyUsed
    scenarios: list[Scenario] = field(default_factory=list)
    storage_reduction_percent: float = 0.0   # raw Maildir -> every policy applied
    footprint_reduction_percent: float = 0.0
    as_of: str = ""          # the day (UTC) the year's mail and the policies' cutoffs count from


def grid(eco: EcoSettings) -> float:
    return eco.grid_g_per_kwh or ZONES[eco.grid_zone]


def factors(eco: EcoSettings) -> list[Factor]:
    return [
        Factor("grid_g_per_kwh", grid(eco), f"g CO2e/kWh (zone {eco.grid_zone})"),
        Factor("pue", eco.pue, "facility energy / IT energy"),
        Factor("storage_kwh_per_gb_year", eco.storage_kwh_per_gb_year, "kWh per GB-year, "
               "one online copy"),
        Factor("replicas", eco.replicas, "online copies"),
        Factor("backup_copies", eco.backup_copies, "backup copies"),
        Factor("backup_kwh_per_gb_year", eco.backup_kwh_per_gb_year, "kWh per GB-year, one "
               "backup copy"),
        Factor("wh_per_message", eco.wh_per_message, "Wh per message received"),
        Factor("kwh_per_gb_transfer", eco.kwh_per_gb_transfer, "kWh per GB over the network"),
        Factor("reads_per_message", eco.reads_per_message, "downloads per message"),
        Factor("embodied_g_per_account_year", eco.embodied_g_per_account_year,
               "g CO2e per account-year (manufacturing)"),
    ]


def footprint(eco: EcoSettings, stored_bytes: float, messages_per_year: float,
              bytes_per_year: float, accounts: int) -> tuple[float, float, float, float]:
    """(storage, processing, transfer, embodied) in g CO2e per year."""
    g = grid(eco)
    kwh_per_gb = eco.replicas * eco.storage_kwh_per_gb_year + \
        eco.backup_copies * eco.backup_kwh_per_gb_year
    storage = stored_bytes / GB * kwh_per_gb * eco.pue * g
    processing = messages_per_year * eco.wh_per_message / 1000 * eco.pue * g
    transfer = bytes_per_year / GB * (1 + eco.reads_per_message) * eco.kwh_per_gb_transfer * g
    embodied = accounts * eco.embodied_g_per_account_year
    return storage, processing, transfer, embodied


def report(scope: str, usage: Usage, accounts: int, eco: EcoSettings,
           policy: PolicyUsed) -> Report:
    """The footprint as stored now and after each policy, each step on top of the last."""
    ratio = (usage.compressed_disk_bytes / usage.compressed_bytes if usage.compressed_bytes
             else eco.compression_ratio)
    plain = usage.bytes - usage.compressed_bytes  # message bytes still stored uncompressed
    steps: list[tuple[str, str, float]] = [
        ("raw Maildir", "every message stored as delivered, no eco-design", usage.bytes),
        ("now", "as stored today", usage.disk_bytes),
        ("compression", f"every message compressed (stored/original {ratio:.2f}: "
         f"{'measured on this store' if usage.compressed_bytes else 'assumed'})",
         usage.compressed_disk_bytes + plain * ratio),
    ]
    stored = steps[-1][2]
    if policy.trash_after_days:
        stored -= usage.expirable_bytes * ratio
        steps.append(("trash and junk expunge", f"Trash and Junk emptied of what lay there "
                      f"over {policy.trash_after_days} days", stored))
    if policy.archive_after_months:
        steps.append(("archiving", f"mail older than {policy.archive_after_months} months "
                      "moved to Archive/ (same storage: saves no bytes by itself; it is what "
                      "image reduction works on)", stored))
        if policy.reduce_images:
            # Images barely compress: their decoded bytes are what they take on disk.
            stored -= usage.reducible_image_bytes * (1 - eco.image_reduction_ratio)
            steps.append(("image reduction", f"large images of archived mail down-scaled "
                          f"(kept {eco.image_reduction_ratio:.0%} of their bytes)", stored))
    messages = usage.received_last_year
    per_year = usage.received_last_year_bytes
    scenarios: list[Scenario] = []
    for name, description, size in steps:
        s, p, t, e = footprint(eco, size, messages, per_year, accounts)
        total = s + p + t + e
        prev = scenarios[-1] if scenarios else None
        scenarios.append(Scenario(
            name, description, round(size), round(s, 1), round(p, 1), round(t, 1),
            round(e, 1), round(total, 1), round(total / accounts, 1) if accounts else 0.0,
            round(prev.total_g - total, 1) if prev else 0.0,
            round(prev.stored_bytes - size) if prev else 0))
    raw, last = scenarios[0], scenarios[-1]
    inputs = {"stored_bytes": usage.disk_bytes, "message_bytes": usage.bytes,
              "messages": usage.messages, "received_last_year": messages,
              "received_last_year_bytes": per_year,
              "compressed_bytes": usage.compressed_bytes,
              "compressed_disk_bytes": usage.compressed_disk_bytes,
              "expirable_bytes": usage.expirable_bytes,
              "archivable_bytes": usage.archivable_bytes,
              "reducible_image_bytes": usage.reducible_image_bytes}
    return Report(scope, accounts, factors(eco), {k: float(v) for k, v in inputs.items()},
                  policy, scenarios,
                  round(100 * (1 - last.stored_bytes / raw.stored_bytes), 1)
                  if raw.stored_bytes else 0.0,
                  round(100 * (1 - last.total_g / raw.total_g), 1) if raw.total_g else 0.0)


def typical(eco: EcoSettings) -> float:
    """The documented typical account (docs/eco.md): 3 GB stored as raw Maildir, 12,000
    messages a year of 60 kB on average. g CO2e per year."""
    return sum(footprint(eco, 3 * GB, 12_000, 12_000 * 60_000, 1))
