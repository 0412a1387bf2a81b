"""`zenmail dns DOMAIN`: the DNS records a domain must publish (MX, SPF, DKIM, DMARC,
MTA-STS, TLS-RPT, autoconfig and SRV), with this stack's host name and ports."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Command, pass_app
from zenmail.cli.output import emit
from zenmail.filtering import records
from zenmail.stack.registry import port_plan


@click.command("dns", cls=Command, reads=True)
@click.argument("domain")
@pass_app
def dns(app: App, domain: str) -> None:
    """The records to publish for DOMAIN, as zone-file lines (its DKIM key is made if it has
    none yet)."""
    settings = app.settings()
    advice = records.for_domain(app.ctx(), settings.state_dir, settings.hostname,
                                port_plan(settings).ports(), domain)

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
