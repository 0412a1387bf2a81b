"""A small CalDAV/CardDAV client: find an account's calendars and address books, read their
items, write items and collections. Standard requests only (PROPFIND, REPORT multiget, GET,
PUT, MKCALENDAR, extended MKCOL, DELETE), which Zimbra, Nextcloud, SOGo and Radicale answer.

It speaks through a `Transport`: `HttpTransport` (HTTPS or HTTP to another server, standard
library only) or `WsgiTransport` (zenmail's own storage, through Radicale's application in
this process: zenmail.dav.local). Responses from other servers are untrusted: XML is parsed
with defusedxml, sizes are bounded.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

from defusedxml.ElementTree import fromstring as parse_xml  # type: ignore[import-untyped]

from zenmail.errors import InvalidInput, StackError

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav",
      "CR": "urn:ietf:params:xml:ns:carddav", "A": "http://apple.com/ns/ical/"}
MAX_BODY = 200_000_000   # one response (a whole calendar fetched at once stays far below)
MULTIGET_BATCH = 100
Kind = Literal["calendar", "addressbook"]
CONTENT_TYPES: dict[Kind, str] = {"calendar": "text/calendar; charset=utf-8",
                                  "addressbook": "text/vcard; charset=utf-8"}


def _q(tag: str) -> str:
    prefix, _, local = tag.partition(":")
    return f"{{{NS[prefix]}}}{local}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Transport(Protocol):
    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Response: ...

    @property
    def base_path(self) -> str: ...


class HttpTransport:
    """HTTP(S) to one server with Basic authentication, one kept-alive connection."""

    def __init__(self, url: str, username: str, password: str, *, ca_file: str | None = None,
                 verify: bool = True, timeout: float = 60.0,
                 context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise InvalidInput(f"{url!r} is not an http(s):// URL of a CalDAV/CardDAV server")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base = parts.path or "/"
        self._auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._timeout = timeout
        self._ctx: ssl.SSLContext | None = None
        if self.scheme == "https" and context is not None:
            self._ctx = context  # the caller's own checks (the watch's probe: no name check)
        elif self.scheme == "https":
            self._ctx = ssl.create_default_context(cafile=ca_file)
            if not verify:
                self._ctx.check_hostname = False
                self._ctx.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None

    @property
    def base_path(self) -> str:
        return self._base

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._ctx is not None:
                self._conn = http.client.HTTPSConnection(self.host, self.port,
                                                         timeout=self._timeout, context=self._ctx)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self._timeout)
        return self._conn

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Response:
        all_headers = {"Authorization": self._auth, "User-Agent": "zenmail-migrate-dav",
                       **(headers or {})}
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more
            conn = self._connect()
            try:
                conn.request(method, path, body=body or None, headers=all_headers)
                resp = conn.getresponse()
                data = resp.read(MAX_BODY + 1)
                if len(data) > MAX_BODY:
                    raise StackError(f"{method} {path}: the answer exceeds {MAX_BODY} bytes")
                out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
                if resp.getheader("connection", "").lower() == "close":
                    self.close()
                return out
            except ssl.SSLCertVerificationError as exc:
                self.close()
                raise StackError(f"the certificate of {self.host} is not trusted "
                                 f"({exc.verify_message}); give --source-ca FILE") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2:
                    raise StackError(f"{method} {self.scheme}://{self.host}:{self.port}{path}"
                                     f" failed: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class WsgiTransport:
    """Requests to a WSGI application in this process, as a given user (REMOTE_USER)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], user: str = "") -> None:
        self.app, self.user = app, user

    @property
    def base_path(self) -> str:
        return "/"

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Response:
        import io

        split = urlsplit(path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(split.path),
            "QUERY_STRING": split.query, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(), "wsgi.multithread": False,
            "wsgi.multiprocess": True, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "localhost",
        }
        if self.user:
            environ["REMOTE_USER"] = self.user
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            else:
                environ["HTTP_" + key] = value
        status: list[str] = []
        got: list[tuple[str, str]] = []

        def start_response(st: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> None:
            status.append(st)
            got.extend(hdrs)

        chunks = self.app(environ, start_response)
        data = b"".join(chunks)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        headers_out = {k.lower(): v for k, v in got}
        if headers_out.get("content-encoding") == "gzip":
            import gzip
            data = gzip.decompress(data)
        return Response(int(status[0].split()[0]), headers_out, data)


@dataclass
class Collection:
    href: str
    kind: Kind
    displayname: str = ""
    props: dict[str, str] = field(default_factory=dict)  # color, description, components

    @property
    def slug(self) -> str:
        return unquote(self.href.rstrip("/").rpartition("/")[2])


@dataclass
class Item:
    href: str
    etag: str
    body: str

    @property
    def name(self) -> str:
        return unquote(self.href.rpartition("/")[2])


def _propfind(props: Iterable[str]) -> bytes:
    inner = "".join(f"<{p}/>" for p in props)
    return (f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            f'xmlns:C="{NS["C"]}" xmlns:CR="{NS["CR"]}" xmlns:A="{NS["A"]}">'
            f"<D:prop>{inner}</D:prop></D:propfind>").encode()


def _xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class DavClient:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    # ---------------------------------------------------------------- reading

    def _multistatus(self, method: str, path: str, body: bytes, depth: str
                     ) -> list[tuple[str, dict[str, ET.Element]]]:
        resp = self.t.request(method, path, body, {"Depth": depth,
                                                   "Content-Type": "application/xml; "
                                                   "charset=utf-8"})
        if resp.status == 401:
            raise InvalidInput(f"{path}: the server refused the login (401); check the user "
                               "name and password")
        if resp.status != 207:
            raise StackError(f"{method} {path}: the server answered {resp.status} instead of "
                             "207 Multi-Status")
        try:
            root = parse_xml(resp.body)
        except Exception as exc:  # defusedxml's and expat's errors alike
            raise StackError(f"{method} {path}: the answer is not valid XML ({exc})") from exc
        out = []
        for r in root.findall(_q("D:response")):
            href = unquote((r.findtext(_q("D:href")) or "").strip())
            props: dict[str, ET.Element] = {}
            for ps in r.findall(_q("D:propstat")):
                if " 200 " not in (ps.findtext(_q("D:status")) or " 200 ") + " ":
                    continue
                for prop in ps.findall(_q("D:prop")):
                    for el in prop:
                        props[el.tag] = el
            out.append((urlsplit(href).path or href, props))
        return out

    def _href_prop(self, props: dict[str, ET.Element], tag: str) -> str | None:
        el = props.get(_q(tag))
        if el is None:
            return None
        href = el.findtext(_q("D:href"))
        return unquote(href.strip()) if href else None

    def discover(self) -> list[Collection]:
        """The calendars and address books of the logged-in user (or the one collection the
        base URL names)."""
        base = self.t.base_path
        props = ["D:current-user-principal", "D:resourcetype", "D:displayname",
                 "C:calendar-home-set", "CR:addressbook-home-set"]
        try:
            [(_, here)] = self._multistatus("PROPFIND", quote(base), _propfind(props), "0")[:1]
        except ValueError:
            here = {}
        own = self._collection(base, here)
        if own is not None:
            return [own]
        principal = self._href_prop(here, "D:current-user-principal")
        if principal is None:
            resp = self.t.request("GET", "/.well-known/caldav")
            location = resp.headers.get("location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                [(_, here)] = self._multistatus("PROPFIND", quote(urlsplit(
                    urljoin(base, location)).path), _propfind(props), "0")[:1]
                principal = self._href_prop(here, "D:current-user-principal")
        if principal is None:
            raise StackError(f"{base}: the server names no principal for this login "
                             "(current-user-principal); give the URL of the account's "
                             "calendar home or of one collection")
        [(_, pprops)] = self._multistatus("PROPFIND", quote(principal), _propfind(props),
                                          "0")[:1]
        homes = [h for h in (self._href_prop(pprops, "C:calendar-home-set"),
                             self._href_prop(pprops, "CR:addressbook-home-set")) if h]
        found: dict[str, Collection] = {}
        for home in dict.fromkeys(homes or [principal]):
            for coll in self.discover_under(home):
                found.setdefault(coll.href, coll)
        return list(found.values())

    def _collection(self, href: str, props: dict[str, ET.Element]) -> Collection | None:
        rtype = props.get(_q("D:resourcetype"))
        if rtype is None:
            return None
        kind: Kind
        if rtype.find(_q("C:calendar")) is not None:
            kind = "calendar"
        elif rtype.find(_q("CR:addressbook")) is not None:
            kind = "addressbook"
        else:
            return None
        extra = {}
        for tag, key in (("C:calendar-description", "description"),
                         ("CR:addressbook-description", "description"),
                         ("A:calendar-color", "color")):
            el = props.get(_q(tag))
            if el is not None and (el.text or "").strip():
                extra[key] = (el.text or "").strip()
        comps = props.get(_q("C:supported-calendar-component-set"))
        if comps is not None:
            names = [c.get("name", "") for c in comps.findall(_q("C:comp"))]
            if names:
                extra["components"] = ",".join(n for n in names if n)
        name = props.get(_q("D:displayname"))
        return Collection(href.rstrip("/") + "/", kind,
                          (name.text or "").strip() if name is not None else "", extra)

    def items(self, coll: Collection) -> list[Item]:
        """Every item of a collection, with its body (multiget, or GET one by one for a
        server that does not answer it)."""
        listing = self._multistatus("PROPFIND", quote(coll.href),
                                    _propfind(["D:getetag", "D:resourcetype"]), "1")
        hrefs: dict[str, str] = {}
        for href, props in listing:
            rtype = props.get(_q("D:resourcetype"))
            if href.rstrip("/") == coll.href.rstrip("/") or (
                    rtype is not None and len(rtype)):
                continue  # the collection itself, or a sub-collection
            hrefs[href] = (props[_q("D:getetag")].text or "") if _q("D:getetag") in props \
                else ""
        out: list[Item] = []
        todo = list(hrefs)
        data_tag = "C:calendar-data" if coll.kind == "calendar" else "CR:address-data"
        report = "C:calendar-multiget" if coll.kind == "calendar" else "CR:addressbook-multiget"
        for start in range(0, len(todo), MULTIGET_BATCH):
            batch = todo[start:start + MULTIGET_BATCH]
            body = (f'<?xml version="1.0" encoding="utf-8"?><{report} xmlns:D="DAV:" '
                    f'xmlns:C="{NS["C"]}" xmlns:CR="{NS["CR"]}"><D:prop><D:getetag/>'
                    f"<{data_tag}/></D:prop>"
                    + "".join(f"<D:href>{_xml_escape(quote(h))}</D:href>" for h in batch)
                    + f"</{report}>").encode()
            got: dict[str, Item] = {}
            try:
                for href, props in self._multistatus("REPORT", quote(coll.href), body, "1"):
                    data = props.get(_q(data_tag))
                    if data is not None and data.text:
                        etag = props.get(_q("D:getetag"))
                        got[href] = Item(href, (etag.text or "") if etag is not None
                                         else hrefs.get(href, ""), data.text)
            except StackError:
                got = {}
            for href in batch:
                item = got.get(href) or self.get(href)
                if item is not None:
                    out.append(item)
        return out

    def get(self, href: str) -> Item | None:
        resp = self.t.request("GET", quote(href))
        if resp.status != 200:
            return None
        return Item(href, resp.headers.get("etag", ""), resp.text())

    # ---------------------------------------------------------------- writing

    def put(self, href: str, body: str, kind: Kind) -> int:
        resp = self.t.request("PUT", quote(href), body.encode(),
                              {"Content-Type": CONTENT_TYPES[kind]})
        return resp.status

    def make_collection(self, href: str, kind: Kind, displayname: str = "",
                        props: dict[str, str] | None = None) -> int:
        props = props or {}
        extra = f"<D:displayname>{_xml_escape(displayname)}</D:displayname>" if displayname \
            else ""
        if props.get("description"):
            tag = "C:calendar-description" if kind == "calendar" else \
                "CR:addressbook-description"
            extra += f"<{tag}>{_xml_escape(props['description'])}</{tag}>"
        if kind == "calendar":
            if props.get("color"):
                extra += f"<A:calendar-color>{_xml_escape(props['color'])}</A:calendar-color>"
            if props.get("components"):
                extra += ("<C:supported-calendar-component-set>" + "".join(
                    f'<C:comp name="{_xml_escape(c)}"/>' for c in props["components"].split(",")
                ) + "</C:supported-calendar-component-set>")
            body = (f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
                    f'xmlns:C="{NS["C"]}" xmlns:A="{NS["A"]}"><D:set><D:prop>{extra}'
                    "</D:prop></D:set></C:mkcalendar>")
            method = "MKCALENDAR"
        else:
            body = (f'<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
                    f'xmlns:CR="{NS["CR"]}"><D:set><D:prop><D:resourcetype><D:collection/>'
                    f"<CR:addressbook/></D:resourcetype>{extra}</D:prop></D:set></D:mkcol>")
            method = "MKCOL"
        return self.t.request(method, quote(href), body.encode(),
                              {"Content-Type": "application/xml; charset=utf-8"}).status

    def delete(self, href: str) -> int:
        return self.t.request("DELETE", quote(href)).status

    def discover_under(self, home: str) -> list[Collection]:
        """The calendars and address books directly under `home` (a collection path)."""
        found = []
        for href, props in self._multistatus("PROPFIND", quote(home), _propfind([
                "D:resourcetype", "D:displayname", "C:calendar-description",
                "CR:addressbook-description", "A:calendar-color",
                "C:supported-calendar-component-set"]), "1"):
            coll = self._collection(href, props)
            if coll is not None:
                found.append(coll)
        return found
