"""Seed data: a deterministic, realistic synthetic mailbox and a Google Takeout mbox loader.

The generator builds RFC 5322 bytes from pre-encoded fragments (never ``EmailMessage``) because
the emulator must seed 10k messages and start in well under two seconds. Everything derives
from ``random.Random`` seeded with (user, seed) and a fixed clock, so runs are byte-identical.
"""

from __future__ import annotations

import base64
import binascii
import csv
import email.charset
import email.header
import email.utils
import html
import mailbox as stdlib_mailbox
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from .mime import date_header_ms, decode_words, parse_headers_only

FIXED_NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the synthetic mailbox's "now"
SPAN_MS = 730 * 86_400_000  # two years of history
CRLF = "\r\n"


@dataclass
class SeedMessage:
    raw: bytes
    label_ids: list[str]  # system label ids, or user label names ("Work/Projects")
    received_ms: int  # internalDate fallback when Date is missing or invalid


# --- the cast -------------------------------------------------------------------------------

# display name, first name, address, language, UTC offset (minutes), circle
_PEOPLE = [
    ("Alice Johnson", "Alice", "alice.johnson@acme-corp.com", "en", -480, "work"),
    ("Bob Smith", "Bob", "bob.smith@acme-corp.com", "en", -480, "work"),
    ("Carol Nguyen", "Carol", "carol.nguyen@acme-corp.com", "en", -300, "work"),
    ("David Okafor", "David", "david.okafor@acme-corp.com", "en", 0, "work"),
    ("Priya Natarajan", "Priya", "priya.n@acme-corp.com", "en", 330, "work"),
    ("Müller, Jürgen", "Jürgen", "j.mueller@beispiel-gmbh.de", "de", 60, "work"),
    ("José Álvarez", "José", "jose.alvarez@ejemplo.es", "es", 60, "work"),
    ("Ольга Петрова", "Ольга", "olga.petrova@primer.ru", "ru", 180, "work"),
    ("田中 健", "田中", "tanaka.ken@example.co.jp", "ja", 540, "work"),
    ("李雷", "李雷", "lilei@example.com.cn", "zh", 480, "work"),
    ("François Dubois", "François", "francois.dubois@exemple.fr", "fr", 60, "work"),
    ("Emma Wilson", "Emma", "emma.wilson@partnerco.com", "en", -300, "work"),
    ("Liam O'Brien", "Liam", "liam.obrien@partnerco.com", "en", 0, "work"),
    ("Sofia Rossi", "Sofia", "sofia.rossi@esempio.it", "en", 60, "work"),
    ("Mateo García", "Mateo", "mateo.garcia@ejemplo.es", "es", 60, "work"),
    ("Hannah Lee", "Hannah", "hannah.lee@gmail.com", "en", -480, "friend"),
    ("Noah Brown", "Noah", "noah.brown82@yahoo.com", "en", -360, "friend"),
    ("Mia Schneider", "Mia", "mia.schneider@web.de", "de", 60, "friend"),
    ("Lucas Martin", "Lucas", "lucas.martin@orange.fr", "fr", 60, "friend"),
    ("Chloé Bernard", "Chloé", "chloe.bernard@free.fr", "fr", 60, "friend"),
    ("Ethan Davis", "Ethan", "ethan.davis@outlook.com", "en", -300, "friend"),
    ("Дмитрий Иванов", "Дмитрий", "dmitry.ivanov@yandex.ru", "ru", 180, "friend"),
    ("Zoë Clarke", "Zoë", "zoe.clarke@icloud.com", "en", 0, "friend"),
    ("Ahmed Hassan", "Ahmed", "ahmed.hassan@gmail.com", "en", 120, "friend"),
    ("Yuki Sato", "Yuki", "yuki.sato@example.jp", "ja", 540, "friend"),
    ("王芳", "王芳", "wangfang@example.cn", "zh", 480, "friend"),
    ("Linda Parker", "Mom", "linda.parker@gmail.com", "en", -300, "family"),
    ("Tom Parker", "Dad", "tom.parker@comcast.net", "en", -300, "family"),
    ("Grace Parker", "Grace", "grace.parker@gmail.com", "en", -300, "family"),
    ("Sam Parker", "Sam", "sam.parker@hotmail.com", "en", -300, "family"),
]

