"""Slides (.pptx), spreadsheets (.xlsx, .csv) and Traditional-Chinese documents, built with their
libraries in the test, read, and answered through QA.ask with the right citation."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answer import Citation
from qa.errors import SourceError
from qa.ingest import read_document

TRADITIONAL = ("社區停車管理辦法",
               "本社區地下停車場共有三百個車位，業主每月租金三百元，訪客每小時收費五元。",
               "電動汽車充電樁設在地下二層，每度電收費一元二角，由物業統一管理。")
SIMPLIFIED = ("加装电梯议事规则",
              "加装电梯须经本单元三分之二以上业主同意，费用按楼层分摊。",
              "施工期间楼道堆放的杂物由居委会统一清理。")


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "街道老旧小区改造情况通报"
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "改造范围"
    first.placeholders[1].text_frame.text = "今年纳入改造的小区共有十二个，涉及居民四千二百户。"
    second = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    second.shapes.title.text = "资金安排"
    box = second.shapes.add_textbox(Inches(1), Inches(1.5), Inches(8), Inches(1)).text_frame
    box.text = "改造资金由市级财政承担百分之六十，区级财政承担百分之四十。"
    rows = second.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(6), Inches(1)).table
    rows.cell(0, 0).text, rows.cell(0, 1).text = "项目", "金额"
    rows.cell(1, 0).text, rows.cell(1, 1).text = "外墙保温", "八百万元"
    second.notes_slide.notes_text_frame.text = "补充说明：雨污分流工程明年三月完工。"
    deck.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "停车位"
    sheet.append(["车位号", "业主", "状态", "月租"])
    sheet.append(["A-001", "张建国", "已租", 300])
    sheet.append(["A-002", "李秀英", "空闲", 300])
    sheet.append(["B-015", "王志强", "已售", None])
    sheet["D5"] = "=D2+D3"  # a formula: its (absent) value is read, never the formula text
    votes = book.create_sheet("加装电梯投票")
    votes.append(["单元", "同意户数", "反对户数"])
    votes.append(["一单元", 11, 1])
    votes.append(["三单元", 7, 5])
    book.save(str(path))
    return path


def make_docx(path: Path, title: str, paragraphs) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(title, level=0)
    for text in paragraphs:
        d.add_paragraph(text)
    d.save(str(path))
    return path


def test_pptx_slides_titles_text_tables_and_notes(tmp_path):
    doc = read_document(make_pptx(tmp_path / "brief.pptx"))
    assert doc.format == "pptx" and doc.title == "街道老旧小区改造情况通报"
    assert doc.sections == ("改造范围", "资金安排") and len(doc.page_starts) == 2
    texts = [(p.section, p.text) for p in doc.paragraphs]
    assert texts == [("改造范围", "今年纳入改造的小区共有十二个，涉及居民四千二百户。"),
                     ("资金安排", "改造资金由市级财政承担百分之六十，区级财政承担百分之四十。"),
                     ("资金安排", "项目 | 金额"), ("资金安排", "外墙保温 | 八百万元"),
                     ("资金安排", "补充说明：雨污分流工程明年三月完工。")]


def test_xlsx_rows_carry_their_header_and_values_not_formulas(tmp_path):
    doc = read_document(make_xlsx(tmp_path / "parking.xlsx"))
    assert doc.format == "xlsx" and doc.title == "parking" and doc.sections == ("停车位", "加装电梯投票")
    texts = [p.text for p in doc.paragraphs]
    assert texts[:3] == ["车位号：A-001，业主：张建国，状态：已租，月租：300",
                         "车位号：A-002，业主：李秀英，状态：空闲，月租：300",
                         "车位号：B-015，业主：王志强，状态：已售"]
    assert not any("=D2" in t for t in texts)  # the formula row has no value: nothing to read
    assert texts[3:] == ["单元：一单元，同意户数：11，反对户数：1", "单元：三单元，同意户数：7，反对户数：5"]
    # unit -> sheet row: sheet headings have row 0, data rows their row in the sheet
    assert [doc.unit_rows[p.pieces[0].line - 1] for p in doc.paragraphs] == [2, 3, 4, 2, 3]


def test_csv_encoding_and_delimiter_are_detected(tmp_path):
    path = tmp_path / "名单.csv"
    path.write_bytes("姓名;楼号;电话\n赵敏;3号楼;138001\n钱进;5号楼;139002\n".encode("gb18030"))
    doc = read_document(path)
    assert doc.format == "csv"
    assert [p.text for p in doc.paragraphs] == ["姓名：赵敏，楼号：3号楼，电话：138001",
                                                "姓名：钱进，楼号：5号楼，电话：139002"]
    assert doc.unit_rows == (2, 3)


def test_citation_forms_of_slides_and_sheets():
    slide = Citation(source="通报", path="b.pptx", lines=[], format="pptx", pages=(2,))
    assert str(slide) == "《通报》 · 第2张幻灯片"
    sheet = Citation(source="车位", path="p.xlsx", lines=[], section="停车位", format="xlsx", rows=((3, 3),))
    assert str(sheet) == "《车位》 · 停车位 · 第3行" and sheet.to_dict()["rows"] == [[3, 3]]


@pytest.fixture(scope="module")
def qa_office(encoder, tmp_path_factory):
    from qa import QA

    docs = tmp_path_factory.mktemp("office")
    make_pptx(docs / "brief.pptx")
    make_xlsx(docs / "parking.xlsx")
    make_docx(docs / "停車.docx", TRADITIONAL[0], TRADITIONAL[1:])
    make_docx(docs / "电梯.docx", SIMPLIFIED[0], SIMPLIFIED[1:])
    return QA(sources=[docs], index_dir=tmp_path_factory.mktemp("office-index"))


def test_questions_on_slides_and_sheets_cite_slide_and_row(qa_office):
    hit = qa_office.ask("改造资金由谁承担？").hits[0]
    assert "市级财政" in hit.text and hit.citation.format == "pptx"
    assert hit.citation.pages[0] == 2 and "第2" in hit.citation.location and "张幻灯片" in str(hit.citation)

    hit = qa_office.ask("雨污分流工程什么时候完工？").hits[0]
    assert "明年三月" in hit.text and hit.citation.pages == (2,)

    hit = qa_office.ask("A-002车位的业主是谁？").hits[0]
    assert "李秀英" in hit.text and hit.citation.format == "xlsx"
    assert hit.text == "车位号：A-002，业主：李秀英，状态：空闲，月租：300"  # one row, one passage
    assert hit.citation.section == "停车位" and hit.citation.rows == ((3, 3),)
    assert str(hit.citation) == "《parking》 · 停车位 · 第3行"

    hit = qa_office.ask("三单元有多少户反对加装电梯？").hits[0]
    assert "三单元" in hit.text and hit.citation.section == "加装电梯投票"


def test_traditional_document_is_shown_as_written(qa_office):
    hit = qa_office.ask("停車場訪客每小時收費多少？").hits[0]  # Traditional question, Traditional text
    assert TRADITIONAL[1] in hit.text and hit.citation.source == TRADITIONAL[0]
    assert hit.text in "\n".join(TRADITIONAL[1:])  # exactly as the document writes it


def test_simplified_questions_find_a_traditional_document(qa_office):
    answer = qa_office.ask("电动汽车充电桩每度电收费多少？")
    assert answer.found and TRADITIONAL[2] in answer.hits[0].text  # shown as the document writes it
    assert answer.hits[0].citation.path.endswith("停車.docx")


def test_traditional_questions_find_a_simplified_document(qa_office):
    answer = qa_office.ask("加裝電梯須經多少業主同意？")
    assert answer.found and SIMPLIFIED[1] in answer.hits[0].text
    assert answer.hits[0].citation.path.endswith("电梯.docx")


@pytest.mark.parametrize("name,data,message", [
    ("fake.pptx", b"PK\x03\x04 not really a zip", "not a readable PowerPoint"),
    ("fake.xlsx", b"plain text, not a workbook", "not a readable Excel"),
    ("fake.png", b"\x89PNG\r\n\x1a\n garbage", "not a readable image"),
    ("bad.csv", "\u0000\u0000".encode() * 10, "binary"),
])
def test_damaged_office_files_and_images_raise_source_error(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(SourceError, match=message):
        read_document(tmp_path / name)
