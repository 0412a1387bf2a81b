"""`zenmail dns DOMAIN`: the DNS records a domain must publish (MX, SPF, DKIM, DMARC,
MTA-STS, TLS-RPT, autoconfig and SRV), with this stack's host name and ports."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Command, Group, pass_app
from zenmail.cli.output import emit
from zenmail.filtering import records


@click.command("dns", cls=Command, reads=True)
@click.argument("domain")
@pass_app
def dns(app: App, domain: str) -> None:
    """The records to publish for DOMAIN, as zone-file lines (its DKIM key is made if it has
    none yet)."""
    settings = app.settings()
    advice = records.for_domain(app.ctx(), settings.state_dir, settings.hostname,
                                records.listener_ports(settings), domain,
                                settings.filter.dkim_algorithm)

    def text() -> None:
        click.echo(f"; DNS records for {advice.domain} (publish them at its DNS host)")
        for r in advice.records:
            click.echo(f"; {r.purpose}")
            click.echo(r.zone_line())
        click.echo(f"; MTA-STS policy, served at https://mta-sts.{advice.domain}"
                   "/.well-known/mta-sts.txt:")
        for line in advice.mta_sts_policy.splitlines():
            click.echo(f";   {line}")

    emit(app, advice.to_dict(), text)


COMMANDS: list[click.Command] = [dns]


dkim_group = Group("dkim", help="The DKIM keys outbound mail is signed with.")


@dkim_group.command("rotate", reads=True)
@click.argument("domain")
@click.option("--algorithm", type=click.Choice(["rsa", "ed25519"]), default=None,
              help="The new key's kind; default [filter] dkim_algorithm.")
@pass_app
def rotate(app: App, domain: str, algorithm: str | None) -> None:
    """Make a new DKIM key for DOMAIN and sign with it; prints the record to publish. The
    previous key stays published for [filter] dkim_overlap_days, then is retired."""
    settings = app.settings()
    f = settings.filter
    advice = records.rotate_dkim(app.ctx(), settings.state_dir, settings.hostname,
                                 records.listener_ports(settings), domain,
                                 algorithm or f.dkim_algorithm, f.dkim_overlap_days)
    new = next(r for r in advice.records if "._domainkey." in r.name)

    def text() -> None:
        click.echo(f"; new DKIM key for {advice.domain}: publish this record now; the "
                   f"previous one stays listed by `zenmail dns` for {f.dkim_overlap_days} "
                   "days, then zenmail retires it (remove it from the zone then)")
        click.echo(new.zone_line())

    emit(app, advice.to_dict(), text)


COMMANDS.append(dkim_group)
