"""Mail filtering, zenmail's part (docs/filtering.md): what rspamd cannot know by itself.

    dkim.py        per-domain DKIM keys (RSA 2048) in STATE/dkim, and the map rspamd signs by
    records.py     the DNS records a domain must publish (`zenmail dns`)
    maps.py        the tenants' anti-phishing maps, written from the directory
    quarantine.py  what rspamd held back (Postfix's hold queue), per tenant
    egress.py      outbound limits and suspensions (Redis, written by rspamd's rules)
    report.py      the per-tenant security report

Like zenmail.security, it sits above the directory and below the stack, the API and the CLI:
the stack's rspamd asks it for maps and keys; it imports nothing of the stack.
"""
