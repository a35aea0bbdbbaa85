"""HTML pages into Documents: the visible text in document order, headings as sections, table rows."""

from __future__ import annotations

import logging
import re

from .document import Document, decode_text
from .units import Unit, squash, units_to_document

log = logging.getLogger(__name__)

_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
              "embed", "canvas", "select", "option", "textarea", "input", "button"}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "li", "ul",
               "ol", "dl", "dt", "dd", "blockquote", "pre", "figure", "figcaption", "table", "thead",
               "tbody", "tfoot", "caption", "form", "fieldset", "address", "details", "summary", "hr",
               "body", "html", "center"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def _hidden(tag) -> bool:
    return (tag.has_attr("hidden") or tag.get("aria-hidden") == "true"
            or bool(_HIDDEN_STYLE.search(tag.get("style") or "")))


def decode_html(data: bytes, name: str) -> str:
    """Use the charset the page declares (<meta charset>), else UTF-8 / GB18030 like text files."""
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data[:4096], is_html=True)
    if declared and b"\x00" not in data[:8192]:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            log.info("%s: declared charset %s does not fit; guessing", name, declared)
    return decode_text(data, name)


def html_units(markup: str) -> tuple[list[Unit], str | None]:
    """Visible paragraphs of an HTML page in document order, and its <title>."""
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString, Tag

    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = squash(title_tag.get_text()) if title_tag else None
    units: list[Unit] = []
    buffer: list[str] = []

    def visible_text(tag) -> str:
        parts: list[str] = []
        for child in tag.children:
            if isinstance(child, PreformattedString):  # comments, CDATA, doctype
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
            elif isinstance(child, Tag) and child.name not in _SKIP_TAGS and not _hidden(child):
                parts.append(visible_text(child) + (" " if child.name in _BLOCK_TAGS | {"td", "th"} else ""))
        return "".join(parts)

    def flush() -> None:
        text = squash("".join(buffer))
        buffer.clear()
        if text:
            units.append(Unit(text, "body"))

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, PreformattedString):
                continue
            if isinstance(child, NavigableString):
                buffer.append(str(child))
                continue
            if not isinstance(child, Tag) or child.name in _SKIP_TAGS or _hidden(child):
                continue
            if child.name in _HEADING_TAGS:
                flush()
                text = squash(visible_text(child))
                if text:
                    units.append(Unit(text, "heading"))
            elif child.name == "tr":
                flush()
                cells = [squash(visible_text(c)) for c in child.find_all(["td", "th"], recursive=False)]
                row = " | ".join(c for c in cells if c)
                if row:
                    units.append(Unit(row, "body"))
            elif child.name == "br":
                buffer.append("\n")
            elif child.name in _BLOCK_TAGS:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(soup)
    flush()
    return units, title or None


def read_html(data: bytes, name: str) -> Document:
    markup = decode_html(data, name)
    units, title = html_units(markup)
    if title is None:
        title = next((u.text for u in units if u.kind == "heading"), None)
    return units_to_document(name, data, units, title, "html")
