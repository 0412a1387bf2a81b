"""The one settings schema: every knob of one zenmail node, typed, validated, documented.

Values come, last one winning, from: the defaults below, `STATE/zenmail.toml`, the
environment, and the command line. A field `x` of section `[s]` is `ZENMAIL_S_X` in the
environment (`[ports] base` is `ZENMAIL_PORTS_BASE`, `[database] url` is
`ZENMAIL_DATABASE_URL`); a top-level field `x` is `ZENMAIL_X`. The state directory itself
comes from `--state DIR`, then `ZENMAIL_STATE`, then `./.zenmail`. `zenmail config` shows
every field, its value and where that value came from.

    hostname = "mail.example.com"
    [database]  url = "postgresql://zenmail:secret@db/zenmail"
    [ports]     plan = "dev" | "standard";  base = 10000;  imap = 20143  (pins one listener)
    [listen]    addresses = ["0.0.0.0", "::"]
    [api]       host, port
    [mail]      store = "/srv/mail"
    [tls]       cert, key
    [endpoints] lmtp, sasl, redis   (where Postfix reaches Dovecot; where zenmail reaches Redis)
    [relay]     host, port, username, password, tls, ca_file   (a smarthost for outgoing mail)
    [limits]    mx_recipients_per_message = 100; ...  (what one SMTP client may ask of us)
    [lockout]   pair_failures = 10; ...    (when wrong passwords lock a login out, and for how long)
    [watch]     probe_every_s = 60; admin_email; webhook_url; resolver  (probes, health, doctor)
    [alerts]    probe_failures = 3; deferred_queue = 100; ...  (when an alert fires)
    [vault]     repository, every_minutes, keep_*   (snapshots: docs/vault.md)
    [filter]    enabled, antivirus, reject_score, ...  (rspamd, ClamAV, DKIM, egress)
    [migration] batch_messages, retries, dns_server   (zenmail migrate: docs/migration.md)
    [devices]   auth_cache_ttl, links   (app passwords, device setup: docs/devices.md)
    [eco]       compression = "zstd"; dormant_months = 6; grid_zone = "FR"; ...  (docs/eco.md)

This module is the ground floor: it knows nothing of daemons, so port *names* are checked
against the daemon registry when the port plan is made (zenmail.stack.ports).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from zenmail.errors import InvalidInput

CONFIG_FILE = "zenmail.toml"
LEGACY_STACK_FILE = "stack.toml"  # held [ports] before there was one schema; still read
DEFAULT_STATE = Path(".zenmail")
ENV_PREFIX = "ZENMAIL_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatabaseSettings(_Section):
    url: str = Field("", description="SQLAlchemy URL of the directory database. Empty: a "
                     "SQLite file in the state directory. Production: "
                     "postgresql://user:pass@host/db")

    mail_url: str = Field("", description="What Postfix and Dovecot connect with. Empty: "
                          "with PostgreSQL, a role `<database>_mail` that zenmail creates and "
                          "keeps able to SELECT only the columns the mail lookups read (needs "
                          "CREATEROLE); with SQLite, the database file itself. Set it to a "
                          "role you manage yourself (docs/security.md lists the columns).")

    @field_validator("url", "mail_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return v


class PortSettings(_Section):
    plan: Literal["dev", "standard"] = Field("dev", description="dev: each listener on base + "
                                             "its standard port, on loopback; standard: the "
                                             "well-known ports (25, 587, 143, 993, ...).")
    base: int = Field(10000, ge=1, le=65535, description="Offset of the dev plan: SMTP on "
                      "base+25, submission on base+587, IMAP on base+143, ...")
    pins: dict[str, int] = Field(default_factory=dict, description="Single listeners pinned "
                                 "to a port, written `imap = 20143` in [ports].")

    @model_validator(mode="before")
    @classmethod
    def _collect_pins(cls, data: Any) -> Any:
        # In the file a pin sits beside plan and base (`imap = 20143`); gather those keys.
        if not isinstance(data, dict):
            return data
        known = {"plan", "base", "pins"}
        pins = dict(data.get("pins") or {})
        pins.update({k: v for k, v in data.items() if k not in known})
        return {**{k: v for k, v in data.items() if k in known}, "pins": pins}

    @field_validator("pins")
    @classmethod
    def _ports_in_range(cls, pins: dict[str, int]) -> dict[str, int]:
        for name, port in pins.items():
            if not 0 < port < 65536:
                raise ValueError(f"{name} = {port} is not a port number (1-65535)")
        return pins


class ListenSettings(_Section):
    addresses: list[str] = Field(default_factory=list, description="Where the public "
                                 "listeners (SMTP, submission, IMAP, ManageSieve) listen: IPv4 "
                                 "and IPv6 addresses; 0.0.0.0 and :: mean all. Empty: "
                                 "127.0.0.1 for the dev plan, 0.0.0.0 and :: for standard.")

    @field_validator("addresses", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else v

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ValueError(f"{a!r} is not an IPv4 or IPv6 address") from None
        if len(set(v)) != len(v):
            raise ValueError("an address is listed twice")
        return v


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="Address of the REST API.")
    port: int = Field(0, ge=0, le=65535, description="Port of the REST API; 0 takes it from "
                      "the port plan (base+8080 in dev, 8080 standard).")


class MailSettings(_Section):
    store: str = Field("", description="Where the mailboxes live (Maildir per account). "
                       "Empty: STATE/mail.")


class TlsSettings(_Section):
    cert: str = Field("", description="PEM certificate (chain) for SMTP and IMAP. Empty: "
                      "STATE/tls/cert.pem, made self-signed on the first `zenmail up`.")
    key: str = Field("", description="PEM private key of that certificate. Empty: "
                     "STATE/tls/key.pem.")

    @model_validator(mode="after")
    def _both_or_neither(self) -> TlsSettings:
        if bool(self.cert) != bool(self.key):
            raise ValueError("give both cert and key, or neither (then a self-signed pair "
                             "is made)")
        return self


class EndpointSettings(_Section):
    lmtp: str = Field("", description="Where Postfix delivers to Dovecot: empty for the local "
                      "Dovecot's unix socket, or inet:HOST:PORT / unix:/PATH for another one.")
    sasl: str = Field("", description="Where Postfix checks submission logins: empty for the "
                      "local Dovecot, or inet:HOST:PORT / unix:/PATH.")
    redis: str = Field("", description="Where zenmail's own processes (the login-failure "
                       "policy, the API, the CLI) reach Redis: empty for this stack's Redis on "
                       "its unix socket, or inet:HOST:PORT / unix:/PATH.")

    @field_validator("lmtp", "sasl", "redis")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if v and not (v.startswith("unix:/") or
                      (v.startswith("inet:") and v.rpartition(":")[2].isdigit())):
            raise ValueError(f"{v!r} is neither inet:HOST:PORT nor unix:/PATH")
        return v


class RelaySettings(_Section):
    host: str = Field("", description="A relay host (smarthost) that takes all mail to other "
                      "domains, e.g. your provider's smtp.provider.example. Empty: mail goes "
                      "straight to each domain's MX (standard port plan); in the dev plan, "
                      "which has no DNS, it then waits in the queue and never leaves.")
    port: int = Field(587, ge=1, le=65535, description="Port of the relay host. STARTTLS is "
                      "required on it: nothing, the login least of all, goes out unencrypted.")
    username: str = Field("", description="Login at the relay host (SASL PLAIN/LOGIN inside "
                          "TLS). Empty: no login (a relay that trusts this server's address).")
    password: str = Field("", description="Password of that login. Written only into a file "
                          "root alone can read; keep zenmail.toml holding it chmod 600 (`up` "
                          "refuses otherwise), or give it as ZENMAIL_RELAY_PASSWORD.",
                          json_schema_extra={"secret": True})
    tls: Literal["verify", "encrypt"] = Field("verify", description="verify: the relay's "
                                              "certificate must be valid for its host name "
                                              "(ca_file); encrypt: encrypted but unverified, "
                                              "for a relay with a private certificate: whoever "
                                              "can intercept the connection can read the login.")
    ca_file: str = Field("", description="PEM file of the certificate authorities that vouch "
                         "for the relay's certificate. Empty: the system's "
                         "(/etc/ssl/certs/ca-certificates.crt).")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip().removeprefix("[").removesuffix("]")
        if not v:
            return v
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            pass
        if not all(c.isalnum() or c in ".-" for c in v) or v.startswith(("-", ".")):
            raise ValueError(f"{v!r} is not a host name or an IP address (the port goes in "
                             "`port`, not after the host)")
        return v.rstrip(".").lower()

    @field_validator("username", "password")
    @classmethod
    def _one_line(cls, v: str) -> str:
        # Both end up in one line of a Postfix table: `[host]:port username:password`.
        if any(c in v for c in "\r\n\0") or v != v.strip():
            raise ValueError("must be one line without leading or trailing blanks")
        return v

    @model_validator(mode="after")
    def _complete(self) -> RelaySettings:
        if ":" in self.username or any(c.isspace() for c in self.username):
            raise ValueError("username may contain neither ':' nor blanks")
        if bool(self.username) != bool(self.password):
            raise ValueError("give both username and password, or neither")
        if self.username and not self.host:
            raise ValueError("a relay login needs the relay's host too")
        return self
class LimitSettings(_Section):
    """What one SMTP client may ask of the MX listener (port 25) and the submission ports.
    Clients in Postfix's mynetworks (127.0.0.1) are exempt from the per-minute limits."""

    mx_recipients_per_message: int = Field(
        100, ge=100, le=1000, description="Recipients one message may name on the MX listener; "
        "more are refused with 452 4.5.3 and the sending server retries them in another "
        "transaction. RFC 5321 (4.5.3.1.8) requires accepting at least 100.")
    mx_recipients_per_minute: int = Field(
        600, ge=100, description="RCPT commands one client address may send to the MX listener "
        "per minute, refused or not; beyond it 450 4.7.1 (a real server retries later).")
    submission_auths_per_minute: int = Field(
        100, ge=10, description="AUTH commands one client address may send to the submission "
        "ports per minute; beyond it 450 4.7.1. A coarse brake on password guessing: the "
        "lockout rules ([lockout]) are what stop it.")
    mx_connections_per_minute: int = Field(
        60, ge=1, description="Connections one client address may open to the MX listener per "
        "minute (Postfix's anvil); beyond it 421 4.7.0 too many connections.")
    mx_connections_at_once: int = Field(
        20, ge=1, description="Connections one client address may hold open to the MX "
        "listener at the same time; beyond it 421 4.7.0.")


