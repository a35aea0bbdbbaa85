"""Read spreadsheets (.xlsx, .csv): each sheet a section, each row a paragraph of its own that
carries its header row as context ("车位号：A-012，业主：张三"), cited as 工作表·第N行."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from ..errors import SourceError
from . import limits
from .document import Document, decode_text
from .units import Unit, squash, units_to_document


def cell_text(value) -> str:
    """A cell's value as people read it: whole numbers without '.0', dates without midnight."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return squash(str(value))


def row_units(rows, sheet: str | None) -> list[Unit]:
    """Units of one sheet from (row number, cell values): the first non-empty row is the header;
    every later row becomes 'header：value，...' (cells without a header as they stand)."""
    units: list[Unit] = [Unit(sheet, "heading", row=0)] if sheet else []
    header: list[str] | None = None
    header_row = 0
    for number, values in rows:
        cells = [cell_text(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if not any(cells):
            continue
        if header is None:
            header, header_row = cells, number
            continue
        parts = []
        for i, value in enumerate(cells):
            if not value:
                continue
            label = header[i] if i < len(header) else ""
            parts.append(f"{label}：{value}" if label else value)
        units.append(Unit("，".join(parts), "body", row=number))
        if len(units) > limits.MAX_PARAGRAPHS:
            break  # units_to_document refuses the document with the limit's message
    if header is not None and len(units) == (1 if sheet else 0):
        # a sheet with a single row: the row is the content
        units.append(Unit("，".join(c for c in header if c), "body", row=header_row))
    return units


def read_xlsx(data: bytes, name: str) -> Document:
    """Every sheet of an Excel workbook, read-only, cell values (as last calculated), not formulas.

    Raises:
        SourceError: not a readable .xlsx, over a limit, or without any value.
    """
    import openpyxl

    limits.check_package(data, name, "xlsx")
    units: list[Unit] = []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            title = (book.properties.title or "").strip() or None
            for sheet in book.worksheets:
                if not hasattr(sheet, "iter_rows"):
                    continue  # a chart sheet
                sheet.reset_dimensions()  # the stated size may be a lie: read the rows there are
                rows = [(n, values) for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
                units.extend(row_units(rows, squash(sheet.title) or None))
                if len(units) > limits.MAX_PARAGRAPHS:
                    break
        finally:
            book.close()
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - openpyxl raises many types for damaged packages
        raise SourceError(f"{name}: not a readable Excel .xlsx file ({type(e).__name__}: {e})") from e
    return units_to_document(name, data, units, title or Path(name).stem, "xlsx")


def read_csv(data: bytes, name: str) -> Document:
    """A CSV file, decoded like .txt (UTF-8 or GB18030); the delimiter is detected.

    Raises:
        SourceError: empty, binary, undecodable, over a limit, or without any value.
    """
    text = decode_text(data, name)
    limits.check_text_size(len(text), name)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = []
    try:
        for values in reader:
            rows.append((reader.line_num, values))
            if len(rows) > limits.MAX_PARAGRAPHS + 1:
                break
    except csv.Error as e:
        raise SourceError(f"{name}: not a readable CSV file (line {reader.line_num}: {e})") from e
    return units_to_document(name, data, row_units(rows, None), Path(name).stem, "csv")
