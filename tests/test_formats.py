"""Reading HTML, Word and PDF documents, and citing them by paragraph and page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from qa.answer import Citation
from qa.errors import SourceError
from qa.ingest import read_document

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_PDF = FIXTURES / "kb-sample.pdf"

HTML = """<!DOCTYPE html>
<html><head><title>桂花小区停车管理</title>
<style>p { color: red; } .x::after { content: "样式里的字"; }</style>
<script>var secret = "脚本里的字";</script></head>
<body>
<nav><a href="/">首页</a></nav>
<h1>桂花小区停车管理</h1>
<p>小区共有地面车位一百二十个，
   地下车位三百个。</p>
<!-- 注释里的字 -->
<div hidden>隐藏的字</div>
<div style="display: none">也看不见</div>
<h2>收费标准</h2>
<p>业主月租三百元，<b>访客</b>每小时五元。<br>夜间十点后免费。</p>
<table><tr><th>车型</th><th>月租</th></tr><tr><td>小型车</td><td>三百元</td></tr></table>
<ul><li>禁止占用消防通道。</li><li>充电桩在B2层。</li></ul>
</body></html>
"""


def write(path: Path, data) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "梧桐苑议事规则"
    d.add_heading("梧桐苑议事规则", level=0)
    d.add_paragraph("议事会每月第一个周六召开，由居委会主任主持。")
    d.add_heading("表决", level=1)
    d.add_paragraph("议题须有三分之二代表到场方可表决，过半数同意即通过。")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "议题", "票数"
    table.cell(1, 0).text, table.cell(1, 1).text = "加装电梯", "二十七票"
    d.add_paragraph("表决结果在楼道公告栏张贴七天。")
    d.save(str(path))
    return path


def blank_pdf(pages: int = 2) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=595, height=842)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def texts(doc) -> list[str]:
    return [p.text for p in doc.paragraphs]


def test_html_keeps_visible_text_and_headings(tmp_path):
    doc = read_document(write(tmp_path / "park.html", HTML))
    body = "\n".join(texts(doc))
    assert doc.format == "html" and doc.title == "桂花小区停车管理"
    assert "小区共有地面车位一百二十个，地下车位三百个。" in texts(doc)  # layout newline removed
    for invisible in ("脚本里的字", "样式里的字", "注释里的字", "隐藏的字", "也看不见", "color"):
        assert invisible not in body
    assert "业主月租三百元，访客每小时五元。夜间十点后免费。" in texts(doc)
    assert "车型 | 月租" in texts(doc) and "小型车 | 三百元" in texts(doc)
    assert "禁止占用消防通道。" in texts(doc)
    assert doc.sections == ("收费标准",) or doc.sections == ("桂花小区停车管理", "收费标准")
    fee = next(p for p in doc.paragraphs if p.text.startswith("业主月租"))
    assert fee.section == "收费标准"
    # units are numbered in page order: nav link, h1, p, h2, p ...
    assert [p.pieces[0].line for p in doc.paragraphs][:3] == [1, 3, 5]


def test_html_declared_charset_gbk(tmp_path):
    page = '<html><head><meta charset="gbk"><title>公告</title></head><body><p>明天停水。</p></body></html>'
    doc = read_document(write(tmp_path / "notice.htm", page.encode("gbk")))
    assert texts(doc) == ["明天停水。"] and doc.title == "公告"


def test_docx_paragraphs_headings_and_tables(tmp_path):
    doc = read_document(make_docx(tmp_path / "rules.docx"))
    assert doc.format == "docx" and doc.title == "梧桐苑议事规则"
    assert texts(doc) == ["议事会每月第一个周六召开，由居委会主任主持。",
                          "议题须有三分之二代表到场方可表决，过半数同意即通过。",
                          "议题 | 票数", "加装电梯 | 二十七票", "表决结果在楼道公告栏张贴七天。"]
    assert [p.section for p in doc.paragraphs][1:] == ["表决"] * 4
    # paragraph numbers count the title and headings too: title 1, p 2, heading 3, p 4, rows 5-6, p 7
    assert [p.pieces[0].line for p in doc.paragraphs] == [2, 4, 5, 6, 7]


def test_pdf_text_layer_pages_and_paragraphs():
    doc = read_document(SAMPLE_PDF)
    assert doc.format == "pdf" and doc.title == "青松社区垃圾分类"
    assert doc.page_starts == (1, 5) and doc.empty_pages == ()
    assert doc.sections == ("青松社区垃圾分类办法", "积分奖励")
    assert texts(doc)[0] == "青松社区自去年起推行定时定点投放，每天早七点到九点、晚六点到八点开放投放点，" \
                            "其余时间投放点关闭，由物业统一清运。"
    # the paragraph that runs over the page break is one paragraph with a piece on each page
    grid = next(p for p in doc.paragraphs if p.text.startswith("社区把小区分成十二个网格"))
    assert [piece.line for piece in grid.pieces] == [4, 5]
    assert grid.text.endswith("网格员每月底把意见汇总交给居委会讨论。")
    # the page footers ("- 1 -") are not text
    assert not any("- 1 -" in t or t.strip("- ") == "1" for t in texts(doc))


def test_pdf_pages_without_text_are_reported(tmp_path):
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for page in PdfReader(SAMPLE_PDF).pages:
        w.add_page(page)
    w.add_blank_page(width=595, height=842)  # a scanned page: no text layer
    with open(tmp_path / "mixed.pdf", "wb") as f:
        w.write(f)
    doc = read_document(tmp_path / "mixed.pdf")
    assert doc.empty_pages == (3,) and len(doc.page_starts) == 3
    assert doc.paragraphs[-1].text.endswith("公园年卡。")


def test_scanned_pdf_is_refused_with_a_reason(tmp_path):
    with pytest.raises(SourceError, match="no text layer"):
        read_document(write(tmp_path / "scan.pdf", blank_pdf()))


@pytest.mark.parametrize("name,data,message", [
    ("fake.pdf", b"MZ\x90\x00binary junk" * 20, "not a PDF"),
    ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50, "PDF"),
    ("fake.docx", b"this is not a zip file at all", "not a readable Word"),
    ("empty.html", b"", "empty"),
    ("nothing.html", b"<html><body><script>x()</script></body></html>", "no text"),
])
def test_unreadable_files_raise_source_error(tmp_path, name, data, message):
    with pytest.raises(SourceError, match=message):
        read_document(write(tmp_path / name, data))


def test_citation_rendering_per_format():
    text = Citation(source="文", path="a.txt", lines=[(3, 5)], section="一")
    assert str(text) == "《文》 · 一 · 第3–5行" and text.location == "第3–5行"
    word = Citation(source="规则", path="r.docx", lines=[], format="docx", paragraphs=((4, 5),))
    assert str(word) == "《规则》 · 第4–5段"
    pdf = Citation(source="办法", path="b.pdf", lines=[], format="pdf", pages=(1, 2),
                   paragraphs=((4, 4), (1, 1)))
    assert pdf.location == "第1页第4段、第2页第1段"
    d = pdf.to_dict()
    assert d["pages"] == [1, 2] and d["display"] == "《办法》 · 第1页第4段、第2页第1段" and d["lines"] == []


def test_questions_over_every_format_cite_the_right_place(encoder, tmp_path):
    from qa import QA

    docs = tmp_path / "docs"
    docs.mkdir()
    write(docs / "park.html", HTML)
    make_docx(docs / "rules.docx")
    (docs / "sample.pdf").write_bytes(SAMPLE_PDF.read_bytes())
    write(docs / "notes.md", "# 垃圾房\n\n垃圾房每天下午四点消毒一次。\n")
    qa = QA(sources=[docs], index_dir=tmp_path / "index")
    assert {d["format"] for d in qa.documents()} == {"html", "docx", "pdf", "text"}

    hit = qa.ask("积分可以兑换什么东西？").hits[0]
    assert "洗衣液" in hit.text and hit.citation.path.endswith("sample.pdf")
    assert hit.citation.pages == (2,) and "第2页" in str(hit.citation) and hit.citation.lines == []

    hit = qa.ask("议题要多少代表到场才能表决？").hits[0]
    assert "三分之二" in hit.text and hit.citation.format == "docx"
    assert hit.citation.paragraphs[0][0] == 4 and "第4" in str(hit.citation)

    hit = qa.ask("访客停车每小时多少钱？").hits[0]
    assert "五元" in hit.text and hit.citation.format == "html" and "收费标准" in str(hit.citation)

    hit = qa.ask("垃圾房什么时候消毒？").hits[0]
    assert hit.citation.lines == [(3, 3)] and str(hit.citation).endswith("第3行")