class LockoutSettings(_Section):
    """When wrong passwords (IMAP, ManageSieve, SMTP AUTH) lock a login out, and for how
    long. Counted by the login-failure policy in Redis; a wrong password repeated (a phone
    with an old password) counts once. See docs/security.md."""

    pair_failures: int = Field(10, ge=3, description="Different wrong passwords for one "
                               "account from one client address that lock that account out "
                               "for that address.")
    client_failures: int = Field(30, ge=5, description="Failed logins from one client address "
                                 "(any accounts) that lock that address out, except for the "
                                 "accounts that logged in from it before.")
    account_failures: int = Field(50, ge=5, description="Failed logins for one account (from "
                                  "any addresses) that lock that account out, except from "
                                  "addresses it logged in from before.")
    window_minutes: int = Field(15, ge=1, le=1440, description="Failures count for this long "
                                "after the first one; a lockout lasts as long.")
    known_client_days: int = Field(30, ge=1, le=365, description="How long a successful login "
                                   "makes its address known for that account (exempt from "
                                   "the address-wide and account-wide lockouts).")
    api_token_failures: int = Field(10, ge=3, description="Requests with a wrong API token from "
                                    "one client address per minute before the API answers "
                                    "429 with Retry-After (a valid token still works).")


class WatchSettings(_Section):
    """Live watch: the end-to-end probes, protocol health checks, alerts' recipients and the
    resolver `zenmail doctor` asks (docs/watch.md)."""

    probe_every_s: float = Field(60.0, ge=1.0, description="Seconds between two rounds of "
                                 "probes (submission to mailbox, MX path, IMAP login).")
    probe_timeout_s: float = Field(60.0, ge=1.0, description="How long a probe message may "
                                   "take to arrive before the probe counts as failed.")
    slo_seconds: float = Field(60.0, gt=0, description="A probe round trip under this many "
                               "seconds counts as good in the SLO figures.")
    health_every_s: float = Field(10.0, ge=1.0, description="Seconds between protocol health "
                                  "checks of the daemons (SMTP banner and EHLO, IMAP greeting "
                                  "and the probe account's login, LMTP).")
    hung_after: int = Field(3, ge=1, description="Failed protocol health checks in a row, "
                            "with the process still alive, after which a daemon counts as hung "
                            "and is restarted.")
    admin_email: str = Field("", description="Where alerts are mailed (through this stack's "
                             "own Postfix). Empty: no alert mail.")
    webhook_url: str = Field("", description="Where alerts are POSTed as JSON. Empty: no "
                             "webhook.")
    resolver: str = Field("", description="DNS server `zenmail doctor` asks, as HOST or "
                          "HOST:PORT. Empty: the system's resolver.")
    dkim_selector: str = Field("zenmail", description="The DKIM selector whose key `zenmail "
                               "doctor` looks for (SELECTOR._domainkey.DOMAIN).")
    ntp_server: str = Field("", description="NTP server (HOST or HOST:PORT) `zenmail doctor` "
                            "measures the clock's skew against. Empty: PostgreSQL's clock, "
                            "if the directory is there.")

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


