"""Word (.docx) files into Documents: paragraphs (headings by their style) and table rows, in body order."""

from __future__ import annotations

import io

from ..errors import SourceError
from . import limits
from .document import Document
from .units import Unit, squash, units_to_document


def docx_units(data: bytes, name: str) -> tuple[list[Unit], str | None]:
    """Paragraphs (headings by style: Title, Heading N, 标题 N) and table rows, in body order."""
    import docx  # python-docx: imports are absolute, so not this module
    from docx.table import Table

    limits.check_package(data, name, "docx")
    try:
        document = docx.Document(io.BytesIO(data))
        title = (document.core_properties.title or "").strip() or None
        units: list[Unit] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells, seen = [], set()
                    for cell in row.cells:
                        # merged cells appear once per grid column; keep one copy
                        if id(cell._tc) in seen:
                            continue
                        seen.add(id(cell._tc))
                        cells.append(squash(cell.text))
                    text = " | ".join(c for c in cells if c)
                    if text:
                        units.append(Unit(text, "body"))
                continue
            text = squash(block.text)
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            low = style.lower()
            if low == "title" or style == "标题":
                units.append(Unit(text, "title"))
                title = title or text
            elif low.startswith("heading") or style.startswith("标题"):
                units.append(Unit(text, "heading"))
            else:
                units.append(Unit(text, "body"))
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - python-docx raises many types for damaged packages
        raise SourceError(f"{name}: not a readable Word .docx file ({type(e).__name__}: {e})") from e
    return units, title


def read_docx(data: bytes, name: str) -> Document:
    units, title = docx_units(data, name)
    return units_to_document(name, data, units, title, "docx")
