"""Reading-order repair: paragraphs broken mid-sentence are joined with their continuation elsewhere."""

from __future__ import annotations

import time

import pytest

from qa.config import BUILTIN_CORPUS
from qa.ingest import parse_document, read_document
from qa.ingest.repair import follow, spanning_word, word_ends
from qa.terms import default_tokenizer

#: Breaks in the built-in article: (line that stops mid-sentence, line it continues on).
BUILTIN_JOINS = {(25, 27), (27, 53), (67, 29), (31, 69), (87, 33), (43, 45)}

HEADING_59 = "明确“四个‘一’,一个‘四’”框架结构和工作体系"
HEADING_83 = "明责,增能,赋权,落实党建引领功能实体化建设"

#: Two paragraphs broken mid-word ("赞|成", "休|息"), their continuations placed further down.
SYNTHETIC = """社区议事会简介

社区议事会成立于二〇一九年，由居民代表组成。议事会每月召开一次会议，讨论小区公共事务。上次会议讨论了加装电梯的方案，多数代表表示赞

小区绿化改造工程已于去年完工。新种植的桂花树长势良好，居民普遍感到满意。改造期间，施工单位注意控制噪音，没有影响居民休

垃圾分类工作也在稳步推进，志愿者每天在投放点值守。

成，方案将提交业主大会表决。

息，工程按期完成。
"""


@pytest.fixture(scope="module")
def article():
    return read_document(BUILTIN_CORPUS, tokenizer=default_tokenizer())


def joins(doc) -> set[tuple[int, int]]:
    return {(a.line, b.line) for p in doc.paragraphs for a, b in zip(p.pieces, p.pieces[1:], strict=False)}


def test_builtin_article_joins_exactly_the_broken_pairs(article):
    assert joins(article) == BUILTIN_JOINS


def test_every_content_line_is_read_exactly_once(article):
    lines = [piece.line for p in article.paragraphs for piece in p.pieces]
    assert len(lines) == len(set(lines))
    text = BUILTIN_CORPUS.read_text(encoding="utf-8").split("\n")
    headings = {1 + i for i, t in enumerate(text) if t.strip() in set(article.sections) | {article.title}}
    non_empty = {1 + i for i, t in enumerate(text) if t.strip()}
    assert set(lines) == non_empty - headings


@pytest.mark.parametrize("continuous", [
    "继而引发了居民对物业",
    "确立居民区党组织在小区治理",
    "全面统领居委会、业委会",
    "发挥得淋漓尽致",
    "仍有个别居民随意停车",
    "本届业委会一成立",
])
def test_joined_paragraphs_read_continuously(article, continuous):
    assert any(continuous in p.text for p in article.paragraphs)


def test_joined_fragments_are_one_paragraph_in_reading_order(article):
    para = next(p for p in article.paragraphs if "继而引发了居民对物业" in p.text)
    assert [piece.line for piece in para.pieces] == [25, 27, 53]
    assert para.text.endswith("民对物业和业委会的大量投诉。")
    # the continuation is no longer a paragraph of its own
    assert not any(p.text.startswith("民对物业") for p in article.paragraphs)


def test_sections_follow_the_repaired_reading_order(article):
    section_of = {piece.line: p.section for p in article.paragraphs for piece in p.pieces}
    # lines 43/45 stand before the heading at line 83 in the file, yet belong to it
    assert section_of[43] == section_of[45] == HEADING_83
    assert section_of[33] == HEADING_83  # continues line 87
    assert section_of[29] == HEADING_59  # continues line 67
    assert section_of[53] == section_of[25] == "新江湾城街道率先探索党建引领功能实体化建设"
    # in reading order, every section's paragraphs form one run
    order = [p.section for p in article.paragraphs if p.kind == "body" and p.section]
    runs = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
    assert runs == list(article.sections)


def test_synthetic_document_is_repaired():
    doc = parse_document(SYNTHETIC, "synthetic.txt", tokenizer=default_tokenizer())
    assert joins(doc) == {(3, 9), (5, 11)}
    texts = [p.text for p in doc.paragraphs]
    assert any("多数代表表示赞成，方案将提交业主大会表决。" in t for t in texts)
    assert any("没有影响居民休息，工程按期完成。" in t for t in texts)
    assert texts[-1] == "垃圾分类工作也在稳步推进，志愿者每天在投放点值守。"


def test_document_without_breaks_keeps_file_order():
    sentences = ["小区共有地下车位三百个。", "访客车辆须登记后进入！", "夜间十点后停车免费；",
                 "充电桩设在负二层。", "消防通道严禁停车？", "违规停车将被锁车。"]
    text = "停车须知\n\n" + "\n\n".join(sentences) + "\n"
    doc = parse_document(text, "plain.txt", tokenizer=default_tokenizer())
    assert [p.text for p in doc.paragraphs] == sentences
    assert [p.pieces[0].line for p in doc.paragraphs] == [3, 5, 7, 9, 11, 13]
    assert joins(doc) == set()