# language -> (charsets, transfer encodings for non-ASCII text, subjects, paragraphs, hi, bye)
_LANG = {
    "en": (
        ("utf-8", "us-ascii"), ("quoted-printable",),
        ("Quarterly planning", "Lunch on Thursday?", "Budget review for Project Falcon",
         "Design doc: search indexing", "Can you review my PR?", "Weekend plans",
         "Photos from the trip", "Offsite agenda 🎉", "Dinner at Mario’s"),
        ("Just wanted to follow up on what we discussed yesterday. Let's make sure we're "
         "aligned before Friday's deadline.",
         "I've attached the latest numbers. Revenue is up 12% quarter over quarter, but costs "
         "grew faster than we'd like.",
         'Can you take a look at the "search indexing" design doc when you get a chance? '
         "Comments welcome, especially on the sharding section.",
         "Don't forget the team lunch on Thursday at 12:30. We booked a table for eight.",
         "The build is green again after the fix in #4821; thanks to everyone who helped.",
         "Let me know if 3pm works for you & whether we should invite <anyone> else."),
        "Hi {},", "Best,\r\n{}",
    ),
    "es": (
        ("iso-8859-1",), ("quoted-printable", "8bit"),
        ("Reunión del lunes", "¿Cenamos el sábado?", "Presupuesto: revisión final"),
        ("Te escribo para confirmar la reunión del lunes a las diez. ¿Podrías traer el informe?",
         "Muchas gracias por tu ayuda con el presupuesto; la revisión quedó muy bien.",
         "Mañana salgo temprano, así que podemos hablar por teléfono después de las seis."),
        "Hola {}:", "Un abrazo,\r\n{}",
    ),
    "de": (
        ("windows-1252",), ("quoted-printable",),
        ("Besprechung am Dienstag", "Änderungen am Vertrag", "Rechnung über 120 €"),
        ("Anbei die überarbeitete Version des Vertrags. Bitte prüfe die Änderungen bis Donnerstag.",
         "Die Rechnung über 120 € ist noch offen – könntest du kurz nachsehen?",
         "Viele Grüße aus München, hier ist das Wetter „großartig“."),
        "Hallo {},", "Viele Grüße\r\n{}",
    ),
    "fr": (
        ("iso-8859-1", "utf-8"), ("quoted-printable", "8bit"),
        ("Réunion de l'équipe", "Déjeuner vendredi ?", "Voilà les photos"),
        ("Voici le compte rendu de la réunion d'hier. N'hésite pas à me dire si j'ai oublié "
         "quelque chose.",
         "On pourrait déjeuner ensemble vendredi ? Je connais un très bon café près de la gare.",
         "Les photos de l'été sont en pièce jointe, bonne journée !"),
        "Bonjour {},", "Bien à toi,\r\n{}",
    ),
    "ru": (
        ("koi8-r",), ("8bit", "base64"),
        ("Отчёт за квартал", "Встреча в пятницу", "Привет из Москвы"),
        ("Добрый день! Отправляю отчёт за третий квартал, посмотрите, пожалуйста, до пятницы.",
         "Встреча переносится на четверг, в 15:00 по московскому времени.",
         "Спасибо за помощь с проектом, всё прошло отлично."),
        "Здравствуйте, {}!", "С уважением,\r\n{}",
    ),
    "ja": (
        ("iso-2022-jp",), ("7bit",),
        ("会議の件", "資料送付のお願い", "来週の予定について"),
        ("お疲れ様です。来週の会議の資料をお送りしますので、ご確認ください。",
         "ご不明な点がございましたら、お気軽にお問い合わせください。",
         "引き続きよろしくお願いいたします。"),
        "{}様", "{}",
    ),
    "zh": (
        ("utf-8",), ("base64",),
        ("周末聚餐", "项目进度更新", "你好，好久不见"),
        ("你好！附件是本周的项目进度报告，请查收。", "周六晚上一起吃饭吧？我订了七点的位子。",
         "谢谢你的帮助，我们下周再聊。"),
        "{}，", "{}",
    ),
}  # fmt: skip