class AlertSettings(_Section):
    """When an alert fires (each fires once, and says when it is resolved)."""

    probe_failures: int = Field(3, ge=1, description="Failed runs in a row of one probe.")
    deferred_queue: int = Field(100, ge=0, description="Messages in Postfix's deferred "
                                "queue above which an alert fires.")
    disk_free_percent: float = Field(10.0, ge=0, le=100, description="Free space (per cent) "
                                     "of the mail store's file system below which an alert "
                                     "fires.")
    restarts: int = Field(3, ge=1, description="Restarts of one daemon within 10 minutes "
                          "above which an alert fires.")
    cert_days: int = Field(14, ge=0, description="Days before the TLS certificate expires "
                           "below which an alert fires.")
    snapshot_hours: float = Field(26.0, gt=0, description="Age of the last snapshot above "
                                  "which an alert fires (only where snapshots are made).")
class VaultSettings(_Section):
    """Snapshots of the mail and the directory in a restic repository (docs/vault.md)."""

    repository: str = Field("", description="Where the snapshots go: empty for STATE/vault, "
                            "a local path, or a restic location such as "
                            "s3:https://host/bucket/prefix.")
    s3_access_key_id: str = Field("", description="Access key of the S3 repository.")
    s3_secret_access_key: str = Field("", description="Secret key of the S3 repository; keep "
                                      "zenmail.toml chmod 600 or give it as "
                                      "ZENMAIL_VAULT_S3_SECRET_ACCESS_KEY.",
                                      json_schema_extra={"secret": True})
    every_minutes: int = Field(60, ge=0, le=10080, description="`zenmail serve` (the "
                               "supervisor) snapshots everything this often; 0: only on "
                               "demand.")
    keep_hourly: int = Field(24, ge=0, description="Hourly snapshots kept (restic forget).")
    keep_daily: int = Field(30, ge=0, description="Daily snapshots kept.")
    keep_monthly: int = Field(12, ge=0, description="Monthly snapshots kept.")
    keep_last: int = Field(0, ge=0, description="The latest snapshots kept whatever their "
                           "time (restic --keep-last), besides the periods above.")
    compression: Literal["auto", "max", "off"] = Field("auto", description="restic's zstd "
                                                       "level for new data: max stores less "
                                                       "for about 3x the CPU.")