def test_break_without_continuation_is_kept_as_it_is():
    last = "请各位代表准时参加会议并在签到处领取会议材料和表决票，同时带上"
    text = f"通知\n\n今天下午三点在会议室召开居民代表大会。\n\n{last}\n"
    doc = parse_document(text, "open-end.txt", tokenizer=default_tokenizer())
    assert [p.text for p in doc.paragraphs] == ["今天下午三点在会议室召开居民代表大会。", last]


@pytest.mark.parametrize("links", [{0: 1, 1: 2, 2: 0}, {0: 1, 1: 0}, {2: 2}, {1: 3, 3: 1}])
def test_follow_returns_nothing_for_a_loop(links):
    assert follow(4, links) == []


def test_follow_orders_blocks_along_the_links():
    assert follow(5, {}) == [0, 1, 2, 3, 4]
    # block 1 continues at block 3: the run 0,1,3,4 then block 2 (no longer followed by 3)
    assert follow(5, {1: 3}) == [0, 1, 3, 4, 2]
    assert sorted(follow(6, {0: 4, 4: 2})) == list(range(6))


def test_spanning_word_finds_the_word_across_the_break():
    tok = default_tokenizer()
    assert spanning_word("继而引发了居", "民对物业和业", tok) == "居民"
    assert spanning_word("党员的带头作用发挥得淋", "漓尽致,成立", tok) == "淋漓尽致"
    assert spanning_word("表决结果在楼道公告栏张贴七天。", "议题须有三分之二", tok) is None


def test_word_ends_keep_only_ends_that_begin_a_word_and_change_no_join():
    tok = default_tokenizer()
    tail = "继而引发了居"
    ends = word_ends(tail, tok)
    assert "居" in ends and "了居" not in ends  # 居民 begins with 居; no word begins with 了居
    assert "淋漓" in word_ends("发挥得淋漓", tok)  # 淋漓尽致 begins with it
    assert spanning_word("发挥得淋漓", "尽致,成立", tok, word_ends("发挥得淋漓", tok)) == "淋漓尽致"
    assert all(tail.endswith(e) for e in ends) and ends == sorted(ends, key=len)
    assert "一丝不" in word_ends("的人们一丝不", tok)  # begins 一丝不挂, and is no word itself

    class EveryEnd:  # no starts_word: every end of the tail is tried, as before word_ends
        known, cut_plain = tok.known, tok.cut_plain

    assert word_ends(tail, EveryEnd()) == [tail[-a:] for a in range(1, len(tail) + 1)]
    heads = ["民对物业和业", "漓尽致,成立", "议题须有三分", "了之后大家", "住在这里", "挂的事", "得的好事"]
    tails = (tail, "党员的带头作用发挥得淋", "表决结果在楼道公告", "问题得到", "的人们一丝不", "这样做一举两")
    for t in tails:
        for head in heads:
            expected = spanning_word(t, head, EveryEnd())
            assert spanning_word(t, head, tok, word_ends(t, tok)) == expected, (t, head)
    assert spanning_word("的人们一丝不", "挂的事", tok, word_ends("的人们一丝不", tok)) == "一丝不挂"


def test_many_breaks_terminate_quickly_and_lose_nothing():
    # 40 paragraphs that all stop mid-sentence: the search is bounded and every line survives
    stop = "段在这里说到居民区的公共事务和小区治理的种种做法时没有说完就停在了半句话的中间居"
    go = "民代表们在这新的一段文字里继续讲述小区治理的经验和做法但是同样没有说完就停在了半"
    paras = [f"第{i}{stop if i % 2 else go}" for i in range(40)]
    text = "标题\n\n" + "\n\n".join(paras) + "\n"
    start = time.perf_counter()
    doc = parse_document(text, "many.txt", tokenizer=default_tokenizer())
    assert time.perf_counter() - start < 20
    assert all(p.kind == "body" for p in doc.paragraphs) and len(joins(doc)) >= 20
    lines = sorted(piece.line for p in doc.paragraphs for piece in p.pieces)
    assert lines == list(range(3, 3 + 2 * 40, 2))


def test_break_whose_words_occur_once_prefers_a_word_over_bare_adjacency():
    text = ("社区议事会简介\n\n"
            "上次会议讨论了加装电梯的方案，多数代表表示支\n\n"
            "改造期间，施工单位注意控制噪音，没有影响居民休\n\n"
            "垃圾分类工作也在稳步推进，志愿者每天在投放点值守。\n\n"
            "持，方案将提交业主大会表决。\n\n"
            "息，工程按期完成。\n")
    doc = parse_document(text, "tie.txt", tokenizer=default_tokenizer())
    assert joins(doc) == {(3, 9), (5, 11)}
