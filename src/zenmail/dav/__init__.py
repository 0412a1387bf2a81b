"""Calendars and contacts: Radicale (CalDAV/CardDAV) on the directory's accounts.

Radicale serves the protocols (stack/daemons/radicale.py starts it); this package is what
zenmail adds around it, importing only the ground floor and the directory:

    storage     where the DAV data lives, the Radicale configuration zenmail uses, direct
                access to the collections (provisioning, removal, usage, shared calendars)
    login       who may log in: the directory's password check (app passwords plug in here)
    auth        the Radicale auth plugin (`[auth] type = zenmail.dav.auth`)
    rights      the Radicale rights plugin (`[rights] type = zenmail.dav.rights`)
    client      a small CalDAV/CardDAV client over HTTP (migration from other servers)
    migrate     copy an account's calendars and address books from any CalDAV/CardDAV server
    transfer    export and import as .ics and .vcf files

See docs/dav.md.
"""
