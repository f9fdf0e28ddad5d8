"""The seed record and the fixed tables the synthetic mailbox draws from.

Kept apart from ``mailbox.py`` so the generator reads as logic, not as ~170 lines of names,
phrases and sample files; ``mbox.py`` shares ``SeedMessage`` from here without an import cycle.
Changing any value changes every seeded mailbox (runs are byte-identical per user and seed).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass
class SeedMessage:
    raw: bytes
    label_ids: list[str]  # system label ids, or user label names ("Work/Projects")
    received_ms: int  # internalDate fallback when Date is missing or invalid


# --- the cast -------------------------------------------------------------------------------

# display name, first name, address, language, UTC offset (minutes), circle
PEOPLE = [
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
LANG = {
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
AUTOMATED = [
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
SPAM = [
    ("Prize Department", "winner@lucky-prize.biz", "You have WON $1,000,000!!!"),
    ("Pharmacy Online", "deals@cheap-meds.example", "Lowest prices on meds, no prescription"),
    ("Mr. Adewale", "adewale.transfer@mail.example", "URGENT: business proposal"),
]
WORK_LABELS = ("Work", "Work", "Work/Projects")

# --- attachment samples ---------------------------------------------------------------------

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R>>"
    b"endobj\n4 0 obj<</Length 38>>stream\nBT /F1 12 Tf 20 50 Td (Invoice) Tj ET\nendstream\n"
    b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)

PNG = base64.b64decode(  # a real 8x8 RGB gradient, so clients sniffing attachments see an image
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAbUlEQVR42hXOUREAUQhCUaMYhShEMcqNQhSi7Fs/"
    "OQzjzLCDBg83MGToMLPsosXLLSxZug/ECgmLE4iI6oFZI2NzBhNTPzj20OHjDo4cvQf/7Bt41Rf+F+h7YsIGBYfL"
    "Hyc0D8oWFZfrX05p+QDeqGABtJu0bQAAAABJRU5ErkJggg=="
)

# (mime type, Content-Type name/Content-Disposition filename parameters)
ATTACH_NAMES = (
    ("application/pdf", 'name="invoice-{n}.pdf"', 'filename="invoice-{n}.pdf"'),
    ("application/pdf", 'name="Q3-report.pdf"', 'filename="Q3-report.pdf"'),
    ("application/pdf", 'name="=?utf-8?B?UHLDpHNlbnRhdGlvbi5wZGY=?="',
     "filename*=utf-8''Pr%C3%A4sentation.pdf"),
    ("image/png", 'name="screenshot.png"', 'filename="screenshot.png"'),
    ("image/png", 'name="photo_{n}.png"', 'filename="photo_{n}.png"'),
    ("text/csv", 'name="data-{n}.csv"', 'filename="data-{n}.csv"'),
)  # fmt: skip
