"""Scans and photos read by offline OCR: a scanned PDF, a phone photo, a two-column page; each
generated here from Chinese text with the Noto CJK font, read back, and answered through QA.ask."""

from __future__ import annotations

import dataclasses

import pytest
from pages import char_accuracy, image_pdf, page_image, photo, png

from qa.errors import SourceError
from qa.ingest import parse_bytes
from qa.ingest.read import read_bytes

pytest.importorskip("rapidocr_onnxruntime")

NOTICE_TITLE = "加装电梯协调会通知"
NOTICE = ("居民委员会定于本月十五日下午两点在社区活动中心召开加装电梯协调会，请各单元业主代表准时参加。",
          "每台电梯的费用由本单元业主按楼层分摊，一楼业主不承担费用，六楼业主承担最多。")
PARKING = ("停车位改造工程预计下月开工，施工期间地面车位暂停使用，请车主把车辆移到临时停车场。",
           "临时停车场设在小区北门外的空地，夜间有保安巡逻。")
LEFT = ("垃圾分类督导员每天早上七点到九点在投放点值守，指导居民把厨余垃圾和其他垃圾分开投放。",)
RIGHT = ("社区图书室每周二和周四晚上开放，居民凭门禁卡可以免费借阅图书，每次最多借三本。",)
# Small pages keep OCR to a few seconds each on two shared cores.
SIZE = dict(width=760, height=480, size=22, margin=30)


@pytest.fixture(scope="module")
def generated():
    """name -> (bytes, paragraphs as drawn); each parsed once for the module."""
    notice, notice_drawn = page_image(NOTICE, title=NOTICE_TITLE, **SIZE)
    parking, parking_drawn = page_image(PARKING, **SIZE)
    columns, columns_drawn = page_image(LEFT + RIGHT, columns=2, **SIZE)
    files = {"scan.pdf": (image_pdf([notice, parking]), notice_drawn + parking_drawn),
             "photo.jpg": (photo(parking, angle=3.0), parking_drawn),
             "columns.png": (png(columns), columns_drawn)}
    return {name: (data, drawn, parse_bytes(data, name)) for name, (data, drawn) in files.items()}


@pytest.fixture(scope="module")
def qa_scans(encoder, generated, tmp_path_factory):
    """A knowledge base of the generated scans (their OCR reused, not run again)."""
    from qa import QA

    root = tmp_path_factory.mktemp("scans")
    (root / "docs").mkdir()
    seed = root / "docs" / "readme.txt"
    seed.write_text("社区办公室电话在门卫室登记。\n", encoding="utf-8")
    parsed = {}
    for name, (data, _, _) in generated.items():
        path = root / "docs" / name
        path.write_bytes(data)
        parsed[str(path.resolve())] = dataclasses.replace(generated[name][2], path=str(path.resolve()))
    qa = QA(sources=[seed], index_dir=root / "index")
    qa.add(sorted(parsed), parsed=parsed)
    return qa


def test_scanned_pdf_pages_are_read_by_ocr_with_boxes(generated):
    data, drawn, doc = generated["scan.pdf"]
    assert doc.format == "pdf" and doc.page_starts[0] == 1 and len(doc.page_starts) == 2
    assert doc.empty_pages == () and doc.title == NOTICE_TITLE
    texts = [p.text for p in doc.paragraphs]
    assert len(texts) == len(drawn)
    for read, truth in zip(texts, drawn, strict=True):
        assert char_accuracy(read, truth) >= 0.95, (read, truth)
    # every paragraph has a box on its page, inside the page, and a recognition score
    assert len(doc.ocr_boxes) == len(doc.paragraphs) + 1  # + the title
    for _, page, x0, y0, x1, y1, score in doc.ocr_boxes:
        assert page in (1, 2) and 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and 0 < score <= 1
    # the title stands above the first paragraph, and the first paragraph above the second
    boxes = {unit: (page, y0) for unit, page, _, y0, *_ in doc.ocr_boxes}
    assert boxes[1][1] < boxes[2][1] < boxes[3][1] and boxes[4][0] == 2


def test_phone_photo_rotated_a_few_degrees_is_read_in_order(generated):
    data, drawn, doc = generated["photo.jpg"]
    assert doc.format == "image" and data[:3] == b"\xff\xd8\xff"
    texts = [p.text for p in doc.paragraphs]
    assert len(texts) == 2
    assert all(char_accuracy(r, t) >= 0.9 for r, t in zip(texts, drawn, strict=True)), texts


