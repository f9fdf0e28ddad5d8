"""The visible text of an HTML mail body, for html-only messages (``body_text``/``body``).

Tokenising is the standard library's ``html.parser`` (it decodes entities and copes with the
tag soup mail clients send); only the layout rules below are ours. They are written by hand
because the libraries that do this well (html2text, inscriptis, BeautifulSoup's get_text) are
either Markdown-flavoured, much slower per message, or join table cells, and the rules are few:

- whitespace in text runs collapses to one space, as a browser renders it;
- ``<br>`` is a line break; ``div``, ``li``, ``tr``, ``table``, ``dt``/``dd`` and the HTML5
  sectioning elements start and end a line; ``p``, ``h1``-``h6``, ``ul``/``ol``/``dl``,
  ``blockquote`` and ``pre`` are paragraphs, separated by one blank line; never more than one
  blank line in a row;
- table cells (``td``/``th``) of a row are separated by one TAB, rows are lines. A tab, not
  " | ", because whitespace in cell text is collapsed to spaces, so a tab is always a cell
  boundary (split on it), and because most HTML mail uses tables for layout, where pipes would
  be noise. Empty trailing cells and rows of empty cells are dropped;
- ``<pre>`` keeps its spaces, tabs and newlines exactly (one newline right after ``<pre>`` is
  dropped, as HTML parsing does);
- ``script``, ``style``, ``title``, ``template``, ``noscript`` and comments are dropped.

``html.parser`` before CPython 3.11.13/3.12.11/3.13.4 (python/cpython#135462, CVE-2025-6069)
rescans to the end of the input for every ``</``, ``<?`` or ``<!`` that is never closed:
200 KB of ``</`` took 4 s, 1 MB took 94 s. Such a construct has no ``>`` after it, so every
``<`` after the last ``>`` is escaped before parsing (it would come out as text anyway);
measured after that, the worst inputs tried cost about 0.5 s per MB, linear.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_WS = re.compile(r"[ \t\r\n\f]+")  # HTML whitespace only: U+00A0 is content
_SKIP = frozenset(("script", "style", "title", "template", "noscript"))
_PARA = frozenset(("p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "blockquote", "pre"))
_LINE = frozenset(
    ("div", "li", "tr", "table", "dt", "dd", "hr", "section", "article", "header", "footer")
    + ("nav", "aside", "main", "figure", "figcaption", "address", "center", "form", "caption")
    + ("fieldset", "details", "summary", "tbody", "thead", "tfoot")
)
_CELL = frozenset(("td", "th"))


class _HtmlText(HTMLParser):
    """Collects output pieces; tracks pending space, trailing newlines and table cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0
        self.pre_start = False  # just after <pre>: one leading newline is not content
        self.newlines = 0  # newlines the output ends in, not counting a tabs-only line
        self.space = False  # a collapsed space is pending before the next word
        self.line_start = 0  # index in out where the current line begins
        self.line_text = False  # the current line has text, not just cell tabs
        self.cells: list[int] = []  # cells seen in the current row, one entry per open table

    # --- emitting ---------------------------------------------------------------------------

    def _end_line(self) -> None:
        """Drop the current line if it holds only cell tabs, else its trailing tabs."""
        if not self.line_text:
            del self.out[self.line_start :]
        else:
            while self.out[-1] == "\t":
                self.out.pop()
        self.space = False

    def _newline(self, count: int) -> None:
        """End the current line so that the output ends in ``count`` newlines (1 or 2)."""
        self._end_line()
        if self.out and self.newlines < count:
            self.out.append("\n" * (count - self.newlines))
            self.newlines = count
        self.line_start, self.line_text = len(self.out), False

    # --- parser callbacks -------------------------------------------------------------------

    def handle_starttag(self, tag, attrs) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "br":
            self._newline(min(self.newlines + 1, 2))
        elif tag in _PARA:
            self._newline(2)
            if tag == "pre":
                self.pre += 1
                self.pre_start = True
        elif tag in _LINE:
            self._newline(1)
            if tag == "table":
                self.cells.append(0)
            elif tag == "tr" and self.cells:
                self.cells[-1] = 0
        elif tag in _CELL:
            if not self.cells:
                self.cells.append(0)
            if self.cells[-1]:
                self.out.append("\t")
                self.space = False
            self.cells[-1] += 1

    def handle_startendtag(self, tag, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIP or tag in _PARA or tag == "table":  # <pre/>, <script/>: also end it
            self.handle_endtag(tag)

    def handle_endtag(self, tag) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _PARA:
            if tag == "pre" and self.pre:
                self.pre -= 1
            self._newline(2)
        elif tag in _LINE:
            if tag == "table" and self.cells:
                self.cells.pop()
            self._newline(1)

    def handle_data(self, data) -> None:
        if self.skipping:
            return
        if self.pre:
            self._pre_data(data)
            return
        text = _WS.sub(" ", data)
        if text.startswith(" "):
            self.space = True
            text = text[1:]
        if not text:
            return
        if self.space and not self.newlines and self.out and self.out[-1] != "\t":
            self.out.append(" ")
        self.space = text.endswith(" ")
        self.out.append(text[:-1] if self.space else text)
        self.newlines, self.line_text = 0, True

    def _pre_data(self, data: str) -> None:
        if self.pre_start and data.startswith(("\r\n", "\n")):
            data = data[2:] if data.startswith("\r\n") else data[1:]
        self.pre_start = False
        data = data.replace("\r\n", "\n")
        if not data:
            return
        self.out.append(data)
        kept = data.rstrip("\n")
        trailing = len(data) - len(kept)
        self.newlines = trailing if kept else self.newlines + trailing
        if trailing:
            self.line_start, self.line_text = len(self.out), False
        else:
            self.line_text = True


def html_to_text(markup: str) -> str:
    """Visible text of ``markup`` laid out as described in the module docstring; never raises."""
    parser = _HtmlText()
    last = markup.rfind(">")
    if markup.find("<", last + 1) >= 0:  # see the module docstring: CVE-2025-6069
        markup = markup[: last + 1] + markup[last + 1 :].replace("<", "&lt;")
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - _markupbase has raised AssertionError on odd "<!" input
        pass
    parser._end_line()
    return "".join(parser.out).lstrip("\n").rstrip()