class FilterSettings(_Section):
    """Mail filtering (docs/filtering.md): rspamd as a milter on every SMTP listener, ClamAV
    through it, DKIM signing, the tenants' anti-phishing rules and the egress limits."""

    enabled: bool = Field(True, description="Scan mail with rspamd (and ClamAV). false (or "
                          "`zenmail up --no-filter`): the bare path, no milter, no rspamd.")
    antivirus: bool = Field(True, description="Run a private clamd and reject infected mail. "
                            "Needs signatures in clamav_db (freshclam; docs/filtering.md).")
    clamav_db: str = Field("/var/lib/clamav", description="Directory of ClamAV's signature "
                           "databases (what freshclam keeps up to date).")
    reject_score: float = Field(15.0, gt=0, description="Score from which mail is refused at "
                                "SMTP time (554 5.7.1).")
    junk_score: float = Field(6.0, gt=0, description="Score from which mail gets `X-Spam: Yes` "
                              "and is filed into the recipient's Junk folder.")
    nameservers: list[str] = Field(default_factory=list, description="DNS servers rspamd asks "
                                   "(SPF, DKIM, DMARC, DNSBLs), as host or host:port. Empty: "
                                   "those of /etc/resolv.conf.")
    dnsbl: bool = Field(True, description="Ask the public DNS block lists (RBL/SURBL modules); "
                        "needs working DNS.")
    cache_dir: str = Field("/var/cache/zenmail/rspamd", description="Where rspamd keeps its "
                           "compiled regular expressions (≈50 MB; a cold start takes 15-80 s, "
                           "a warm one 1 s); shared by the stacks of one machine.")
    test_patterns: bool = Field(False, description="Honour rspamd's non-reject GTUBE variants "
                                "(YJS...: add header). For tests only: senders could use them "
                                "to pass the filter.")
    external_tag: bool = Field(False, description="Prefix the subject of mail from outside "
                               "the tenant with [EXTERNAL].")
    messages_per_hour: int = Field(200, ge=1, description="Messages one account may submit "
                                   "per hour; beyond it 450 4.7.1 until the hour has passed.")
    tenant_messages_per_hour: int = Field(2000, ge=1, description="Messages all accounts of "
                                          "one tenant may submit per hour together.")
    recipients_per_message: int = Field(100, ge=1, description="Recipients one submitted "
                                        "message may name.")
    recipients_per_day: int = Field(1000, ge=1, description="Recipients one account may "
                                    "send to per day.")
    suspend_after: int = Field(20, ge=1, description="Outbound messages of one account refused "
                               "as spam or virus, or over its hourly limit, within an hour, "
                               "that suspend its sending until an admin lifts it.")
    postscreen: bool = Field(True, description="Put Postfix's postscreen in front of the MX "
                             "listener (with `enabled`): DNS block lists and the pregreet "
                             "test before a client reaches the SMTP server. Submission ports "
                             "are never behind it.")
    dnsbl_sites: list[str] = Field(default_factory=list, description="Block lists postscreen "
                                   "asks about each new MX client, as Postfix writes them: "
                                   "`zone*weight` or `zone=127.0.0.2*weight` (e.g. "
                                   "\"zen.spamhaus.org*3\"). Empty: none.")
    dnsbl_threshold: int = Field(1, ge=1, description="Sum of the weights of the lists naming "
                                 "a client from which postscreen refuses its mail (550 5.7.1).")
    quarantine_days: int = Field(14, ge=0, description="Held mail older than this is deleted "
                                 "(recorded in the audit log and the security report); 0 keeps "
                                 "it until an administrator decides.")
    dkim_algorithm: Literal["rsa", "ed25519"] = Field(
        "rsa", description="Keys made for new domains and rotations: rsa (2048 bits, what "
        "every verifier knows) or ed25519 (RFC 8463; verifiers without it see no signature).")
    dkim_rotate_days: int = Field(0, ge=0, description="Make a new DKIM key for each domain "
                                  "after this many days (the stack's chore); 0: only "
                                  "`zenmail dkim rotate`.")
    dkim_overlap_days: int = Field(7, ge=0, description="Days the previous selector stays "
                                   "published (and its key kept) after a rotation, so mail "
                                   "signed before it still verifies; then it is retired.")
