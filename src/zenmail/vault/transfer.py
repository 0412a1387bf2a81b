"""Export and import in open formats: what leaves zenmail any other system can read, and a
zenmail export (or a plain Maildir or mbox) comes back in complete.

An export is a tar archive (gzip-compressed if FILE ends in .gz/.tgz):

    zenmail-export/manifest.json           format, scope, time, SHA-256 and size of every file
    zenmail-export/directory.json          tenants, domains, accounts (password hashes,
                                           quotas), aliases: the snapshot's directory rows
    zenmail-export/accounts.csv            address, tenant, display_name, quota_bytes,
                                           enabled, password_hash, used_bytes
    zenmail-export/aliases.csv             address, tenant, targets (space-separated)
    zenmail-export/quotas.csv              tenant, pool_bytes, max_accounts
    zenmail-export/mail/ADDRESS/Maildir/   Dovecot's Maildir++ as it is: cur/new, flags in the
                                           file names (:2,FRS...), keywords in dovecot-keywords,
                                           INTERNALDATE as each file's mtime
    zenmail-export/mbox/ADDRESS/FOLDER.mbox  with --mbox: one mboxrd file per folder
    zenmail-export/dav/ADDRESS/NAME.ics|.vcf  each calendar and address book (zenmail.dav)
    zenmail-export/dav/_shared/TENANT/NAME.ics  the tenants' shared calendars (display
                                           name as X-WR-CALNAME; vault/shared.py)

The mail is captured as a snapshot captures it (hard links, so consistent while mail keeps
arriving). Import recreates tenants, domains, accounts (same password hashes: users log in
unchanged) and aliases, then has Dovecot import each account's Maildir (`doveadm import`:
flags, keywords, dates and bytes kept) and puts the calendars, address books and shared
calendars back (one item per UID); every file is checked against the manifest first.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import shutil
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.dav.storage import SHARED as DAV_SHARED
from zenmail.directory import accounts, aliases, domains, tenants
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Domain, Tenant
from zenmail.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from zenmail.sizes import format_size
from zenmail.stack.files import gid, uid
from zenmail.vault import maildir
from zenmail.vault import shared as vault_shared
from zenmail.vault.maildir import stored_message
from zenmail.vault.restore import _doveadm, free_bytes
from zenmail.vault.scope import Scope
from zenmail.vault.snapshot import STAGE, _mirror, account_dir

ROOT = "zenmail-export"
FORMAT = "zenmail-export/1"
Progress = Callable[[str, int, int], None]


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode()


def _mbox(folder_dir: Path) -> bytes:
    """The folder as mboxrd: a From_ line per message (date: INTERNALDATE), lines starting
    with ">*From " quoted with one more ">"."""
    out = bytearray()
    for sub in ("cur", "new"):
        d = folder_dir / sub
        if not d.is_dir():
            continue
        for name in sorted(os.listdir(d)):
            p = d / name
            raw = stored_message(p).replace(b"\r\n", b"\n")
            when = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(p.stat().st_mtime))
            out += f"From MAILER-DAEMON {when}\n".encode()
            for line in raw.split(b"\n")[:-1] if raw.endswith(b"\n") else raw.split(b"\n"):
                if line.lstrip(b">").startswith(b"From "):
                    line = b">" + line
                out += line + b"\n"
            out += b"\n"
    return bytes(out)


def export(settings: Settings, scope: Scope, out: Path, with_mbox: bool = False,
           progress: Progress | None = None) -> dict[str, Any]:
    """Write the archive; returns its manifest."""
    from zenmail.dav import transfer as dav_transfer  # Radicale loads only for archives

    stage = settings.mail_store / STAGE / f"export-{secrets.token_hex(6)}"
    files: dict[str, dict[str, Any]] = {}
    tmp = out.with_name(out.name + ".part")
    try:
        gz = out.name.endswith((".gz", ".tgz"))
        with tarfile.open(tmp, "w:gz") if gz else tarfile.open(tmp, "w") as tar:
            def add_bytes(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(f"{ROOT}/{name}")
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
                tar.addfile(info, io.BytesIO(data))
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

            d = scope.directory
            add_bytes("directory.json", json.dumps(d, indent=1, sort_keys=True).encode())
            add_bytes("accounts.csv", _csv(d["accounts"], [
                "address", "tenant", "display_name", "quota_bytes", "enabled",
                "password_hash", "used_bytes"]))
            add_bytes("aliases.csv", _csv([{**a, "targets": " ".join(a["targets"])}
                                           for a in d["aliases"]],
                                          ["address", "tenant", "targets"]))
            add_bytes("quotas.csv", _csv(d["tenants"], ["name", "pool_bytes",
                                                        "max_accounts"]))
            for done, m in enumerate(scope.members):
                src_root = account_dir(settings, m.address) / "Maildir"
                dst_root = stage / m.address / "Maildir"
                for folder, src in maildir.folders(src_root):
                    dst = dst_root / (src.name if src != src_root else "")
                    _mirror(src, dst)
                    (dst / "dovecot-uidlist").unlink(missing_ok=True)
                    rel = f"mail/{m.address}/Maildir" + (f"/{dst.name}" if dst != dst_root
                                                         else "")
                    for sub in ("cur", "new", "tmp"):
                        # Every folder keeps its three directories, empty or not: readers
                        # (Dovecot's included) take only those as Maildir folders.
                        info = tarfile.TarInfo(f"{ROOT}/{rel}/{sub}")
                        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(
                            time.time())
                        tar.addfile(info)
                        if sub == "tmp":
                            continue
                        for name in sorted(os.listdir(dst / sub)):
                            _add_file(tar, files, dst / sub / name, f"{rel}/{sub}/{name}")
                    if (dst / "dovecot-keywords").exists():
                        _add_file(tar, files, dst / "dovecot-keywords",
                                  f"{rel}/dovecot-keywords")
                    if with_mbox:
                        safe = folder.replace("/", "_")
                        add_bytes(f"mbox/{m.address}/{safe}.mbox", _mbox(dst))
                for name, data in dav_transfer.files_of(settings, m.address):
                    add_bytes(f"dav/{m.address}/{name}", data)
                if progress:
                    progress("exporting", done + 1, len(scope.members))
            if scope.kind != "account":
                for tenant in scope.tenants:
                    for name, data in vault_shared.files_of(settings, tenant):
                        add_bytes(f"dav/{DAV_SHARED}/{tenant}/{name}", data)
            manifest = {"format": FORMAT, "scope": scope.label,
                        "created": datetime.now(UTC).isoformat(timespec="seconds"),
                        "accounts": len(scope.members), "files": files}
            add_bytes("manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
        os.replace(tmp, out)
        os.chmod(out, 0o600)  # password hashes inside
        return manifest
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(stage, ignore_errors=True)


def _add_file(tar: tarfile.TarFile, files: dict[str, dict[str, Any]], path: Path,
              name: str) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    st = path.stat()
    info = tarfile.TarInfo(f"{ROOT}/{name}")
    info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o600
    with open(path, "rb") as fh:
        tar.addfile(info, fh)
    files[name] = {"sha256": h.hexdigest(), "size": st.st_size}


# ---------------------------------------------------------------- import

def _unpack(archive: Path, into: Path) -> Path:
    """Extract a tar archive (no links, no paths outside `into`); returns `into`."""
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir()):
                raise InvalidInput(f"{archive}: {member.name} is neither a file nor a "
                                   "directory; refusing the archive")
            target = (into / member.name).resolve()
            if not str(target).startswith(str(into.resolve()) + os.sep):
                raise InvalidInput(f"{archive}: {member.name} points outside the archive")
        tar.extractall(into, filter="data")
    return into


def _check_manifest(root: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((root / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"not a {FORMAT} archive (format {manifest.get('format')!r})")
    for name, meta in manifest["files"].items():
        if name == "manifest.json":
            continue
        p = root / name
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != meta["sha256"]:
            raise InvalidInput(f"the archive is damaged: {name} is missing or differs from "
                               "its SHA-256 in the manifest; nothing was imported")
    return manifest


def _own(path: Path) -> None:
    mu, mg = uid("mail"), gid("mail")
    for dirpath, _dirs, names in os.walk(path):
        os.chown(dirpath, mu, mg)
        for n in names:
            os.chown(os.path.join(dirpath, n), mu, mg)


def _mail_into(settings: Settings, location: str, address: str) -> None:
    _doveadm(settings, "import", "-u", address, "-s", location, "", "all")


def import_archive(ctx: Ctx, settings: Settings, source: Path, account: str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """A zenmail export, a Maildir (directory or tar of one) or an mbox file."""
    if not source.exists():
        raise NotFound(f"{source} does not exist")
    work = settings.mail_store / STAGE / f"import-{secrets.token_hex(6)}"
    work.mkdir(parents=True, mode=0o700)
    try:
        if source.is_file() and tarfile.is_tarfile(source):
            # Unpacked under STORE/.zenmail-vault/import-*/x: Dovecot reads it as the mail
            # user, so the whole tree becomes the mail user's (import_export, _import_plain).
            root = _unpack(source, work / "x")
            if (root / ROOT / "manifest.json").exists():
                return _import_export(ctx, settings, root / ROOT, account, progress)
            found = [p.parent for p in root.rglob("cur") if p.is_dir()]
            if not found or account is None:
                raise InvalidInput(f"{source} is neither a zenmail export nor a Maildir "
                                   "archive" if not found else
                                   "importing a plain Maildir needs --account ADDRESS")
            top = min(found, key=lambda p: len(p.parts))
            return _import_plain(ctx, settings, f"maildir:{top}", work, account)
        if account is None:
            raise InvalidInput("importing a plain Maildir or mbox needs --account ADDRESS")
        if source.is_dir():
            if not (source / "cur").is_dir():
                raise InvalidInput(f"{source} is not a Maildir (no cur/ inside)")
            copy = work / "Maildir"
            shutil.copytree(source, copy)
            return _import_plain(ctx, settings, f"maildir:{copy}", work, account)
        head = source.read_bytes()[:5]
        if head != b"From ":
            raise InvalidInput(f"{source} is neither a zenmail export, a Maildir nor an mbox "
                               "file (an mbox starts with 'From ')")
        (work / "mbox").mkdir()
        shutil.copyfile(source, work / "inbox.mbox")
        return _import_plain(ctx, settings, f"mbox:{work / 'mbox'}:INBOX={work / 'inbox.mbox'}",
                             work, account)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _needed(location: str) -> int:
    """Bytes the quota will count for what `location` holds (CRLF line ends): each
    message of a Maildir; an mbox file's size plus a CR per line, a bound from above."""
    kind, _, rest = location.partition(":")
    if kind == "mbox":
        box = Path(rest.partition(":INBOX=")[2])
        with box.open("rb") as fh:
            return sum(len(line) + 1 for line in fh)
    total = 0
    for dirpath, _dirs, files in os.walk(rest):
        if os.path.basename(dirpath) in ("cur", "new"):
            for f in files:
                total += maildir.vsize(stored_message(Path(dirpath) / f))
    return total


