"""查看原文: the source view a citation links to, and how a citation explains a column break."""

from __future__ import annotations

import httpx
import pytest

from qa.answer import Citation, format_line_ranges
from qa.errors import SourceError
from qa.serve.source import cited_units, format_ranges, parse_ranges, render_source, source_link


def test_a_passage_continued_across_a_column_break_says_so():
    assert format_line_ranges(((41, 41), (43, 43), (45, 47))) == "第41、43、45–47行"
    assert format_line_ranges(((67, 67), (29, 29), (31, 31))) == "第67行，接第29、31行（分栏续接）"
    assert format_line_ranges(((27, 27), (53, 54))) == "第27行，接第53–54行（分栏续接）"


def test_ranges_round_trip_and_bad_ones_are_refused():
    ranges = ((41, 41), (45, 47))
    assert format_ranges(ranges) == "41,45-47" and parse_ranges("41,45-47") == ranges
    assert parse_ranges("") == ()
    for bad in ("41;rm", "1-", "-3", "4,,5", ",".join(["1"] * 100)):
        with pytest.raises(SourceError):
            parse_ranges(bad)


def test_pdf_citations_link_to_their_paragraph_units():
    entry = {"path": "/kb/a.pdf", "sha256": "ab" * 32, "page_starts": [1, 5, 9]}
    citation = Citation(source="A", path="/kb/a.pdf", lines=[], format="pdf", pages=(1, 2),
                        paragraphs=((4, 4), (1, 2)))
    assert cited_units(citation, entry) == ((4, 4), (5, 6))
    assert source_link(citation, {"/kb/a.pdf": entry}) == f"/source/{'ab' * 8}?at=4,5-6#cited"
    assert source_link(citation, {}) is None


def test_text_source_marks_the_cited_lines_escaped_with_the_section_above(small_kb):
    text = ("# 梧桐苑通知\n\n## 停车\n\n东门下周一起禁止停车。<script>alert(1)</script>\n\n"
            "## 电池与安全\n\n电动车电池不得带上楼。\n\n充电每小时五角钱。\n")
    qa = small_kb("通知.md", text)
    hit = qa.ask("充电怎么收费？", k=1).best
    entry = next(d for d in qa.manifest["documents"] if d["path"] == hit.citation.path)
    page = render_source(entry, cited_units(hit.citation, entry))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'id="cited"' in page and "<mark>充电每小时五角钱。</mark>" in page
    cited = sum(b - a + 1 for a, b in hit.citation.lines)
    assert page.count("<mark>") == cited and "<mark>东门" not in page  # only the cited lines
    assert hit.citation.section == "电池与安全"
    assert "电池与安全" in page.split("</header>")[0]  # the section, in the header


def test_column_break_is_explained_in_the_source_view(tmp_path):
    path = tmp_path / "报.txt"
    path.write_text("\n".join(f"第{n}行的文字。" for n in range(1, 71)), encoding="utf-8")
    import hashlib

    entry = {"path": str(path), "title": "报", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    page = render_source(entry, ((67, 67), (29, 29), (31, 31)))
    assert "分栏" in page and "第67行接到第29行" in page
    assert page.count("<mark>") == 3
    assert page.index('id="cited"') < page.index("第67行的文字") < page.index("第67行的文字") + 1


def test_the_source_route_serves_the_page_and_refuses_unknown_documents(small_kb, serve_app):
    from qa.serve.rest import Settings, create_app

    qa = small_kb("灯塔.txt", "白鹭岛灯塔\n\n白鹭岛灯塔建成于一八九二年，塔身用花岗岩砌成。\n")
    base = serve_app(create_app(qa, None, Settings(port=0)))
    hit = qa.ask("灯塔是哪一年建成的？", k=1).best
    link = source_link(hit.citation, {d["path"]: d for d in qa.manifest["documents"]})
    response = httpx.get(base + link.split("#")[0])
    assert response.status_code == 200 and "<mark>" in response.text and "白鹭岛灯塔" in response.text
    assert "script-src" not in response.headers["content-security-policy"]  # no scripts at all
    assert httpx.get(base + "/source/0000000000000000").status_code == 404
    assert httpx.get(base + link.split("?")[0] + "?at=1;drop").status_code == 404
