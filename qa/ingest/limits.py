"""Per-format parsing limits: what a hostile document may cost before it is refused with a reason.

Every zipped format (.docx, .pptx, .xlsx) is opened here first: the entry count is checked, then
every entry is decompressed as a stream and its bytes are counted *as they come out* (the sizes in
the zip header are not trusted), and the paragraphs of the main text parts are counted on the way;
only a package within every limit is handed to python-docx, python-pptx or openpyxl. Images are
limited in pixels from their header before any decoding; PDFs in pages, the pixels a page is
rendered at and the time OCR may take per file. Each limit raises SourceError with a message that
names it, so a refused file is listed as skipped (or the upload refused) and nothing else is affected.
"""

from __future__ import annotations

import io
import zipfile

from ..errors import SourceError

#: Entries a zipped document may hold (a 300-slide deck with its media has about a thousand).
MAX_ZIP_ENTRIES = 5000
#: Bytes all entries of a zipped document may decompress to, counted as actually read.
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
#: Bytes one XML part (document.xml, a slide, a sheet) may decompress to.
MAX_XML_PART_BYTES = 50 * 1024 * 1024
#: Paragraphs (<w:p>, <a:p>, sheet rows) and visible paragraphs of any one document.
MAX_PARAGRAPHS = 50_000
#: Characters of text one document may hold (about 30 MB of UTF-8 Chinese).
MAX_DOCUMENT_CHARS = 10_000_000
#: Pixels of an image (width x height) that is decoded at all (Pillow's own bomb limit is 179 M).
MAX_IMAGE_PIXELS = 40_000_000
#: Pages of a PDF that is read at all.
MAX_PDF_PAGES = 2000
#: Pages of one file that OCR reads (the rest are listed as skipped, with this reason).
MAX_OCR_PAGES = 200
#: Seconds OCR may spend on one file; pages after that are listed as skipped.
MAX_OCR_SECONDS = 600.0
#: Longest side, in pixels, that a PDF page without text is rendered at for OCR.
RENDER_LONG_SIDE = 2000

# Start tags of a paragraph in WordprocessingML (<w:p>, <w:p w:rsidR=..>, <w:p/>) and DrawingML
# (<a:p>), and of a spreadsheet row (<row ...>); never <w:pPr> or <a:pPr>. Counted with
# bytes.count, which allocates nothing (a million matches cost no more than a scan).
_PARAGRAPH_TAGS = tuple(tag + end for tag in (b"<w:p", b"<a:p", b"<row") for end in (b">", b" ", b"/"))
_READ_BLOCK = 1 << 20


def _paragraph_part(kind: str, name: str) -> bool:
    if kind == "docx":
        return name.startswith("word/") and name.endswith(".xml")
    if kind == "pptx":
        return name.startswith("ppt/slides/slide") or name.startswith("ppt/notesSlides/")
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def check_package(data: bytes, name: str, kind: str) -> None:
    """Refuse a zipped document (kind 'docx', 'pptx' or 'xlsx') that exceeds a limit, before parsing.

    Raises:
        SourceError: not a zip, too many entries, more than MAX_UNZIPPED_BYTES when decompressed
            (counted while reading, whatever the header says), an XML part over MAX_XML_PART_BYTES,
            a size or checksum that does not match the header, or more than MAX_PARAGRAPHS paragraphs.
    """
    label = {"docx": "Word .docx", "pptx": "PowerPoint .pptx", "xlsx": "Excel .xlsx"}[kind]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise SourceError(f"{name}: not a readable {label} file (not a zip package: {e})") from e
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise SourceError(f"{name}: refused: the {label} package has {len(entries)} entries "
                              f"(limit {MAX_ZIP_ENTRIES})")
        total = paragraphs = 0
        for info in entries:
            if info.is_dir():
                continue
            counted = _paragraph_part(kind, info.filename)
            part = 0
            tail = b""
            try:
                with archive.open(info) as stream:
                    while block := stream.read(_READ_BLOCK):
                        part += len(block)
                        total += len(block)
                        if total > MAX_UNZIPPED_BYTES:
                            raise SourceError(
                                f"{name}: refused: the {label} package decompresses to more than "
                                f"{MAX_UNZIPPED_BYTES // (1024 * 1024)} MB (a zip bomb?)")
                        if counted:
                            if part > MAX_XML_PART_BYTES:
                                raise SourceError(
                                    f"{name}: refused: {info.filename} decompresses to more than "
                                    f"{MAX_XML_PART_BYTES // (1024 * 1024)} MB of XML")
                            window = tail + block
                            paragraphs += _count_tags(window) - _count_tags(tail)
                            tail = window[-8:]
                            if paragraphs > MAX_PARAGRAPHS:
                                raise SourceError(f"{name}: refused: more than {MAX_PARAGRAPHS:,} "
                                                  f"paragraphs (limit per document)")
            except SourceError:
                raise
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
                    RuntimeError) as e:
                # a header that understates the size stops the stream at the stated size, and
                # then the checksum fails: damaged either way
                raise SourceError(f"{name}: not a readable {label} file ({info.filename}: {e})") from e
            if part != info.file_size:
                raise SourceError(f"{name}: not a readable {label} file ({info.filename} is {part} "
                                  f"bytes, its header says {info.file_size})")


def _count_tags(data: bytes) -> int:
    return sum(data.count(tag) for tag in _PARAGRAPH_TAGS)


def check_paragraphs(count: int, chars: int, name: str) -> None:
    """Raises SourceError when a parsed document has more than MAX_PARAGRAPHS or MAX_DOCUMENT_CHARS."""
    if count > MAX_PARAGRAPHS:
        raise SourceError(f"{name}: refused: more than {MAX_PARAGRAPHS:,} paragraphs (limit per document)")
    check_text_size(chars, name)


def check_text_size(chars: int, name: str) -> None:
    """Raises SourceError when a document holds more than MAX_DOCUMENT_CHARS characters."""
    if chars > MAX_DOCUMENT_CHARS:
        raise SourceError(f"{name}: refused: {chars:,} characters of text "
                          f"(limit {MAX_DOCUMENT_CHARS:,} per document)")


def check_image_size(width: int, height: int, name: str) -> None:
    """Raises SourceError for an image larger than MAX_IMAGE_PIXELS (a decompression bomb)."""
    if width <= 0 or height <= 0:
        raise SourceError(f"{name}: not a readable image (size {width}×{height})")
    if width * height > MAX_IMAGE_PIXELS:
        raise SourceError(f"{name}: refused: the image is {width}×{height} pixels "
                          f"(limit {MAX_IMAGE_PIXELS:,} pixels; a decompression bomb?)")


def check_pdf_pages(pages: int, name: str) -> None:
    """Raises SourceError for a PDF of more than MAX_PDF_PAGES pages."""
    if pages > MAX_PDF_PAGES:
        raise SourceError(f"{name}: refused: the PDF has {pages:,} pages (limit {MAX_PDF_PAGES:,})")