class MigrationSettings(_Section):
    """How `zenmail migrate` copies: batch sizes and what it does when a source falters.
    See docs/migration.md."""

    batch_messages: int = Field(250, ge=1, le=5000, description="Messages per FETCH and per "
                                "MULTIAPPEND batch.")
    batch_bytes: int = Field(8 << 20, ge=1 << 16, description="Bytes per batch (a larger "
                             "message makes a batch of its own).")
    retries: int = Field(4, ge=0, le=20, description="Times a transient failure (connection "
                         "refused or broken, timeout) is retried, with doubling waits.")
    backoff_seconds: float = Field(1.0, ge=0, le=600, description="The first wait before a "
                                   "retry; each next one doubles.")
    dns_server: str = Field("", description="The DNS server (IP or IP:PORT) `migrate cutover` "
                            "asks for MX records. Empty: the system's resolver.")
class DevicesSettings(_Section):
    """Devices: the auth cache that makes repeated logins cheap, and what setup profiles and
    links point at. See docs/devices.md."""

    auth_cache_ttl: int = Field(3600, ge=0, le=86400, description="Seconds Dovecot remembers "
                                "a successful login (a fast digest of the password), so a "
                                "device reconnecting skips the Argon2id check; 0 turns the "
                                "cache off. Flushed for an account whenever its credentials "
                                "change.")
    public_url: str = Field("", description="The address people's devices reach the API at, "
                            "for one-time setup links (e.g. https://mail.example.com). Empty: "
                            "the API's own address.")
    dav_url: str = Field("", description="CalDAV/CardDAV base URL put into setup profiles "
                         "(e.g. https://mail.example.com/dav/). Empty: the stack's DAV "
                         "listener if it has one, else the hostname on port 5232.")
