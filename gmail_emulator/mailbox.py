"""Seed data: a deterministic, realistic synthetic mailbox (and, re-exported, the mbox loader).

The generator builds RFC 5322 bytes from pre-encoded fragments (never ``EmailMessage``) because
the emulator must seed 10k messages and start in well under two seconds. Everything derives
from ``random.Random`` seeded with (user, seed) and a fixed clock, so runs are byte-identical.
The names, phrases and sample files live in ``seed_data.py``; the Takeout loader in ``mbox.py``.
"""

from __future__ import annotations

import base64
import binascii
import email.charset
import email.header
import email.utils
import html
import random
import time
from collections.abc import Iterator
from functools import cache

from .mbox import load_mbox as load_mbox
from .mbox import takeout_labels as takeout_labels
from .seed_data import ATTACH_NAMES, AUTOMATED, LANG, PDF, PEOPLE, PNG, SPAM, WORK_LABELS
from .seed_data import SeedMessage as SeedMessage

FIXED_NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the synthetic mailbox's "now"
SPAN_MS = 730 * 86_400_000  # two years of history
CRLF = "\r\n"
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


_PDF_B64 = _b64_lines(PDF)
_PNG_B64 = _b64_lines(PNG)


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
    encodings = LANG[lang][1]
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
    mime, name, filename = rng.choice(ATTACH_NAMES)
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
    charset = rng.choice(LANG[lang][0])
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
            return self._auto(serial, at_ms, rng.choice(AUTOMATED), None)
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
        person = rng.choice(PEOPLE)
        lang, circle = person[3], person[5]
        others = [p for p in rng.sample(PEOPLE[:15], 3) if p is not person][: rng.randint(1, 2)]
        labels = []
        if circle == "work" and rng.random() < 0.5:
            labels.append(rng.choice(WORK_LABELS))
        elif circle == "family" and rng.random() < 0.6:
            labels.append("Family")
        elif rng.random() < 0.1:
            labels.append("Travel")
        q_encoding = lang in ("en", "es", "fr", "de")
        subject = _encoded_header(rng.choice(LANG[lang][2]), LANG[lang][0][0], q_encoding)
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
        hi, bye = LANG[lang][4], LANG[lang][5]
        chosen = [hi.format(speaker[1] if from_user else self.me_first)]
        chosen += rng.sample(LANG[lang][3], rng.randint(1, 2))
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
        poster = rng.choice(PEOPLE)
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
        name, addr, subject = rng.choice(SPAM)
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
