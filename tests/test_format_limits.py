"""Hostile documents, generated here, refused quickly with a reason that names the limit (qa/limits.py):
zip bombs (honest and with a lying header), too many entries or paragraphs, image decompression
bombs, PDFs with too many pages, OCR over its page and time budget."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import pytest

from qa.errors import SourceError
from qa.ingest import limits, parse_bytes
from qa.ingest.read import read_bytes

DOCUMENT_XML = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                '<w:body>{body}</w:body></w:document>')


def docx_bytes(body: str = "<w:p><w:r><w:t>通知</w:t></w:r></w:p>", extra: dict | None = None,
               streamed: dict | None = None) -> bytes:
    """A Word package (python-docx's template) whose document.xml has the given body; `extra`
    entries added as they are, `streamed` entries {name: (block, times)} written block by block."""
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = DOCUMENT_XML.format(body=body).encode() if info.filename == "word/document.xml" \
                else src.read(info)
            dst.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
        for name, (block, times) in (streamed or {}).items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info, "w", force_zip64=True) as f:
                for _ in range(times):
                    f.write(block)
    return out.getvalue()


def understate_sizes(data: bytes, entry: str, factor: int) -> bytes:
    """The package with `entry`'s uncompressed size divided by `factor` in both of its headers."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(entry)
    out = bytearray(data)
    real = struct.pack("<I", info.file_size)
    fake = struct.pack("<I", max(1, info.file_size // factor))
    local = info.header_offset
    assert out[local + 22:local + 26] == real
    out[local + 22:local + 26] = fake
    central = out.rindex(b"PK\x05\x06")  # end of central directory: where the directory starts
    central = struct.unpack("<I", out[central + 16:central + 20])[0]
    while out[central:central + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack("<HHH", out[central + 28:central + 34])
        if out[central + 46:central + 46 + name_len] == entry.encode():
            out[central + 24:central + 28] = fake
            return bytes(out)
        central += 46 + name_len + extra_len + comment_len
    raise AssertionError(f"{entry} not in the central directory")


def refused_quickly(data: bytes, name: str, match: str, seconds: float = 5.0) -> tuple[float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SourceError, match=match):
            parse_bytes(data, name)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    return elapsed, peak


def test_honest_zip_bomb_is_refused_by_bytes_actually_read():
    # 5 x 44 MB of zeros in media entries: 220 MB that compress to ~0.2 MB, sizes stated truthfully
    zeros = bytes(1 << 20)
    bomb = docx_bytes(streamed={f"word/media/image{i}.png": (zeros, 44) for i in range(5)})
    assert len(bomb) < 1_000_000
    _, peak = refused_quickly(bomb, "bomb.docx", "decompresses to more than 200 MB")
    assert peak < 64 * 1024 * 1024  # streamed: never held whole


def test_xml_part_over_its_limit_is_refused():
    bomb = docx_bytes(streamed={"word/footnotes.xml": (b"<w:r>" * 200_000, 55)})  # 55 MB of XML
    refused_quickly(bomb, "xml.docx", "50 MB of XML")


def test_zip_header_that_understates_the_size_by_a_million_is_refused_without_the_ram():
    body = "<w:p><w:r><w:t>" + "电梯加装说明" * 200 + "</w:t></w:r></w:p>"
    data = docx_bytes(body * 2_000)  # ~7 MB of XML
    lying = understate_sizes(data, "word/document.xml", 10**6)
    _, peak = refused_quickly(lying, "lying.docx", "not a readable Word")
    assert peak < 32 * 1024 * 1024


def test_docx_of_a_million_empty_paragraphs_is_refused_fast():
    # the shape of the 677 KB file holding 190 MB of <w:p>: refused at the paragraph limit
    data = docx_bytes("<w:p/>" * 600_000 + "<w:p><w:pPr/></w:p>" * 400_000)
    assert len(data) < 1_000_000
    refused_quickly(data, "paragraphs.docx", f"more than {limits.MAX_PARAGRAPHS:,} paragraphs", 3)


def test_zip_with_too_many_entries_is_refused():
    extra = {f"word/media/x{i}.bin": b"" for i in range(limits.MAX_ZIP_ENTRIES + 1)}
    refused_quickly(docx_bytes(extra=extra), "entries.docx", "entries")


@pytest.mark.parametrize("kind", ["pptx", "xlsx"])
def test_slides_and_sheets_get_the_same_zip_checks(monkeypatch, tmp_path, kind):
    from test_slides_sheets import make_pptx, make_xlsx

    path = (make_pptx if kind == "pptx" else make_xlsx)(tmp_path / f"a.{kind}")
    data = path.read_bytes()
    assert parse_bytes(data, path.name).paragraphs  # within the limits: read
    with zipfile.ZipFile(path) as z:
        unzipped = sum(i.file_size for i in z.infolist())
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", unzipped - 1)  # the same package, just over
    with pytest.raises(SourceError, match="decompresses to more than"):
        parse_bytes(data, path.name)
    monkeypatch.undo()
    monkeypatch.setattr(limits, "MAX_PARAGRAPHS", 2)
    with pytest.raises(SourceError, match="more than 2 paragraphs"):
        parse_bytes(data, path.name)


def test_sheet_that_claims_a_million_rows_reads_only_the_rows_there_are(tmp_path):
    from test_slides_sheets import make_xlsx

    data = make_xlsx(tmp_path / "a.xlsx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            part = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                part = part.replace(b'<dimension ref="A1:D5"/>', b'<dimension ref="A1:XFD1048576"/>')
            dst.writestr(info, part)
    start = time.perf_counter()
    doc = parse_bytes(out.getvalue(), "claims.xlsx")
    assert time.perf_counter() - start < 3 and len(doc.paragraphs) == 5


def test_image_decompression_bomb_is_refused_from_its_header():
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    # a 100,000 x 100,000 PNG (10 G pixels) whose pixel data would be a few KB of zeros
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100_001)) \
        + chunk(b"IEND", b"")
    refused_quickly(bomb, "bomb.png", "refused: the image is", 2)
    # one just over our limit (below Pillow's): refused by ours, with its size
    header = struct.pack(">IIBBBBB", 8000, 5001, 8, 0, 0, 0, 0)
    big = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 8001)) \
        + chunk(b"IEND", b"")
    refused_quickly(big, "big.png", "8000×5001 pixels", 2)


def test_pdf_with_too_many_pages_is_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(limits.MAX_PDF_PAGES + 1):
        writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    refused_quickly(buf.getvalue(), "many.pdf", f"{limits.MAX_PDF_PAGES + 1:,} pages", 20)


def test_ocr_page_and_time_budgets_skip_pages_with_the_reason(monkeypatch):
    pytest.importorskip("rapidocr_onnxruntime")
    from pages import image_pdf, page_image

    from qa.ingest import ocr

    pages = [page_image([f"第{n}页的通知：本周六上午九点在小区广场义诊。"], width=500, height=200, size=20,
                        margin=20)[0] for n in (1, 2, 3)]
    scan = image_pdf(pages)
    calls = []
    real = ocr.read_lines
    monkeypatch.setattr(ocr, "read_lines", lambda image: calls.append(1) or real(image))
    monkeypatch.setattr(limits, "MAX_OCR_PAGES", 1)
    doc = read_bytes(scan, "three.pdf", "pdf")
    assert len(calls) == 1 and doc.empty_pages == (2, 3) and "义诊" in doc.paragraphs[0].text
    assert doc.skipped_pages[0] == (2, "not read: OCR reads at most 1 pages per file")
    monkeypatch.setattr(limits, "MAX_OCR_PAGES", 200)
    monkeypatch.setattr(limits, "MAX_OCR_SECONDS", 0.0)  # the budget is spent once a page is read
    doc = read_bytes(scan, "three.pdf", "pdf")
    assert len(calls) == 2 and doc.empty_pages == (2, 3)
    assert "OCR time limit (0 s per file) reached" in doc.skipped_pages[0][1]


def test_characters_limit_refuses_a_huge_text(monkeypatch):
    monkeypatch.setattr(limits, "MAX_DOCUMENT_CHARS", 1000)
    with pytest.raises(SourceError, match="1,001 characters"):
        parse_bytes(("通" * 1001).encode(), "long.txt")
    with pytest.raises(SourceError, match="characters of text"):
        parse_bytes(docx_bytes("<w:p><w:r><w:t>" + "字" * 1200 + "</w:t></w:r></w:p>"), "long.docx")


def test_a_refused_file_does_not_affect_the_rest_of_the_folder(encoder, tmp_path):
    from qa import QA

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notice.txt").write_text("下周三上午小区停水检修。\n", encoding="utf-8")
    (docs / "paragraphs.docx").write_bytes(docx_bytes("<w:p/>" * (limits.MAX_PARAGRAPHS + 1)))
    qa = QA(sources=[docs], index_dir=tmp_path / "index")
    assert [d["path"].endswith("notice.txt") for d in qa.documents()] == [True]
    [skipped] = qa.skipped()
    assert skipped["path"].endswith("paragraphs.docx") and "paragraphs" in skipped["reason"]
    assert "停水" in qa.ask("什么时候停水？").hits[0].text


def test_uploads_of_new_formats_are_accepted_and_hostile_ones_refused(small_kb, tmp_path):
    from test_slides_sheets import make_pptx, make_xlsx

    from qa.serve.uploads import UploadError, list_documents, save_upload

    qa = small_kb("notice.txt", "下周三上午小区停水检修。\n")
    for suffix in (".pptx", ".xlsx", ".csv", ".png", ".jpg", ".markdown"):
        assert suffix in list_documents(qa)["formats"]
    saved = save_upload(qa, "车位.xlsx", make_xlsx(tmp_path / "a.xlsx").read_bytes())
    assert saved["document"]["format"] == "xlsx" and saved["report"]["added"]
    saved = save_upload(qa, "通报.pptx", make_pptx(tmp_path / "b.pptx").read_bytes())
    assert saved["document"]["format"] == "pptx" and saved["document"]["slides"] == 2
    before = qa.documents()
    zeros = bytes(1 << 20)
    lying = understate_sizes(docx_bytes("<w:p><w:r><w:t>" + "说明" * 200_000 + "</w:t></w:r></w:p>"),
                             "word/document.xml", 10**6)
    for name, data, reason in (
            ("bomb.docx", docx_bytes(streamed={"word/media/a.bin": (zeros, 210)}), "解压后过大|refused"),
            ("lying.docx", lying, "not a readable Word"),
            ("many.docx", docx_bytes("<w:p/>" * (limits.MAX_PARAGRAPHS + 1)), "refused: more than")):
        with pytest.raises(UploadError, match=reason) as refused:
            save_upload(qa, name, data)
        assert refused.value.http_status == 422
    assert qa.documents() == before
    assert sorted(p.name for p in qa.kb_dir.iterdir()) == ["车位.xlsx", "通报.pptx"]


def pdf_with_image(width: int, height: int) -> bytes:
    """A one-page PDF that draws one grey image of the stated size (its data a few KB of zeros)."""
    pixels = zlib.compress(b"\0" * 100_000)
    draw = b"q 200 0 0 200 0 0 cm /Im0 Do Q"
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Resources<</XObject<</Im0 4 0 R>>>>"
               b"/Contents 5 0 R>>",
               b"<</Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceGray/BitsPerComponent 8"
               b"/Filter/FlateDecode/Length %d>>stream\n" % (width, height, len(pixels)) + pixels
               + b"\nendstream",
               b"<</Length %d>>stream\n" % len(draw) + draw + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_page_with_an_image_bomb_is_not_rendered():
    with pytest.raises(SourceError, match="10,000,000,000 pixels"):
        read_bytes(pdf_with_image(100_000, 100_000), "bomb.pdf", "pdf")