class EcoSettings(_Section):
    """Eco-design (docs/eco.md): how the mail store is compressed, when mail counts as
    dormant, the policy run's schedule, and the parameters of the CO2 model (each one
    sourced in docs/eco.md)."""

    compression: Literal["zstd", "gz", "lz4", "xz", "bz2", "none"] = Field(
        "zstd", description="How Dovecot compresses mail it stores (its zlib plugin); reads "
        "are byte-identical. none: new mail is stored as is (compressed mail stays readable).")
    compression_level: int = Field(3, ge=1, le=22, description="Compression level (zstd "
                                   "1-22, gz/bz2/xz 1-9; ignored by lz4).")
    dormant_months: int = Field(6, ge=1, le=120, description="Mail not received, read or "
                                "changed for this many months counts as dormant in "
                                "`zenmail eco analyze`.")
    apply_every_hours: float = Field(24.0, ge=0, description="How often the stack's "
                                     "vault process applies every tenant's eco policy (0: "
                                     "never; `zenmail eco apply` by hand).")
    image_min_bytes: int = Field(200_000, ge=10_000, description="Image attachments smaller "
                                 "than this are left alone by image reduction.")
    image_max_pixels: int = Field(1600, ge=320, description="Reduced images fit in a square "
                                  "of this many pixels a side.")
    image_jpeg_quality: int = Field(75, ge=30, le=95, description="JPEG quality of reduced "
                                    "images.")
    # The CO2 model: docs/eco.md names the source of each default.
    grid_zone: Literal["EU", "FR", "DE", "PL", "US"] = Field(
        "EU", description="Where the data centre draws its electricity: sets the grid's "
        "carbon intensity (docs/eco.md lists each zone's figure and source).")
    grid_g_per_kwh: float = Field(0.0, ge=0, description="Carbon intensity of the data "
                                  "centre's electricity, g CO2e per kWh; 0 takes grid_zone's "
                                  "figure (e.g. a contract for a specific supply).")
    pue: float = Field(1.58, ge=1.0, le=3.0, description="Power usage effectiveness of the "
                       "data centre (facility energy / IT energy).")
    storage_kwh_per_gb_year: float = Field(0.0105, ge=0, description="IT energy to keep one "
                                           "GB online for a year, one copy (SSD).")
    replicas: float = Field(2.0, ge=1, description="Online copies of every stored byte "
                            "(RAID mirror or replica).")
    backup_copies: float = Field(1.0, ge=0, description="Backup copies of every stored byte "
                                 "(the vault's snapshots).")
    backup_kwh_per_gb_year: float = Field(0.0057, ge=0, description="IT energy per GB-year "
                                          "of a backup copy (HDD).")
    wh_per_message: float = Field(0.011, ge=0, description="IT energy to receive, filter, "
                                  "store and index one message, idle time of the servers "
                                  "included (Wh).")
    kwh_per_gb_transfer: float = Field(0.006, ge=0, description="Network energy per GB "
                                       "delivered to or downloaded by a client (kWh).")
    reads_per_message: float = Field(2.0, ge=0, description="How many times an average "
                                     "message is downloaded by a client.")
    embodied_g_per_account_year: float = Field(50.0, ge=0, description="Manufacturing "
                                               "emissions of the servers and disks, spread "
                                               "per account and year (g CO2e).")
    compression_ratio: float = Field(0.6, gt=0, le=1, description="Stored / original size "
                                     "assumed for mail not compressed yet, when the store "
                                     "has no compressed mail to measure it on.")
    image_reduction_ratio: float = Field(0.15, gt=0, le=1, description="Reduced / original "
                                         "size of a large image, for the report's estimate "
                                         "(bench/eco.py measures it).")


SECTIONS: dict[str, type[_Section]] = {
    "database": DatabaseSettings, "ports": PortSettings, "listen": ListenSettings,
    "api": ApiSettings, "mail": MailSettings, "tls": TlsSettings, "endpoints": EndpointSettings,
    "relay": RelaySettings,
    "limits": LimitSettings, "lockout": LockoutSettings,
    # The engines' sections, one per line so that engines landing together merge cleanly.
    "watch": WatchSettings,
    "alerts": AlertSettings,
    "vault": VaultSettings,
    "filter": FilterSettings,
    "migration": MigrationSettings,
    "devices": DevicesSettings,
    "eco": EcoSettings,
}
# Flat keys of the settings file before it had sections, and where they live now.
LEGACY_KEYS = {"database_url": ("database", "url"), "api_host": ("api", "host"),
               "api_port": ("api", "port"), "bind_host": ("listen", "addresses")}


