"""Ingest: decoding (UTF-8, BOM, GB18030, GBK), refusing binary and empty files, headings, line numbers."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from qa.config import BUILTIN_CORPUS
from qa.errors import SourceError
from qa.ingest import (
    decode_text,
    find_source_files,
    load_documents,
    parse_bytes,
    parse_document,
    read_document,
)

TEXT = ("小区议事规则\n\n"
        "议事会每月第一个周六召开，由居委会主任主持。\n\n"
        "议题须有三分之二代表到场方可表决，过半数同意即通过。表决结果在楼道公告栏张贴七天。\n")

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_every_supported_encoding_decodes_to_the_same_text(encoding):
    data = TEXT.encode(encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    assert decode_text(data, f"x.{encoding}") == TEXT


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_files_in_each_encoding_parse_to_the_same_document(tmp_path, encoding):
    path = tmp_path / f"rules-{encoding}.txt"
    path.write_bytes(TEXT.encode(encoding))
    doc = read_document(path)
    reference = parse_document(TEXT, "reference.txt")
    assert doc.title == "小区议事规则"
    assert [p.text for p in doc.paragraphs] == [p.text for p in reference.paragraphs]
    assert [[piece.line for piece in p.pieces] for p in doc.paragraphs] == [[3], [5]]


def test_bom_is_not_part_of_the_title():
    doc = parse_bytes(("\ufeff" + TEXT).encode("utf-8"), "bom.txt")
    assert doc.title == "小区议事规则"
    assert "\ufeff" not in "".join(p.text for p in doc.paragraphs)


@pytest.mark.parametrize("data, why", [
    (b"\x00\x01\x02\x03" * 64, "binary"),
    ("正文。".encode() + b"\x00" + "更多。".encode(), "binary"),
    (PNG_HEADER + bytes(range(256)), "binary"),
    (b"", "empty"),
    (b"   \n\t\r\n  \n", "empty"),
])
def test_binary_and_empty_bytes_are_refused(data, why):
    with pytest.raises(SourceError, match=why):
        decode_text(data, "bad.txt")


@pytest.mark.parametrize("data", [
    b"",
    b" \n\n\t \r\n",
    "\u3000\u3000\n\n\u3000".encode(),  # full-width spaces only
    b"\xef\xbb\xbf\n\n",  # a BOM and blank lines
    PNG_HEADER,
])
def test_files_without_text_are_refused_when_read(tmp_path, data):
    path = tmp_path / "nothing.txt"
    path.write_bytes(data)
    with pytest.raises(SourceError) as err:
        read_document(path)
    assert "nothing.txt" in str(err.value)


def test_folder_with_a_binary_txt_loads_the_good_files_and_warns(tmp_path, caplog):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.md").write_bytes("# 停车管理\n\n小区共有车位三百个。\n".encode("gb18030"))
    (tmp_path / "image.txt").write_bytes(PNG_HEADER + bytes(range(256)) * 4)
    (tmp_path / "empty.txt").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="qa.ingest.read"):
        docs = load_documents([tmp_path])
    assert sorted(Path(d.path).name for d in docs) == ["a.txt", "b.md"]
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "image.txt" in warned and "empty.txt" in warned


def test_folder_of_only_unreadable_files_is_an_error(tmp_path):
    (tmp_path / "image.txt").write_bytes(PNG_HEADER)
    with pytest.raises(SourceError, match="none of the sources"):
        load_documents([tmp_path])


def test_find_source_files_filters_suffixes_and_hidden_and_reports_missing(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "notes.rtf").write_text("a,b\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text(TEXT, encoding="utf-8")
    found = find_source_files([tmp_path, tmp_path / "a.txt"])  # a.txt named twice: listed once
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in found] == ["a.txt", "sub/c.md"]
    with pytest.raises(SourceError, match="no such file"):
        find_source_files([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError):
        find_source_files([empty])


def test_markdown_headings_become_sections(tmp_path):
    md = ("# 桂花小区业主手册\n\n"
          "本手册介绍小区的日常管理。\n\n"
          "## 停车管理\n\n"
          "小区共有地下车位三百个。访客车辆须登记后进入。\n\n"
          "## 垃圾分类 ##\n\n"
          "湿垃圾每天早晚两次定时投放。\n")
    path = tmp_path / "manual.md"
    path.write_text(md, encoding="utf-8")
    doc = read_document(path)
    assert doc.title == "桂花小区业主手册"
    assert doc.sections == ("停车管理", "垃圾分类")
    by_text = {p.text: p.section for p in doc.paragraphs}
    assert by_text["小区共有地下车位三百个。访客车辆须登记后进入。"] == "停车管理"
    assert by_text["湿垃圾每天早晚两次定时投放。"] == "垃圾分类"
    assert all("#" not in p.text for p in doc.paragraphs)


def test_hash_lines_in_plain_text_are_not_headings():
    doc = parse_document("标题\n\n# 这不是标题，只是一行正文，因为文件不是Markdown。\n", "plain.txt")
    assert doc.sections == ()
    assert doc.paragraphs[0].text.startswith("# ")


def test_crlf_line_endings_keep_line_numbers(tmp_path):
    lf = BUILTIN_CORPUS.read_text(encoding="utf-8")
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(lf.replace("\n", "\r\n").encode("utf-8"))
    a, b = read_document(BUILTIN_CORPUS), read_document(crlf)
    assert b.line_count == a.line_count
    assert [[(x.line, x.text) for x in p.pieces] for p in b.paragraphs] == \
        [[(x.line, x.text) for x in p.pieces] for p in a.paragraphs]
    assert all("\r" not in p.text for p in b.paragraphs)


def test_builtin_article_title_headings_and_captions():
    doc = read_document(BUILTIN_CORPUS)
    assert doc.title == "杨浦区新江湾城街道率先探索党建引领功能实体化建设"
    assert doc.sections == ("新江湾城街道率先探索党建引领功能实体化建设",
                            "明确“四个‘一’,一个‘四’”框架结构和工作体系",
                            "明责,增能,赋权,落实党建引领功能实体化建设")
    captions = {p.pieces[0].line for p in doc.paragraphs if p.kind == "caption"}
    assert captions == {51, 91, 95}
    # a body paragraph cut after a comma ("…大型社区,本届") is not taken for a heading
    assert any(p.pieces[0].line == 25 and p.kind == "body" for p in doc.paragraphs)
    assert doc.sha256 == hashlib.sha256(BUILTIN_CORPUS.read_bytes()).hexdigest()


def test_control_characters_are_removed_from_text():
    doc = parse_document("标题\n\n正文\x07第一句。\x1b第二句。\n", "ctl.txt")
    assert doc.paragraphs[0].text == "正文第一句。第二句。"
