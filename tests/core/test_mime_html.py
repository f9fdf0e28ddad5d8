"""html_to_text: the text of html-only bodies (layout rules in gmail_core/html_text.py)."""

from __future__ import annotations

import pytest

from gmail_core.cpcal import normalize_message
from gmail_core.html_text import html_to_text
from tests.core.test_cpcal import BOX, TOP, check, leaf, message


def test_table_cells_are_tab_separated_and_rows_are_lines():
    markup = (
        "<table><thead><tr><th>Name</th><th>Total</th></tr></thead>"
        "<tbody><tr><td>Tea</td><td>3&nbsp;&euro;</td></tr>"
        "<tr><td> Coffee\n beans </td><td>12</td></tr></tbody></table>"
    )
    assert html_to_text(markup) == "Name\tTotal\nTea\t3\xa0€\nCoffee beans\t12"


def test_empty_cells_keep_columns_but_empty_rows_and_trailing_cells_go():
    markup = (
        "<table><tr><td></td><td>only second</td><td></td></tr>"
        "<tr><td> </td><td></td></tr><tr><td>a</td><td></td><td>c</td></tr></table>"
    )
    assert html_to_text(markup) == "\tonly second\na\t\tc"


def test_nested_layout_tables():
    markup = (
        "<table><tr><td><table><tr><td>Logo</td><td>Menu</td></tr></table></td></tr>"
        "<tr><td><p>Hello <b>Ann</b>,</p><p>your order shipped.</p></td></tr></table>"
    )
    # <p> opens a paragraph: a blank line after the row above it
    assert html_to_text(markup) == "Logo\tMenu\n\nHello Ann,\n\nyour order shipped."


def test_pre_keeps_its_whitespace_and_newlines():
    markup = (
        "<p>Log:</p><pre>\n$ make   test\n\tok  1\n\n\n  done\n</pre><pre>x  y</pre><p>after</p>"
    )
    assert html_to_text(markup) == "Log:\n\n$ make   test\n\tok  1\n\n\n  done\n\nx  y\n\nafter"


def test_pre_with_markup_inside():
    markup = "<pre><b>bold</b>  <i>it</i>\n  next &lt;tag&gt;</pre>"
    assert html_to_text(markup) == "bold  it\n  next <tag>"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("a<br>b<br/>c", "a\nb\nc"),
        ("a<br><br><br><br>b", "a\n\nb"),  # at most one blank line
        ("<div>a</div><div>b</div>x", "a\nb\nx"),
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("<h1>Title</h1>text<h2>Sub</h2>", "Title\n\ntext\n\nSub"),
        ("<ul><li>one</li><li>two</li></ul><ol><li>three</ol>", "one\ntwo\n\nthree"),
        ("<blockquote>quoted</blockquote>reply", "quoted\n\nreply"),
        ("a<hr>b", "a\nb"),
        ("<dl><dt>term</dt><dd>def</dd></dl>", "term\ndef"),
        ("  lots   of \n\t space  ", "lots of space"),
        ("<span>in</span><span>line</span> <b>x</b>", "inline x"),
    ],
)
def test_line_breaks(markup, text):
    assert html_to_text(markup) == text


def test_script_style_title_dropped_and_entities_decoded():
    markup = (
        "<html><head><title>T</title><style>td{color:red}</style>"
        "<script>if (a < b) { document.write('<p>x</p>') }</script></head>"
        "<body><!-- hidden --><noscript>enable js</noscript>"
        "Fish &amp; chips &lt;3 &#39;today&#39; &#x1F44B; &eacute;t&eacute; &copy;</body></html>"
    )
    assert html_to_text(markup) == "Fish & chips <3 'today' 👋 été ©"


@pytest.mark.parametrize(
    "markup",
    ["<![if !supportLists]>x<![endif]>", "<![foo x", "<!", "</", "<a href='", "<pre>", "<td>x"],
)
def test_malformed_markup_never_raises(markup):
    assert isinstance(html_to_text(markup), str)


def test_html_only_message_with_a_table_through_normalize_message():
    markup = "<p>Invoice</p><table><tr><td>Name</td><td>Total</td></tr></table>"
    payload = {**leaf("", "text/html", markup.encode(), "utf-8"), "headers": TOP}
    rec = check(normalize_message(message(payload), BOX, {}))
    assert rec["body_text"] == rec["body"] == "Invoice\n\nName\tTotal"
    assert rec["body_html"] == markup


@pytest.mark.parametrize("unit", ["</", "<?", "<!", "<", "<!--", "<a b='"])
def test_unclosed_markup_after_the_last_tag_is_text(unit):
    # Without the escaping in html_to_text, Python < 3.11.13 spends seconds on this (gh-135462).
    markup = "<p>ok</p>" + unit * 100_000
    text = html_to_text(markup)
    assert text.startswith("ok") and len(text) >= 100_000


def test_text_after_the_last_tag_keeps_its_less_than_signs():
    assert html_to_text("<b>1</b> < 2 and a </b") == "1 < 2 and a </b"
    assert html_to_text("x <? y") == "x <? y"