# display, address, category, user label, subjects, body line, list id (None: not a list)
_AUTOMATED = [
    ("GitHub", "notifications@github.com", "CATEGORY_UPDATES", "Work/Projects",
     ("[acme/api] Fix flaky retry test (#{n})", "[acme/api] Add pagination to /messages (#{n})"),
     "@bob-smith requested your review on this pull request.", "api.acme.github.com"),
    ("Amazon.com", "auto-confirm@amazon.com", "CATEGORY_UPDATES", "Receipts",
     ("Your Amazon.com order #112-{n} has shipped", 'Delivered: "USB-C cable" and 1 more item'),
     "Your package will arrive Tuesday. Order total: $23.{n}", None),
    ("LinkedIn", "messages-noreply@linkedin.com", "CATEGORY_SOCIAL", None,
     ("You appeared in {n} searches this week", "Hannah Lee wants to connect"),
     "See who's viewing your profile & grow your network.", None),
    ("Facebook", "notification@facebookmail.com", "CATEGORY_SOCIAL", None,
     ("Noah Brown commented on your photo", "You have {n} new notifications"),
     "Noah Brown wrote: \"Looks amazing!\"", None),
    ("The Daily Brief", "newsletter@dailybrief.example", "CATEGORY_PROMOTIONS", None,
     ("Your morning briefing: markets rally", "Weekend reads: {n} stories we loved"),
     "Top stories today, hand-picked by our editors.", None),
    ("Zalando", "info@zalando.de", "CATEGORY_PROMOTIONS", None,
     ("Nur heute: 20 % Rabatt auf fast alles ✨", "Neue Styles für dich"),
     "Jetzt entdecken – nur solange der Vorrat reicht.", None),
    ("python-ideas", "python-ideas@python.org", "CATEGORY_FORUMS", None,
     ("[Python-ideas] PEP draft: dict patterns", "[Python-ideas] Better import errors"),
     "I think this would be a great addition to the language.", "python-ideas.python.org"),
    ("Bank of Example", "alerts@bankofexample.com", "CATEGORY_UPDATES", "Receipts",
     ("Your statement is ready", "Payment received: ${n}.00"),
     "Your monthly statement is available in online banking.", None),
    ("Delta Air Lines", "deltaairlines@t.delta.com", "CATEGORY_UPDATES", "Travel",
     ("Your trip confirmation: SEA to JFK", "Check in now for flight DL{n}"),
     "Confirmation #GH{n}. Please arrive at the airport two hours early.", None),
]  # fmt: skip
_SPAM = [
    ("Prize Department", "winner@lucky-prize.biz", "You have WON $1,000,000!!!"),
    ("Pharmacy Online", "deals@cheap-meds.example", "Lowest prices on meds, no prescription"),
    ("Mr. Adewale", "adewale.transfer@mail.example", "URGENT: business proposal"),
]
_WORK_LABELS = ("Work", "Work", "Work/Projects")
_USER_INITIATED = 0.2  # share of new person threads the user starts
_REPLY = 0.35  # share of messages that continue an earlier thread


# --- pre-encoded fragments ------------------------------------------------------------------


def _encoded_header(text: str, charset: str = "utf-8", q: bool = False) -> str:
    """RFC 2047 form of a header text; ASCII passes through untouched."""
    return text if text.isascii() else _encode_words(text, charset, q)


@cache
def _encode_words(text: str, charset: str, q: bool) -> str:
    """Cached: only the catalogue's few dozen non-ASCII subjects ever get here."""
    cs = email.charset.Charset(charset)
    if q:
        cs.header_encoding = email.charset.QP
    try:
        return email.header.Header(text, cs).encode(linesep=CRLF)
    except UnicodeEncodeError:
        return email.header.Header(text, "utf-8").encode(linesep=CRLF)


@cache
def _address(name: str, addr: str) -> str:
    try:
        return email.utils.formataddr((name, addr), "utf-8")
    except UnicodeEncodeError:  # an internationalised address (RFC 6532) goes out raw
        return f"{_encoded_header(name)} <{addr}>"


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R>>"
    b"endobj\n4 0 obj<</Length 38>>stream\nBT /F1 12 Tf 20 50 Td (Invoice) Tj ET\nendstream\n"
    b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