def _room_for(settings: Settings, address: str, need: int, what: str) -> None:
    """Refuse, before anything is written, an import the account's quota cannot take."""
    free = free_bytes(settings, address)
    if free is not None and need > free:
        raise QuotaExceeded(f"importing {what} into {address} needs {format_size(need)} but "
                            f"its quota has only {format_size(max(free, 0))} free; nothing "
                            f"was imported. Raise the quota (`zenmail account set-quota "
                            f"{address} SIZE`) or make room, then try again")


def _import_plain(ctx: Ctx, settings: Settings, location: str, work: Path,
                  address: str) -> dict[str, Any]:
    with ctx.reading() as s:
        target = ctx.find(s, Account, address).address
    _room_for(settings, target, _needed(location), "this mail")
    _own(work)
    _mail_into(settings, location + ":INDEX=MEMORY", target)
    with ctx.unit() as s:
        a = ctx.find(s, Account, target)
        audit(s, ctx, "vault.import", target, a.tenant_id, after={"kind": location[:6]})
    return {"accounts": [target], "aliases": 0}


def _import_export(ctx: Ctx, settings: Settings, root: Path, only: str | None,
                   progress: Progress | None) -> dict[str, Any]:
    _check_manifest(root)
    d = json.loads((root / "directory.json").read_text())
    wanted = [a for a in d["accounts"] if only is None or a["address"] == only.lower()]
    if only is not None and not wanted:
        raise NotFound(f"the archive holds no account {only!r}")
    for a in wanted:  # before anything is created: an account its own quota cannot hold
        md = root / "mail" / a["address"] / "Maildir"
        need = _needed(f"maildir:{md}") if md.is_dir() else 0
        if a["quota_bytes"] and need > a["quota_bytes"]:
            raise QuotaExceeded(f"{a['address']}'s mail in the archive needs "
                                f"{format_size(need)}, more than its quota of "
                                f"{format_size(a['quota_bytes'])}; nothing was imported. "
                                "Raise the quota in the archive's directory.json (and its "
                                "manifest's SHA-256), or import the account alone into one "
                                "with room (`zenmail import FILE --account ADDRESS`)")
    with ctx.unit():
        for t in d["tenants"]:
            with ctx.reading() as s:
                exists = ctx.get(s, Tenant, t["name"]) is not None
            if not exists:
                tenants.add(ctx, t["name"], t["pool_bytes"], t["max_accounts"])
        for dom in d["domains"]:
            with ctx.reading() as s:
                have = ctx.get(s, Domain, dom["name"])
            if have is None:
                domains.add(ctx, dom["tenant"], dom["name"])
        for a in wanted:
            with ctx.reading() as s:
                if ctx.get(s, Account, a["address"]) is not None:
                    raise Conflict(f"account {a['address']} already exists here; import into "
                                   "a fresh installation, or remove it first")
            accounts.add(ctx, a["address"], password_hash=a["password_hash"],
                         quota=a["quota_bytes"], display_name=a["display_name"],
                         tenant=a["tenant"])
        added = 0
        if only is None:
            todo = list(d["aliases"])
            while todo:  # an alias may point at another one: add what can be, repeat
                left = []
                for al in todo:
                    try:
                        aliases.add(ctx, al["address"], al["targets"])
                        added += 1
                    except (NotFound, InvalidInput):
                        left.append(al)
                if len(left) == len(todo):
                    aliases.add(ctx, left[0]["address"], left[0]["targets"])  # says why
                todo = left
    _own(root.parent.parent)  # the mail user must reach the Maildirs (see import_archive)
    from zenmail.dav import transfer as dav_transfer  # Radicale loads only for archives

    dav_items = 0
    for done, a in enumerate(wanted):
        md = root / "mail" / a["address"] / "Maildir"
        if md.is_dir():
            _mail_into(settings, f"maildir:{md}:INDEX=MEMORY", a["address"])
        dav_items += dav_transfer.restore_files(ctx, settings, root / "dav" / a["address"],
                                                address=a["address"])
        if progress:
            progress("importing", done + 1, len(wanted))
    if only is None:  # the tenants' shared calendars, with their display names
        for t in d["tenants"]:
            dav_items += vault_shared.load(ctx, settings, root / "dav" / DAV_SHARED / t["name"],
                                           t["name"]).items
    return {"accounts": [a["address"] for a in wanted], "aliases": added,
            "dav_items": dav_items}