class Settings(BaseModel):
    """Everything zenmail can be told; every field documents itself (`zenmail config`)."""

    model_config = ConfigDict(extra="forbid")

    state_dir: Path = Field(DEFAULT_STATE, description="Where zenmail keeps its database, "
                            "daemon configuration, mail store and logs.")
    hostname: str = Field("mail.zenmail.test", description="The mail host name announced in "
                          "SMTP banners and the TLS certificate.")
    argon2_memory_kib: int = Field(19456, ge=8, description="Memory cost of password hashes "
                                   "(KiB). 19 MiB, 2 passes is the OWASP minimum for Argon2id.")
    argon2_time_cost: int = Field(2, ge=1, description="Passes of the Argon2id password hash.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    ports: PortSettings = Field(default_factory=PortSettings)
    listen: ListenSettings = Field(default_factory=ListenSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    endpoints: EndpointSettings = Field(default_factory=EndpointSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    lockout: LockoutSettings = Field(default_factory=LockoutSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    migration: MigrationSettings = Field(default_factory=MigrationSettings)
    devices: DevicesSettings = Field(default_factory=DevicesSettings)
    eco: EcoSettings = Field(default_factory=EcoSettings)

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        labels = v.rstrip(".").split(".")
        if len(labels) < 2 or not all(lb and lb.replace("-", "").isalnum() and
                                      not lb.startswith("-") for lb in labels):
            raise ValueError(f"{v!r} is not a fully qualified host name such as "
                             "mail.example.com")
        return v.rstrip(".").lower()

    @field_validator("ports", mode="before")
    @classmethod
    def _plan_shorthand(cls, v: Any) -> Any:
        # `ports = "standard"` (and ZENMAIL_PORTS=standard) was the whole setting once.
        return {"plan": v} if isinstance(v, str) else v

    @property
    def db_url(self) -> str:
        """The effective database URL, with psycopg 3 as the PostgreSQL driver."""
        url = self.database.url or f"sqlite:///{(self.state_dir / 'db' / 'directory.db').resolve()}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def listen_addresses(self) -> list[str]:
        """Where public listeners bind, with the plan's default filled in."""
        if self.listen.addresses:
            return list(self.listen.addresses)
        return ["0.0.0.0", "::"] if self.ports.plan == "standard" else ["127.0.0.1"]

    @property
    def mail_store(self) -> Path:
        return Path(self.mail.store).resolve() if self.mail.store else (
            self.state_dir.resolve() / "mail")

    @property
    def redis_endpoint(self) -> str:
        """Where zenmail's own processes reach Redis: `[endpoints] redis`, or this stack's
        Redis on its unix socket (where zenmail.stack.daemons.redis puts it; a unit test keeps
        the two the same)."""
        return self.endpoints.redis or (
            f"unix:{self.state_dir.resolve() / 'run' / 'redis' / 'redis.sock'}")

    def source_of(self, key: str) -> str:
        """Where the value of `key` ("hostname", "ports.base") came from."""
        return self._sources.get(key, "default")

    def with_values(self, values: dict[str, Any], source: str = "command line") -> Settings:
        """A copy with dotted `values` ({"ports.plan": "standard"}) applied and validated."""
        merged = self.model_dump()
        for key, value in values.items():
            _put(merged, key, value)
        out = _validate(merged, {key: source for key in values}, self.state_dir)
        out._sources = {**self._sources, **{k: source for k in values}}
        return out

    def fields(self) -> list[tuple[str, Any, str, str]]:
        """(dotted name, value, description, source) of every field, for `zenmail config`.
        A secret (the relay password) shows as `********` when set, never itself."""
        rows: list[tuple[str, Any, str, str]] = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, _Section):
                for sub, subfield in type(value).model_fields.items():
                    key = f"{name}.{sub}"
                    shown = getattr(value, sub)
                    extra = subfield.json_schema_extra
                    if shown and isinstance(extra, dict) and extra.get("secret"):
                        shown = "********"
                    rows.append((key, shown, subfield.description or "",
                                 self.source_of(key)))
            else:
                rows.append((name, value, field.description or "", self.source_of(name)))
        return rows


def env_name(key: str) -> str:
    """`ports.base` -> `ZENMAIL_PORTS_BASE`."""
    return ENV_PREFIX + key.replace(".", "_").upper()


def _put(tree: dict[str, Any], key: str, value: Any) -> None:
    section, _, field = key.partition(".")
    if field:
        tree.setdefault(section, {})[field] = value
    else:
        tree[section] = value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML ({exc}); fix or remove it") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc


def _file_values(state: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings file (and the legacy stack.toml) as one tree, with each key's source."""
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    legacy = state / LEGACY_STACK_FILE
    if legacy.exists():
        ports = _read_toml(legacy).get("ports", {})
        if not isinstance(ports, dict):
            raise InvalidInput(f"{legacy}: [ports] must be a table; better, move it into "
                               f"{state / CONFIG_FILE}")
        for k, v in ports.items():
            _put(tree, f"ports.{k}", v)
            sources[f"ports.{k}"] = str(legacy)
    path = state / CONFIG_FILE
    if not path.exists():
        return tree, sources
    values = _read_toml(path)
    relay = values.get("relay")
    if isinstance(relay, dict) and relay.get("password"):
        _private(path, "the relay password (password in [relay])")
    vault = values.get("vault")
    if isinstance(vault, dict) and vault.get("s3_secret_access_key"):
        _private(path, "the vault's S3 secret key (s3_secret_access_key in [vault])")
    for key, value in values.items():
        if key in LEGACY_KEYS:
            section, field = LEGACY_KEYS[key]
            if key == "bind_host":
                value = [value]
            key = f"{section}.{field}"
        if key == "ports" and isinstance(value, str):  # the old `ports = "standard"`
            key = "ports.plan"
        if isinstance(value, dict) and key in SECTIONS:
            for sub, subvalue in value.items():
                _put(tree, f"{key}.{sub}", subvalue)
                sources[f"{key}.{sub}"] = str(path)
        else:
            _put(tree, key, value)
            sources[key] = str(path)
    return tree, sources


def _private(path: Path, what: str) -> None:
    """A settings file holding a secret must be readable by its owner alone."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InvalidInput(f"{path} holds {what} and other users can read it (mode "
                           f"{mode:04o}); run `chmod 600 {path}`, or give it in the "
                           "environment (ZENMAIL_<SECTION>_<FIELD>) instead")


def _env_values() -> tuple[dict[str, Any], dict[str, str]]:
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    keys = [name for name in Settings.model_fields if name not in SECTIONS and
            name != "state_dir"]
    keys += [f"{s}.{f}" for s, model in SECTIONS.items() for f in model.model_fields
             if (s, f) != ("ports", "pins")]
    for key in keys:
        if env_name(key) in os.environ:
            _put(tree, key, os.environ[env_name(key)])
            sources[key] = env_name(key)
    pin_prefix = ENV_PREFIX + "PORTS_"
    for var, value in os.environ.items():
        name = var.removeprefix(pin_prefix).lower()
        if var.startswith(pin_prefix) and name not in PortSettings.model_fields:
            _put(tree, f"ports.{name}", value)
            sources[f"ports.{name}"] = var
    if ENV_PREFIX + "PORTS" in os.environ:  # the old shorthand: ZENMAIL_PORTS=standard
        _put(tree, "ports.plan", os.environ[ENV_PREFIX + "PORTS"])
        sources["ports.plan"] = ENV_PREFIX + "PORTS"
    return tree, sources


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _validate(tree: dict[str, Any], sources: dict[str, str], state: Path) -> Settings:
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        if loc[:2] == ["ports", "pins"] and len(loc) > 2:
            loc = ["ports", loc[2]]
        key = ".".join(loc[:2])
        where = sources.get(key, sources.get(loc[0], "the defaults"))
        hint = f"it came from {where}" if where != "the defaults" else \
            f"check {state / CONFIG_FILE} and the ZENMAIL_* variables"
        msg = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown setting (`zenmail config` lists them all)"
        raise InvalidInput(f"setting {key}: {msg}; {hint}") from exc


def load_settings(state_dir: str | Path | None = None,
                  overrides: dict[str, Any] | None = None) -> Settings:
    """The settings of one state directory: defaults, then the file, the environment and
    `overrides` (dotted keys, e.g. {"ports.plan": "standard"}). InvalidInput names the field
    and where its bad value came from."""
    state = Path(state_dir or os.environ.get(ENV_PREFIX + "STATE") or DEFAULT_STATE)
    tree, sources = _file_values(state)
    env_tree, env_sources = _env_values()
    _merge(tree, env_tree)
    sources.update(env_sources)
    for key, value in (overrides or {}).items():
        if value is not None:
            _put(tree, key, value)
            sources[key] = "command line"
    tree["state_dir"] = state
    settings = _validate(tree, sources, state)
    settings._sources = sources
    return settings


def init_state(settings: Settings) -> Path:
    """Create the state directory and a commented settings file; returns the file's path.
    Safe to run again: an existing file is left as it is."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.state_dir / CONFIG_FILE
    if not path.exists():
        path.write_text("# zenmail settings; `zenmail config` lists every field, its value and "
                        "where it came from.\n# Example:\n#   hostname = \"mail.example.com\"\n"
                        "#   [ports]\n#   base = 20000\n")
    return path
