"""A small ham corpus: legitimate mail of the kinds a business receives (newsletters with
tracking links, replies with quotes, invoices with PDFs, invitations, notifications, office
documents without macros, archives of PDFs). Built here, each message as a mail program or a
mailing service writes it; the filter must let every one through to the inbox."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def _pdf(title: str) -> bytes:
    body = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objs) + 1, xref))
    return out.getvalue()


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"/>')
        z.writestr("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>Minutes of the "
                   "meeting</w:t></w:r></w:p></w:body></w:document>")
    return buf.getvalue()


def _base(sender: str, to: str, subject: str, domain: str) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Date"] = format_datetime(datetime.now(UTC))
    m["Message-ID"] = make_msgid(domain=domain)
    return m


def corpus(to: str) -> list[tuple[str, bytes]]:
    """(what, raw message) for each message of the corpus, addressed to `to`."""
    out: list[tuple[str, EmailMessage]] = []

    m = _base('"Northwind Weekly" <news@northwind-news.com>', to, "This week: 5 ways to "
              "cut your cloud bill", "northwind-news.com")
    m["List-Unsubscribe"] = "<https://northwind-news.com/unsubscribe?u=8812>"
    m["List-Id"] = "Northwind Weekly <weekly.northwind-news.com>"
    m.set_content("This week's stories:\n1. Cloud costs\nRead online: "
                  "https://northwind-news.com/issues/142\n")
    m.add_alternative('<html><body><h1>Northwind Weekly</h1><p>Five ways to cut your cloud '
                      'bill. <a href="https://northwind-news.com/issues/142?utm_source=mail">'
                      'Read more</a></p><p><a href="https://northwind-news.com/unsubscribe?'
                      'u=8812">Unsubscribe</a></p></body></html>', subtype="html")
    out.append(("newsletter (HTML, tracking parameters, unsubscribe)", m))

    m = _base("Jordan Miles <jordan.miles@contoso-partners.com>", to,
              "Re: delivery schedule for December", "contoso-partners.com")
    m["In-Reply-To"] = "<prev-1@contoso-partners.com>"
    m["References"] = "<prev-1@contoso-partners.com>"
    m.set_content("Hi,\n\nThursday works for us. We'll bring the signed copies.\n\nBest,\n"
                  "Jordan\n\nOn Mon, you wrote:\n> Could we move the delivery to Thursday?\n"
                  "> Thanks\n")
    out.append(("reply with quoted text", m))

    m = _base("Fabrikam Billing <billing@fabrikam-supplies.com>", to,
              "Invoice INV-2026-1187", "fabrikam-supplies.com")
    m.set_content("Dear customer,\n\nplease find attached invoice INV-2026-1187 "
                  "(EUR 1,240.00), due on 15 December.\n\nFabrikam Supplies\n")
    m.add_attachment(_pdf("Invoice INV-2026-1187"), maintype="application", subtype="pdf",
                     filename="INV-2026-1187.pdf")
    out.append(("invoice with a PDF", m))

    m = _base("Alex Chen <alex.chen@tailspin-travel.com>", to, "Invitation: project kickoff "
              "@ Tue 2 Dec 10:00", "tailspin-travel.com")
    m.set_content("You are invited to the project kickoff.\n")
    m.add_attachment(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tailspin//EN\r\n"
                     b"METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:kickoff-1@tailspin-travel.com\r\n"
                     b"DTSTART:20261202T100000Z\r\nDTEND:20261202T110000Z\r\n"
                     b"SUMMARY:Project kickoff\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                     maintype="text", subtype="calendar", filename="invite.ics")
    out.append(("calendar invitation", m))

    m = _base("Code Host <notifications@codehost-mail.com>", to,
              "[team/app] Pull request #418: fix the login page", "codehost-mail.com")
    m.set_content("@sam requested your review on #418.\n\nView it on Code Host:\n"
                  "https://codehost.com/team/app/pull/418\n")
    out.append(("notification with a link", m))

    m = _base("Woodgrove Shop <orders@woodgrove-shop.com>", to, "Your order 55812 has shipped",
              "woodgrove-shop.com")
    m.set_content("Your parcel is on its way. Track it: https://woodgrove-shop.com/track/55812\n")
    m.add_alternative('<p>Your parcel is on its way.</p><p><a href="https://woodgrove-shop.com/'
                      'track/55812">https://woodgrove-shop.com/track/55812</a></p>',
                      subtype="html")
    out.append(("shipping notification (link text = its target)", m))

    m = _base("Priya Nair <priya.nair@litware-consulting.com>", to, "Minutes of Tuesday's "
              "meeting", "litware-consulting.com")
    m.set_content("Hello, the minutes are attached. Priya\n")
    m.add_attachment(_docx(), maintype="application",
                     subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                     filename="minutes.docx")
    out.append(("Word document without macros", m))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("statement-oct.pdf", _pdf("Statement October"))
        z.writestr("statement-nov.pdf", _pdf("Statement November"))
    m = _base("Adatum Accounting <office@adatum-accounting.com>", to,
              "Statements October and November", "adatum-accounting.com")
    m.set_content("Both statements are in the attached archive.\n")
    m.add_attachment(buf.getvalue(), maintype="application", subtype="zip",
                     filename="statements.zip")
    out.append(("zip of PDFs", m))

    m = _base("Sam Lee <sam.lee@fourthcoffee.com>", to, "Fwd: venue for the offsite",
              "fourthcoffee.com")
    m.set_content("FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Venue "
                  "<events@lakeside-venues.com>\nSubject: venue for the offsite\n\nWe have "
                  "the hall free on 14 March.\n")
    out.append(("forwarded message", m))

    m = _base("Mia Rossi <mia.rossi@proseware-design.com>", to, "Logo drafts",
              "proseware-design.com")
    m.set_content("Two drafts of the new logo attached.\n")
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
           b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
           b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    m.add_attachment(png, maintype="image", subtype="png", filename="logo-a.png")
    out.append(("image attachment", m))

    m = _base("Service Desk <servicedesk@wideworld-it.com>", to,
              "Password reset requested", "wideworld-it.com")
    m.set_content("Someone asked to reset your password. If it was you, open "
                  "https://wideworld-it.com/reset?token=9f8e7d within an hour; otherwise "
                  "ignore this message.\n")
    out.append(("password reset with a token link", m))

    m = _base("Lena Fischer <lena.fischer@blue-yonder-air.de>", to,
              "Angebot für die Schulung", "blue-yonder-air.de")
    m.set_content("Guten Tag,\n\nanbei unser Angebot für die Schulung im Januar: drei Tage, "
                  "zwölf Teilnehmer, Preis auf Anfrage.\n\nMit freundlichen Grüßen\n"
                  "Lena Fischer\n")
    out.append(("non-English (German, UTF-8)", m))

    m = _base('"Contoso Store" <deals@contoso-store.com>', to, "Winter sale: 30% off",
              "contoso-store.com")
    m.set_content("Winter sale: https://contoso-store.com/sale\n")
    m.add_alternative('<p>Our winter sale is on: <a href="https://click.contoso-store.com/'
                      'ls/click?upn=aW50ZXJuYWw">https://contoso-store.com/sale</a></p>',
                      subtype="html")
    out.append(("newsletter whose click-tracking link shows the shop's address", m))

    return [(what, msg.as_bytes()) for what, msg in out]