_PDF_B64 = _b64_lines(_PDF)
_PNG_B64 = _b64_lines(  # a real 8x8 RGB gradient, so clients sniffing attachments see an image
    base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAbUlEQVR42hXOUREAUQhCUaMYhShEMcqNQhSi7Fs/"
        "OQzjzLCDBg83MGToMLPsosXLLSxZug/ECgmLE4iI6oFZI2NzBhNTPzj20OHjDo4cvQf/7Bt41Rf+F+h7YsIGBYfL"
        "Hyc0D8oWFZfrX05p+QDeqGABtJu0bQAAAABJRU5ErkJggg=="
    )
)
# (mime type, Content-Type name/Content-Disposition filename parameters)
_ATTACH_NAMES = (
    ("application/pdf", 'name="invoice-{n}.pdf"', 'filename="invoice-{n}.pdf"'),
    ("application/pdf", 'name="Q3-report.pdf"', 'filename="Q3-report.pdf"'),
    ("application/pdf", 'name="=?utf-8?B?UHLDpHNlbnRhdGlvbi5wZGY=?="',
     "filename*=utf-8''Pr%C3%A4sentation.pdf"),
    ("image/png", 'name="screenshot.png"', 'filename="screenshot.png"'),
    ("image/png", 'name="photo_{n}.png"', 'filename="photo_{n}.png"'),
    ("text/csv", 'name="data-{n}.csv"', 'filename="data-{n}.csv"'),
)  # fmt: skip


