"""Sentence splitting, sentence chunks and blocks, and the line ranges they cite, checked against the file."""

from __future__ import annotations

import json

import pytest

from qa.chunk import Chunk, PieceMap, block_starts, chunk_documents, sentence_spans, split_sentences
from qa.config import BUILTIN_CORPUS, Config
from qa.ingest import Piece, decode_text, join_pieces, parse_document, read_document
from qa.terms import default_tokenizer


def squash(text: str) -> str:
    return "".join(text.split())


def cited_text(path, ranges) -> str:
    """The cited lines of the real file, in citation order, whitespace removed."""
    with open(path, "rb") as f:
        lines = decode_text(f.read()).split("\n")
    return "".join(squash(lines[n - 1]) for a, b in ranges for n in range(a, b + 1))


@pytest.fixture(scope="module")
def article():
    return read_document(BUILTIN_CORPUS, tokenizer=default_tokenizer())


@pytest.mark.parametrize("text, expected", [
    ("今天开会。明天放假！真的吗？", ["今天开会。", "明天放假！", "真的吗？"]),
    ("第一条；第二条；第三条", ["第一条；", "第二条；", "第三条"]),
    ("他想了想……最后同意了。", ["他想了想……", "最后同意了。"]),
    ("他说：“好。”然后走了。", ["他说：“好。”", "然后走了。"]),
    ("她问‘为什么？’没人回答。", ["她问‘为什么？’", "没人回答。"]),
    ("「准时到场。」主任强调。", ["「准时到场。」", "主任强调。"]),
    ("林路说:“如果没有党组织的支持,我们就没有决心!”大家鼓掌。",
     ["林路说:“如果没有党组织的支持,我们就没有决心!”", "大家鼓掌。"]),
    ("The meeting starts at 3.30 pm. Please be on time! Thanks.",
     ["The meeting starts at 3.30 pm.", " Please be on time!", " Thanks."]),
    ("停车费每月300元。Parking costs 300 yuan a month.",
     ["停车费每月300元。", "Parking costs 300 yuan a month."]),
    ("没有句号的一段话", ["没有句号的一段话"]),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_blank_text_has_no_sentences(text):
    assert split_sentences(text) == []
    assert sentence_spans(text) == []


def test_sentences_of_the_article_are_never_empty_and_rebuild_the_text(article):
    texts = [p.text for p in article.paragraphs] + ["第一句。 第二句！  第三句", "“好！”“不好。”他说。"]
    for text in texts:
        sentences = split_sentences(text)
        assert sentences and all(s.strip() for s in sentences)
        assert "".join(sentences) == text
        assert [text[a:b] for a, b in sentence_spans(text)] == sentences


def test_closing_quotes_never_start_a_sentence(article):
    for p in article.paragraphs:
        for s in split_sentences(p.text):
            assert s.lstrip()[0] not in "”’」』）)】"


@pytest.mark.parametrize("text", ["真的吗？！我不信。", "Wow!! Great.", "他走了。。。她也走了。"])
def test_repeated_enders_stay_with_their_sentence(text):
    assert all(any(ch.isalnum() for ch in s) for s in split_sentences(text))


@pytest.mark.parametrize("lengths, limit", [([100] * 3, 1000), ([400] * 4, 1000), ([50] * 40, 300),
                                             ([900, 900, 10], 1000), ([2000], 1000), ([1] * 7, 2)])
def test_blocks_cut_a_long_paragraph_into_parts_of_about_equal_size(lengths, limit):
    starts = block_starts(lengths, limit)
    assert starts[0] == 0 and starts == sorted(set(starts))
    sizes = [sum(lengths[a:b]) for a, b in zip(starts, starts[1:] + [len(lengths)], strict=True)]
    assert sum(sizes) == sum(lengths)
    for (a, b), size in zip(zip(starts, starts[1:] + [len(lengths)], strict=True), sizes, strict=True):
        assert size <= limit or b - a == 1, (starts, sizes)
    if sum(lengths) <= limit:
        assert starts == [0]
    else:
        assert len(starts) >= -(-sum(lengths) // limit) - 1 and max(sizes) <= 2 * min(sizes) + max(lengths)


def test_every_sentence_is_one_chunk_in_a_block_of_its_paragraph(article):
    chunks = chunk_documents([article])
    sentences = [s.strip() for p in article.paragraphs for s in split_sentences(p.text)]
    assert [c.text.strip() for c in chunks] == sentences
    assert all(c.embed_text == c.text.strip() for c in chunks)
    blocks = [c.block for c in chunks]
    assert blocks == sorted(blocks) and len(set(blocks)) == len(article.paragraphs)


def test_piece_map_maps_characters_to_their_lines():
    pieces = (Piece(10, "甲乙丙。"), Piece(11, "丁戊。"), Piece(30, "己庚辛。"))
    text = join_pieces(pieces)
    assert text == "甲乙丙。丁戊。己庚辛。"
    places = PieceMap(pieces, text)
    assert places.lines(0, 2) == ((10, 10),)
    assert places.lines(2, 6) == ((10, 11),)
    assert places.lines(5, 9) == ((11, 11), (30, 30))
    assert places.lines(0, len(text)) == ((10, 11), (30, 30))


@pytest.mark.parametrize("block_chars", [Config().block_chars, 60])
def test_every_chunk_of_the_article_is_in_its_cited_lines(article, block_chars):
    chunks = chunk_documents([article], block_chars)
    assert len(chunks) > 10
    lines = decode_text(BUILTIN_CORPUS.read_bytes()).split("\n")
    for c in chunks:
        cited = cited_text(BUILTIN_CORPUS, c.lines)
        assert squash(c.text) in cited, (c.lines, c.text)
        # tight: the first and last cited lines each contribute to the passage
        first = squash(lines[c.lines[0][0] - 1])
        last = squash(lines[c.lines[-1][1] - 1])
        assert cited.startswith(first) and cited.endswith(last)
        assert cited.index(squash(c.text)) < len(first)
        assert cited.rindex(squash(c.text)) + len(squash(c.text)) > len(cited) - len(last)


def test_a_repaired_sentence_cites_both_places(article):
    chunks = chunk_documents([article])
    joined = [c for c in chunks if "继而引发了居民对物业" in c.text]
    assert len(joined) == 1
    starts = [a for a, _ in joined[0].lines]
    assert 27 in starts or (25, 27) in joined[0].lines
    assert (53, 53) in joined[0].lines


def test_chunks_stay_within_one_section_and_carry_it(article):
    chunks = chunk_documents([article])
    section_of_line = {piece.line: p.section for p in article.paragraphs for piece in p.pieces}
    for c in chunks:
        assert {section_of_line[a] for a, _ in c.lines} == {c.section}
        assert c.source == article.title


def test_chunk_ids_are_unique_and_stable(article):
    a = chunk_documents([article])
    b = chunk_documents([read_document(BUILTIN_CORPUS)])
    assert [c.id for c in a] == [c.id for c in b]
    assert len({c.id for c in a}) == len(a)
    assert all(0 <= c.id < 2 ** 63 for c in a)


def test_chunk_json_round_trip(article):
    for c in chunk_documents([article], 120):
        back = Chunk.from_dict(json.loads(json.dumps(c.to_dict(), ensure_ascii=False)))
        assert back == c


def test_passages_are_whole_sentences_of_the_synthetic_document():
    text = ("议事规则\n\n议事会每月召开一次。由居委会主任主持。\n业委会和物业公司列席。\n\n"
            "议题须有三分之二代表到场方可表决。过半数同意即通过。\n")
    doc = parse_document(text, "rules.txt", tokenizer=default_tokenizer())
    chunks = chunk_documents([doc], block_chars=20)
    all_sentences = {s for p in doc.paragraphs for s in split_sentences(p.text)}
    for c in chunks:
        assert c.text.strip() in all_sentences
    lines = {c.text.strip(): c.lines for c in chunks}
    assert lines["由居委会主任主持。"] == ((3, 3),) and lines["业委会和物业公司列席。"] == ((4, 4),)
    assert lines["过半数同意即通过。"] == ((6, 6),)


def test_spanning_is_replace_of_text_lines_and_sentences():
    import dataclasses

    from qa.config import BUILTIN_CORPUS
    from qa.ingest import read_document

    chunk = chunk_documents([read_document(BUILTIN_CORPUS)])[5]
    new = chunk.spanning("文本", ((3, 4),), (1, 2))
    assert new == dataclasses.replace(chunk, text="文本", lines=((3, 4),), sentences=(1, 2))