def test_two_columns_are_read_column_by_column(generated):
    _, drawn, doc = generated["columns.png"]
    texts = [p.text for p in doc.paragraphs]
    assert len(texts) == 2, texts  # each column's paragraph whole, not interleaved line by line
    assert char_accuracy(texts[0], LEFT[0]) >= 0.95 and char_accuracy(texts[1], RIGHT[0]) >= 0.95
    left, right = (b for b in doc.ocr_boxes)
    assert left[4] <= right[2]  # the left column's box ends where the right one begins


def test_questions_on_scans_cite_page_and_region(qa_scans, generated):
    hit = qa_scans.ask("加装电梯的费用怎么分摊？").hits[0]
    assert "按楼层分摊" in hit.text and hit.citation.path.endswith("scan.pdf")
    c = hit.citation  # the passage may run on into the next paragraph, on page 2
    assert c.pages[0] == 1 and str(c).startswith(f"《{NOTICE_TITLE}》") and c.location.startswith("第1页")
    assert [r[0] for r in c.regions] == list(c.pages)
    page, x0, y0, x1, y1 = c.regions[0]
    title_bottom = generated["scan.pdf"][2].ocr_boxes[0][5]
    assert 0 < x0 < x1 <= 1 and title_bottom <= y0 < y1 < 1  # below the title, on the page
    assert c.ocr_confidence is not None and not c.low_confidence
    assert c.to_dict()["regions"] == [list(r) for r in c.regions]

    hit = qa_scans.ask("临时停车场在哪里？").hits[0]
    assert "北门" in hit.text and hit.citation.pages in ((2,), (1,))
    assert hit.citation.path.endswith(("scan.pdf", "photo.jpg"))

    hit = qa_scans.ask("图书室什么时候开放？").hits[0]
    assert "周二和周四" in hit.text and hit.citation.path.endswith("columns.png")
    assert hit.citation.format == "image" and hit.citation.location.startswith("第1页")


def test_low_confidence_text_is_kept_and_marked(monkeypatch, generated):
    from qa.answer import Citation, citation_for
    from qa.index.update import document_entry
    from qa.ingest import ocr

    data, _, _ = generated["columns.png"]
    real = ocr.read_lines

    def blurred(image):  # the same page, with every recognition score taken down to 0.5
        return [ocr.Line(x.text, 0.5, x.x0, x.y0, x.x1, x.y1, x.page_box) for x in real(image)]

    monkeypatch.setattr(ocr, "read_lines", blurred)
    doc = read_bytes(data, "columns.png", "image")
    assert len(doc.paragraphs) == 2 and {b[-1] for b in doc.ocr_boxes} == {0.5}
    entry = document_entry(doc, 2)

    class One:  # the smallest chunk citation_for needs: the first paragraph's unit
        path, source, section, lines = "columns.png", doc.title, None, ((1, 1),)

    c = citation_for(One, {"columns.png": entry})
    assert isinstance(c, Citation) and c.low_confidence and c.to_dict()["low_confidence"] is True


def test_blank_scan_is_skipped_with_the_reason_per_page(generated):
    from PIL import Image

    blank = Image.new("RGB", (400, 300), "white")
    with pytest.raises(SourceError, match="OCR found no text"):
        read_bytes(png(blank), "blank.png", "image")
    notice, _ = page_image(NOTICE[:1], **SIZE)
    doc = read_bytes(image_pdf([notice, blank]), "half.pdf", "pdf")
    assert doc.empty_pages == (2,) and doc.skipped_pages == ((2, "OCR found no text on the page"),)


def test_ocr_runs_once_per_file_version(monkeypatch, qa_scans, generated, tmp_path):
    """Opening the knowledge base again, or adding an unchanged scan, reads nothing by OCR."""
    from qa import QA
    from qa.ingest import ocr

    calls = []
    monkeypatch.setattr(ocr, "read_lines", lambda image: calls.append(image) or [])
    again = QA(index_dir=qa_scans.index_dir)
    assert {d["format"] for d in again.documents()} == {"pdf", "image", "text"}
    report = again.add([p for p in (d["path"] for d in again.documents()) if p.endswith(".jpg")])
    assert calls == [] and report["embedded"] == 0 and report["unchanged"] >= 3