# --- message assembly -----------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _rfc5322_date(ms: int, tz_minutes: int) -> str:
    t = time.gmtime(ms // 1000 + tz_minutes * 60)
    sign, off = ("+" if tz_minutes >= 0 else "-"), abs(tz_minutes)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{off // 60:02d}{off % 60:02d}"
    )


def _text_part(rng: random.Random, mime: str, text: str, lang: str, charset: str):
    """(content headers, encoded body) of a text part in the language's usual wire form."""
    encodings = _LANG[lang][1]
    if charset == "us-ascii" and not text.isascii():
        charset = "utf-8"
    data = text.encode(charset, "replace")
    cte = "7bit" if data.isascii() else rng.choice(encodings)
    if cte == "quoted-printable":
        data = binascii.b2a_qp(data, istext=True)
    elif cte == "base64":
        data = _b64_lines(data)
    head = f'Content-Type: {mime}; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}'
    return head, data


def _multipart(rng: random.Random, kind: str, parts: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    boundary = f"000000000000{rng.getrandbits(48):012x}"
    delim = b"--" + boundary.encode() + b"\r\n"
    body = b"".join(delim + head.encode() + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    return f'Content-Type: multipart/{kind}; boundary="{boundary}"', body + delim[:-2] + b"--\r\n"


def _attachment(rng: random.Random, serial: int) -> tuple[str, bytes]:
    mime, name, filename = rng.choice(_ATTACH_NAMES)
    if mime == "text/csv":
        rows = "".join(f"{d},{(serial * 7 + d * 13) % 997},ok\r\n" for d in range(1, 9))
        data = _b64_lines(f"day,value,status\r\n{rows}".encode())
    else:
        data = _PDF_B64 if mime == "application/pdf" else _PNG_B64
    head = (
        f"Content-Type: {mime}; {name.format(n=serial)}\r\nContent-Disposition: attachment; "
        f"{filename.format(n=serial)}\r\nContent-Transfer-Encoding: base64"
    )
    return head, data


def _html(paragraphs: list[str]) -> str:
    inner = "".join(f"<p>{html.escape(p).replace(CRLF, '<br>')}</p>" for p in paragraphs)
    style = "<head><style>p{margin:0 0 1em}</style></head>"
    return f'<html>{style}<body dir="ltr">{inner}</body></html>'


def _body(rng: random.Random, lang: str, paragraphs: list[str], shape: str, serial: int):
    """Content headers and bytes for one of the shapes: plain, alt, html, related, mixed."""
    text = "\r\n\r\n".join(paragraphs) + CRLF
    charset = rng.choice(_LANG[lang][0])
    if shape == "plain":
        return _text_part(rng, "text/plain", text, lang, charset)
    if shape == "html":
        return _text_part(rng, "text/html", _html(paragraphs), lang, charset)
    plain = _text_part(rng, "text/plain", text, lang, charset)
    if shape == "mixed" and rng.random() < 0.4:
        extra = [_attachment(rng, serial + k) for k in range(1 + (rng.random() < 0.25))]
        return _multipart(rng, "mixed", [plain, *extra])
    rich = _text_part(rng, "text/html", _html(paragraphs), lang, charset)
    if shape == "related":
        logo = (
            'Content-Type: image/png; name="logo.png"\r\nContent-Disposition: inline; '
            'filename="logo.png"\r\nContent-Transfer-Encoding: base64\r\n'
            f"Content-ID: <logo{serial}@news>",
            _PNG_B64,
        )
        rich = _multipart(rng, "related", [rich, logo])
    alt = _multipart(rng, "alternative", [plain, rich])
    if shape != "mixed":
        return alt
    extra = [_attachment(rng, serial + k) for k in range(1 + (rng.random() < 0.25))]
    return _multipart(rng, "mixed", [alt, *extra])


# --- the synthetic mailbox ------------------------------------------------------------------


class _Thread:
    __slots__ = ("subject", "person", "auto", "refs", "last_user", "labels", "left", "cc", "quote")

    def __init__(self, subject, person, auto, labels, left, cc):
        self.subject, self.person, self.auto, self.labels = subject, person, auto, labels
        self.left, self.cc = left, cc
        self.refs: list[str] = []
        self.last_user = False
        self.quote = ""


class _Generator:
    """Holds the RNG and open threads; ``message`` emits one chronological message."""

    def __init__(self, user_email: str, seed: int):
        self.rng = random.Random(f"gmail-emulator|{user_email}|{seed}")
        self.user = user_email
        local = user_email.split("@", 1)[0].replace("_", ".").replace("-", ".")
        self.me_first = local.split(".")[0].title() or "Me"
        self.me = _address(" ".join(w.title() for w in local.split(".") if w), user_email)
        self.active: list[_Thread] = []

    def message(self, serial: int, at_ms: int) -> SeedMessage:
        rng, roll = self.rng, self.rng.random()
        if roll < _REPLY and self.active:
            pick = len(self.active) - 1 - int(rng.random() ** 2 * min(len(self.active), 40))
            thread = self.active[pick]
            thread.left -= 1
            if thread.left <= 0:
                del self.active[pick]
            return (
                self._person(serial, at_ms, thread)
                if thread.person
                else self._auto(serial, at_ms, thread.auto, thread)
            )
        if roll < _REPLY + 0.02:
            return self._spam(serial, at_ms)
        if roll < _REPLY + 0.25:
            return self._auto(serial, at_ms, rng.choice(_AUTOMATED), None)
        return self._person(serial, at_ms, None)

    def _assemble(
        self, serial, at_ms, sender, tz, to, cc, subject, thread, body, extra=""
    ) -> bytes:
        rng = self.rng
        domain = sender[sender.rfind("@") + 1 :].rstrip(">")
        msg_id = f"<{rng.getrandbits(64):016x}.{serial}@{domain}>"
        lines = ["MIME-Version: 1.0"]
        if rng.random() >= 0.01:  # ~1% carry no Date: Gmail falls back to the receive time
            lines.append("Date: " + _rfc5322_date(at_ms - rng.randrange(1000, 90_000), tz))
        lines.append("Message-ID: " + msg_id)
        if thread is not None and thread.refs:
            lines.append("In-Reply-To: " + thread.refs[-1])
            lines.append("References: " + "\r\n ".join(thread.refs[-8:]))
        lines.append("Subject: " + ("Re: " if thread is not None and thread.refs else "") + subject)
        lines.append("From: " + sender)
        lines.append("To: " + ",\r\n ".join(to))
        if cc:
            lines.append("Cc: " + ",\r\n ".join(cc))
        if thread is not None:
            thread.refs.append(msg_id)
        head = extra + CRLF.join(lines) + CRLF + body[0] + "\r\n\r\n"
        return head.encode() + body[1]  # ASCII unless the user address itself is not (RFC 6532)

    def _received(self, domain: str, at_ms: int) -> str:
        return (
            f"Delivered-To: {self.user}\r\nReceived: from mail.{domain} (mail.{domain}.)\r\n"
            f"        by mx.google.com with ESMTPS id {self.rng.getrandbits(40):010x}\r\n"
            f"        for <{self.user}>; {_rfc5322_date(at_ms, 0)}\r\n"
        )

    def _inbox_labels(self, unread: float, inbox: float = 0.9) -> list[str]:
        rng = self.rng
        labels = ["INBOX"] if rng.random() < inbox else []
        if rng.random() < unread:
            labels.append("UNREAD")
        if rng.random() < 0.05:
            labels.append("STARRED")
        if rng.random() < 0.02:  # deleted: in the trash rather than the inbox
            labels = [x for x in labels if x != "INBOX"] + ["TRASH"]
        return labels

    def _new_person_thread(self) -> _Thread:
        rng = self.rng
        person = rng.choice(_PEOPLE)
        lang, circle = person[3], person[5]
        others = [p for p in rng.sample(_PEOPLE[:15], 3) if p is not person][: rng.randint(1, 2)]
        labels = []
        if circle == "work" and rng.random() < 0.5:
            labels.append(rng.choice(_WORK_LABELS))
        elif circle == "family" and rng.random() < 0.6:
            labels.append("Family")
        elif rng.random() < 0.1:
            labels.append("Travel")
        q_encoding = lang in ("en", "es", "fr", "de")
        subject = _encoded_header(rng.choice(_LANG[lang][2]), _LANG[lang][0][0], q_encoding)
        cc = others if circle == "work" and rng.random() < 0.4 else []
        thread = _Thread(subject, person, None, labels, rng.randint(0, 8), cc)
        thread.last_user = rng.random() >= _USER_INITIATED  # who spoke "last" speaks second
        if thread.left:
            self.active.append(thread)
        return thread

    def _person(self, serial: int, at_ms: int, thread: _Thread | None) -> SeedMessage:
        rng = self.rng
        thread = thread or self._new_person_thread()
        person, lang = thread.person, thread.person[3]
        from_user = not thread.last_user and (not thread.refs or rng.random() < 0.7)
        speaker = thread.cc[0] if thread.cc and not from_user and rng.random() < 0.25 else person
        hi, bye = _LANG[lang][4], _LANG[lang][5]
        chosen = [hi.format(speaker[1] if from_user else self.me_first)]
        chosen += rng.sample(_LANG[lang][3], rng.randint(1, 2))
        chosen.append(bye.format(self.me_first if from_user else speaker[1]))
        if thread.quote:
            chosen.append(thread.quote)
        shape = rng.choices(("plain", "alt", "mixed"), (45, 37, 18 if not thread.refs else 4))[0]
        body = _body(rng, lang, chosen, shape, serial)
        talker = None if from_user else speaker
        others = [_address(p[0], p[2]) for p in [person, *thread.cc] if p is not talker]
        draft = from_user and bool(thread.refs) and rng.random() < 0.03
        if from_user:
            sender, tz, to, cc = self.me, -300, others[:1], others[1:]
            labels = ["DRAFT"] if draft else ["SENT"] + ["IMPORTANT"] * (rng.random() < 0.3)
            extra = ""
        else:
            sender, tz = _address(speaker[0], speaker[2]), speaker[4]
            to, cc = [self.me, *others[:1]], others[1:]
            labels = self._inbox_labels(0.25) + ["CATEGORY_PERSONAL"]
            if rng.random() < (0.4 if person[5] == "work" else 0.15):
                labels.append("IMPORTANT")
            extra = self._received(speaker[2].split("@")[1], at_ms)
        refs_before = list(thread.refs)
        raw = self._assemble(serial, at_ms, sender, tz, to, cc, thread.subject, thread, body, extra)
        if draft:  # a draft is never sent, so later replies cannot reference it
            thread.refs = refs_before
        else:
            thread.last_user = from_user
            said = chosen[1].replace(CRLF, " ")
            who = self.me_first if from_user else speaker[0]
            thread.quote = f"On {_rfc5322_date(at_ms, tz)}, {who} wrote:\r\n> {said}"
        return SeedMessage(raw, labels + thread.labels, at_ms)

    def _auto(self, serial: int, at_ms: int, auto: tuple, thread: _Thread | None) -> SeedMessage:
        rng = self.rng
        name, addr, category, user_label, subjects, line, list_id = auto
        if thread is None:
            text = rng.choice(subjects).format(n=rng.randint(1000, 9999))
            thread = _Thread(_encoded_header(text, "utf-8", True), None, auto, [], 0, [])
            if list_id:
                thread.left = rng.randint(1, 6)
                self.active.append(thread)
            thread.labels = [user_label] if user_label and rng.random() < 0.7 else []
        poster = rng.choice(_PEOPLE)
        sender = _address(poster[0] if list_id else name, addr)
        extra = self._received(addr.split("@")[1], at_ms)
        if list_id:
            extra += f"List-Id: <{list_id}>\r\nPrecedence: list\r\n"
        extra += f"List-Unsubscribe: <https://{addr.split('@')[1]}/unsubscribe/{serial}>\r\n"
        shapes = ("alt", "html", "related") if category == "CATEGORY_PROMOTIONS" else ("alt",)
        shape = "mixed" if "Delta" in name and rng.random() < 0.5 else rng.choice(shapes)
        paragraphs = [line.format(n=serial % 97), "Unsubscribe or manage your email settings."]
        body = _body(rng, "en", paragraphs, shape, serial)
        inbox = 0.6 if category == "CATEGORY_PROMOTIONS" else 0.85
        labels = self._inbox_labels(0.45, inbox) + [category] + thread.labels
        to = [f"<{addr}>" if list_id else self.me]
        raw = self._assemble(serial, at_ms, sender, 0, to, [], thread.subject, thread, body, extra)
        return SeedMessage(raw, labels, at_ms)

    def _spam(self, serial: int, at_ms: int) -> SeedMessage:
        rng = self.rng
        name, addr, subject = rng.choice(_SPAM)
        body = _body(
            rng, "en", [subject, "Click here to claim: http://example.invalid/"], "html", 0
        )
        extra = self._received(addr.split("@")[1], at_ms)
        to = [self.me]
        raw = self._assemble(
            serial, at_ms, _address(name, addr), 60, to, [], subject, None, body, extra
        )
        return SeedMessage(raw, ["SPAM"] + ["UNREAD"] * (rng.random() < 0.7), at_ms)


def synthetic_messages(
    user_email: str, count: int, seed: int, now_ms: int | None = None
) -> Iterator[SeedMessage]:
    """``count`` messages spread over the two years before ``now_ms``, oldest first."""
    end = FIXED_NOW_MS if now_ms is None else now_ms
    start = end - SPAN_MS
    step = SPAN_MS / max(count, 1)
    gen = _Generator(user_email, seed)
    for serial in range(count):
        at_ms = start + int(serial * step + gen.rng.random() * step * 0.9)
        yield gen.message(serial, at_ms)


# --- Google Takeout mbox ------------------------------------------------------------------

_TAKEOUT_SYSTEM = {
    "inbox": "INBOX", "sent": "SENT", "unread": "UNREAD", "starred": "STARRED",
    "important": "IMPORTANT", "spam": "SPAM", "trash": "TRASH", "drafts": "DRAFT",
    "draft": "DRAFT", "category personal": "CATEGORY_PERSONAL",
    "category social": "CATEGORY_SOCIAL", "category promotions": "CATEGORY_PROMOTIONS",
    "category updates": "CATEGORY_UPDATES", "category forums": "CATEGORY_FORUMS",
}  # fmt: skip
_TAKEOUT_DROPPED = {"opened", "archived", "chat"}


def takeout_labels(value: str) -> list[str]:
    """Map an X-Gmail-Labels value to system label ids and user label names."""
    text = decode_words(value)
    try:  # names containing commas come double-quoted: "Clients, VIP"
        names = next(csv.reader([text], skipinitialspace=True), [])
    except csv.Error:
        names = text.split(",")
    out: list[str] = []
    for name in (n.strip() for n in names):
        if not name or name.lower() in _TAKEOUT_DROPPED:
            continue
        label = _TAKEOUT_SYSTEM.get(name.lower(), name)
        if label not in out:
            out.append(label)
    return out


def _from_line_ms(line: bytes) -> int | None:
    """Date of an mbox 'From sender date' separator (asctime, optionally with a zone)."""
    words = line.decode("latin-1").split()[2:]
    return date_header_ms(" ".join(words)) if len(words) >= 4 else None


def load_mbox(path: str, user_email: str) -> Iterator[SeedMessage]:
    """Stream messages from an mbox (e.g. Google Takeout), bytes exactly as stored."""
    box = stdlib_mailbox.mbox(path, create=False)
    me = user_email.lower()
    try:
        for key in box.iterkeys():
            handle = box.get_file(key, from_=True)
            try:
                from_line, raw = handle.readline(), handle.read()
            finally:
                handle.close()
            headers = parse_headers_only(raw)
            lookup = {}
            for name, value in headers:
                lookup.setdefault(name.lower(), value)
            if "x-gmail-labels" in lookup:
                labels = takeout_labels(lookup["x-gmail-labels"])
            else:  # a plain mbox: file by direction, read
                sender = email.utils.parseaddr(lookup.get("from", ""))[1].lower()
                labels = ["SENT"] if sender == me else ["INBOX"]
            received = _from_line_ms(from_line) or date_header_ms(lookup.get("date")) or 0
            yield SeedMessage(raw, labels, received)
    finally:
        box.close()
