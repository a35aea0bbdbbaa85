"""PowerPoint (.pptx) decks into Documents: one page per slide, its title a section, then its text."""

from __future__ import annotations

import io
from pathlib import Path

from ..errors import SourceError
from . import limits
from .document import Document
from .units import Unit, squash, units_to_document


def read_pptx(data: bytes, name: str) -> Document:
    """Slides in order: each slide's title is a section; its text boxes (one paragraph each), table
    rows (`cell | cell`) and speaker notes follow. Units carry the slide number as their page.

    Raises:
        SourceError: not a readable .pptx, over a limit, or without text.
    """
    from pptx import Presentation  # python-pptx: imports are absolute, so not this module

    limits.check_package(data, name, "pptx")
    try:
        deck = Presentation(io.BytesIO(data))
        title = (deck.core_properties.title or "").strip() or None
        units: list[Unit] = []
        page_starts: list[int] = []
        for number, slide in enumerate(deck.slides, start=1):
            page_starts.append(len(units) + 1)
            heading = slide.shapes.title
            if heading is not None and squash(heading.text_frame.text):
                units.append(Unit(squash(heading.text_frame.text), "heading", number))
            for shape in _reading_order(slide.shapes):
                if heading is not None and shape.shape_id == heading.shape_id:
                    continue
                units.extend(_shape_units(shape, number))
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                text = squash(notes.text) if notes is not None else ""
                if text:
                    units.append(Unit(text, "body", number))
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - python-pptx raises many types for damaged packages
        raise SourceError(f"{name}: not a readable PowerPoint .pptx file ({type(e).__name__}: {e})") from e
    if title is None:
        title = next((u.text for u in units if u.kind == "heading"), Path(name).stem)
    return units_to_document(name, data, units, title, "pptx", tuple(page_starts))


def _reading_order(shapes):
    """Shapes top to bottom, then left to right (placeholders without a position keep their place)."""
    return sorted(shapes, key=lambda s: ((s.top or 0) // 100_000, s.left or 0))


def _shape_units(shape, slide: int) -> list[Unit]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [u for inner in _reading_order(shape.shapes) for u in _shape_units(inner, slide)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = []
        for row in shape.table.rows:
            cells = [squash(cell.text) for cell in row.cells]
            text = " | ".join(c for c in cells if c)
            if text:
                rows.append(Unit(text, "body", slide))
        return rows
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        # a text box's bullet points are one paragraph: alone, each is too short to answer anything
        parts = [squash(p.text if hasattr(p, "text") else "") for p in shape.text_frame.paragraphs]
        text = " ".join(p for p in parts if p)
        return [Unit(text, "body", slide)] if text else []
    return []
