"""Tokens and the corpus term dictionary: recurring names, bigrams, pinyin, question tokens."""

from __future__ import annotations

import pytest

from qa.terms import (
    PINYIN_MARK,
    Tokenizer,
    char_bigrams,
    corpus_terms,
    default_tokenizer,
    extract_terms,
    pinyin_tokens,
    recurring_terms,
    romanized_runs,
)

# Small corpus of our own: a made-up place name (青枫里) recurs with different neighbours,
# a made-up phrase (梧桐巷口) always comes with the same following character.
TEXTS = [
    "青枫里社区今年新建了一座“邻里食堂”。",
    "在青枫里,居民议事会每月召开一次。",
    "青枫里的停车位由物业统一管理,梧桐巷口东侧设有充电桩。",
    "梧桐巷口东侧的老年活动室由居委会负责。",
    "去年,梧桐巷口东侧进行了绿化改造,青枫里居民普遍满意。",
]


def test_recurring_terms_finds_repeated_names_free_on_both_sides():
    terms = recurring_terms(TEXTS, default_tokenizer())
    assert "青枫里" in terms
    # always followed by 东 -> part of a longer expression, not a term of its own
    assert "梧桐巷" not in terms


def _recurring_by_definition(texts, tokenizer, min_count=3, lengths=(3, 4, 5, 6)):
    """New-word discovery spelled out: every string counted everywhere, its neighbours collected."""
    import re
    from collections import Counter, defaultdict

    from qa.script import CJK
    from qa.terms import _FUNCTION_CHARS, normalize
    runs = [r for t in texts for r in re.findall(f"[{CJK}]{{3,}}", normalize(t))]
    counts, left, right, aligned = Counter(), defaultdict(set), defaultdict(set), Counter()
    for run in runs:
        bounds = {0}
        for word in tokenizer.cut_plain(run):
            bounds.add(max(bounds) + len(word))
        for n in lengths:
            for i in range(len(run) - n + 1):
                gram = run[i:i + n]
                counts[gram] += 1
                left[gram].add(run[i - 1] if i else "^")
                right[gram].add(run[i + n] if i + n < len(run) else "$")
                aligned[gram] += i in bounds and i + n in bounds
    return {g for g, c in counts.items() if c >= min_count and len(left[g]) > 1 and len(right[g]) > 1
            and g[0] not in _FUNCTION_CHARS and g[-1] not in _FUNCTION_CHARS and not tokenizer.known(g)
            and 2 * aligned[g] >= c and len(tokenizer.cut_plain(g)) > 1}


def test_recurring_terms_follow_their_definition_on_real_text():
    from qa.config import BUILTIN_CORPUS
    paragraphs = [p for p in BUILTIN_CORPUS.read_text(encoding="utf-8").split("\n") if p.strip()]
    tokenizer = default_tokenizer()
    for texts in (paragraphs, paragraphs * 2 + paragraphs[:5], TEXTS):
        for min_count in (2, 3):
            expected = _recurring_by_definition(texts, tokenizer, min_count)
            assert recurring_terms(texts, tokenizer, min_count) == expected
    assert _recurring_by_definition(paragraphs, tokenizer)  # the article has some


def test_recurring_terms_skips_strings_with_function_characters_at_the_edges():
    terms = recurring_terms(["的居民很多。", "小区的居民说。", "我们的居民。"], default_tokenizer())
    assert not any(t.startswith("的") or t.endswith("的") for t in terms)


def test_extract_terms_takes_quoted_expressions_and_their_items():
    terms = extract_terms(["围绕“一点、一线、一圆”的框架,建设‘红色物业’。"])
    assert {"一点", "一线", "一圆", "红色物业"} <= terms


def test_corpus_terms_keep_names_whole_in_the_tokenizer(qa_builtin):
    terms = qa_builtin.manifest["terms"]
    assert "新江湾城" in terms and "雍景苑" in terms
    tokenizer = Tokenizer(terms)
    assert "新江湾城" in tokenizer.cut_plain("他们在新江湾城开展调查")
    assert "新江湾城" not in default_tokenizer().cut_plain("他们在新江湾城开展调查")


def test_corpus_terms_is_sorted_and_deterministic(qa_builtin):
    from qa.config import BUILTIN_CORPUS
    from qa.ingest import load_documents

    docs = load_documents([BUILTIN_CORPUS])
    assert corpus_terms(docs) == corpus_terms(docs) == sorted(corpus_terms(docs))


def test_char_bigrams_are_marked_and_cover_each_chinese_run():
    grams = char_bigrams("业委会 abc 物业")
    assert grams == ["#业委", "#委会", "#物业"]


def test_pinyin_tokens_spell_words_without_tones():
    assert pinyin_tokens(["林路", "雍景苑"]) == [PINYIN_MARK + "linlu", PINYIN_MARK + "yongjingyuan"]


def test_table_pinyin_spells_words_as_lazy_pinyin_does():
    from pypinyin import lazy_pinyin

    from qa.pinyin import toneless_pinyin

    tokenizer = Tokenizer()
    words = {w for text in TEXTS for w in tokenizer.words(text) if len(w) > 1 and w[0] != "#"}
    # ü (绿, 略), a heteronym read by its phrase (重庆, 银行), a string that only begins a longer
    # phrase (下不了: pypinyin reads it character by character, not as the phrase 不了),
    # Extension A (㐀), a character without a reading (U+9FFF)
    words |= {"绿", "略", "绿化", "重庆", "银行", "下不了", "跑了和尚跑不了", "㐀", "\u9fff", "青\u9fff里"}
    assert len(words) > 20
    for word in sorted(words):
        assert toneless_pinyin(word) == "".join(lazy_pinyin(word)), word
    assert toneless_pinyin("绿") == "lv" and toneless_pinyin("下不了") == "xiabule"


def test_tokens_are_the_search_words_then_bigrams_then_the_words_pinyin():
    # spelled out from the segmenter's words: stop words and punctuation out, then the character
    # pairs, then the pinyin of the Chinese words of two or more characters
    import re

    from qa import terms

    text = "“三驾马车”的雍景苑停车条例, 居民 投票 决定; Parking rules 2019年 的了吗。"
    tokenizer = Tokenizer(["雍景苑"])
    norm = terms.normalize(text)
    words = [w.strip() for w in tokenizer._jieba.search_list(norm, HMM=True)]
    words = [w for w in words if w and re.search(r"\w", w) and w not in terms.STOPWORDS]
    chinese = [w for w in words if len(w) > 1 and re.fullmatch(f"[{terms.CJK}]+", w)]
    expected = words + char_bigrams(norm) + pinyin_tokens(chinese)
    assert any(t.startswith(PINYIN_MARK) for t in expected) and "的" not in expected
    assert "雍景苑" in words and "parking" in words
    assert tokenizer.tokens(text) == expected
    assert tokenizer.words(norm) == words + char_bigrams(norm)


def test_romanized_runs_join_consecutive_words_and_drop_stop_words():
    runs = romanized_runs("who is gu jun")
    assert PINYIN_MARK + "gujun" in runs and PINYIN_MARK + "gu" in runs
    assert not any("who" in r for r in runs)


def test_query_tokens_drop_lone_characters_when_words_exist():
    tokenizer = Tokenizer()
    tokens = tokenizer.query_tokens("雍景苑的停车条例")
    assert all(len(t) > 1 for t in tokens)
    assert any("停车" == t for t in tokens)


@pytest.mark.parametrize("question", ["是什么？", "怎么样"])
def test_query_of_only_frame_words_has_no_word_tokens(question):
    tokens = Tokenizer().query_tokens(question)
    assert not [t for t in tokens if not t.startswith(("#", PINYIN_MARK))]


def test_query_drops_words_that_point_at_the_document_itself():
    tokens = Tokenizer().query_tokens("文章开头说这片土地过去经历过什么？")
    assert not {"文章", "开头"} & set(tokens)  # as words (their character pairs stay)
    assert {"土地", "经历", "#土地"} <= set(tokens)


def test_query_drops_words_made_of_frame_words_with_their_sub_words():
    tokenizer = Tokenizer()
    # jieba keeps 具体内容 whole and finds 体内 ("inside the body") in it
    assert {"具体内容", "体内"} <= set(tokenizer.words("规划的具体内容是什么"))
    tokens = tokenizer.query_tokens("规划的具体内容是什么？")
    assert "规划" in tokens and not {"具体内容", "体内"} & set(tokens)
    assert not {"具体情况"} & set(tokenizer.query_tokens("小区的具体情况怎么样？"))
    # a sub-word that also stands on its own elsewhere in the question stays
    assert "体内" in tokenizer.query_tokens("体内的寄生虫具体内容是什么？")
    assert "aaas" in tokenizer.query_tokens("AAAS是什么？")  # Latin letters are no frame words
    assert "有意思" in tokenizer.query_tokens("这本书有意思吗？")  # three characters: it carries meaning


def test_a_frame_compound_no_longer_makes_a_question_look_unanswerable(qa_builtin):
    # before, 具体内容 and 体内 counted as words the article lacks: confidence 0.24, not found
    answer = qa_builtin.ask("“一点”的具体内容是什么？")
    assert answer.found and answer.confidence > 0.9


def test_english_question_gets_pinyin_tokens_chinese_question_does_not():
    tokenizer = Tokenizer()
    assert any(t.startswith(PINYIN_MARK) for t in tokenizer.query_tokens("Who is Lin Lu?"))
    assert not any(t.startswith(PINYIN_MARK) for t in tokenizer.query_tokens("林路是谁？"))


def test_pinyin_lets_an_english_question_find_a_chinese_name(qa_builtin):
    answer = qa_builtin.ask("Who is Lin Lu?", k=3)
    assert any("林路" in h.text for h in answer.hits)


def test_passages_never_repeat_a_sentence(qa_builtin):
    from qa.chunk import split_sentences

    for question in ["雍景苑的停车难题是怎么解决的？", "业委会和物业公司是什么关系？",
                     "四个支撑平台有哪些？"]:
        answer = qa_builtin.ask(question, k=5)
        seen = set()
        for hit in answer.hits:
            for sentence in split_sentences(hit.text):
                key = "".join(sentence.split())
                assert key not in seen, (question, key)
                seen.add(key)


def _segmenter_pairs():
    """(our Segmenter, jieba's Tokenizer) on the same base dictionary: as it is, then with one
    corpus term added to both."""
    import jieba

    from qa.segment import Segmenter
    from qa.terms import with_base_dictionary

    # 研讨会 is in jieba's dictionary already: jieba adds its new count to the total without taking
    # the old one off, which the jieba-rs side must match
    for terms in ((), ("青枫里",), ("青枫里", "研讨会", "研讨会")):
        ours, theirs = with_base_dictionary(Segmenter()), with_base_dictionary(jieba.Tokenizer())
        for t in (ours, theirs):
            for term in terms:
                t.add_word(term, freq=50000)
        ours.rust_after = 0
        assert ours._rust() is not None  # the cuts compared are jieba-rs's where it can
        yield ours, theirs


def test_segmenter_cuts_as_jieba_does():
    texts = TEXTS + ["2019年，iPhone 11 售价5499元；“三驾马车”拉动经济增长。",
                     "㐀㐁 abc_d 上海浦东新区张江高科技园区"]
    for ours, theirs in _segmenter_pairs():
        for text in texts:
            for hmm in (True, False):
                assert list(ours.cut_for_search(text, HMM=hmm)) == list(theirs.cut_for_search(text, HMM=hmm))
                assert ours.lcut(text, HMM=hmm) == theirs.lcut(text, HMM=hmm)
    assert "青枫里" in Tokenizer(["青枫里"]).cut_plain(TEXTS[1])


def _real_paragraphs(per_set: int = 150) -> list[str]:
    """The built-in article's lines, plus the first paragraphs of the public CMRC and DRCD sets
    when they are beside the project (read, not copied), as they come and as the index
    normalises them (DRCD's Traditional folded to Simplified)."""
    import json
    from pathlib import Path

    from qa.config import BUILTIN_CORPUS
    from qa.terms import normalize

    texts = [line for line in BUILTIN_CORPUS.read_text(encoding="utf-8").splitlines() if line]
    ext = Path(__file__).resolve().parents[2] / "shared" / "eval" / "ext"
    for name in ("cmrc2018_trial.json", "drcd_test.json"):
        if (ext / name).exists():
            data = json.loads((ext / name).read_text(encoding="utf-8"))["data"]
            texts += [p["context"] for a in data for p in a["paragraphs"]][:per_set]
    return texts + [normalize(t) for t in texts]


# Runs the HMM gets: Latin letters, digits, decimals and percentages inside Chinese, finalseg's
# other characters (+#&._-), characters outside its tables (Traditional, Extension A, kana).
MIXED = ["iPhone11售价5499元同比增长3.5%的A股", "张三李四王五赵六abc+def#g&h_i-j.k", "臺灣鐵路管理局",
         "㐀㐁㐂龘靐", "ひらがな混じり漢字", "某某某某某某某某", "5G基站C919大飞机", "3.14%x2.5",
         # rare characters: scores tie at MIN_FLOAT sums, and each of finalseg's tie rules
         # (B after S over E, M after M over B, E after M over B, S after S over E) decides one
         "乩醐丟婨", "倷靂丕懨", "彡丈苠", "岊仃嬿",
         # characters jieba-rs reads as Chinese and jieba does not (extensions A and B, U+9FD6 on)
         "㐀㐁㐂 上海", "𠀀𠀁𠀂 上海", "鿖鿗鿘 上海", "豈更車 上海", "a\r\nb\t上海\u3000浦东  新区"]


def test_segmenter_leaves_jieba_rs_where_its_dictionary_could_differ():
    """Force-split words (add_word with count 0) and a dictionary whose total is not jieba's
    default one's plus add_word's counts (another dictionary) send every cut through the loops
    that are jieba's own."""
    import jieba
    from jieba import finalseg

    from qa.segment import Segmenter

    ours, _ = next(_segmenter_pairs())
    forced = Segmenter()
    forced.FREQ, forced.total, forced.initialized = dict(ours.FREQ), ours.total, True
    forced.rust_after = 0
    ours.FREQ["某词"] = 7  # a word counted behind add_word's back
    ours.total += 7
    assert ours._rust() is None
    assert forced._rust() is not None
    theirs = jieba.Tokenizer()
    theirs.FREQ, theirs.total, theirs.initialized = dict(forced.FREQ), forced.total, True
    saved = set(finalseg.Force_Split_Words)
    try:
        for t in (forced, theirs):
            t.add_word("上海", freq=0)
        assert forced._rust() is None
        text = "上海浦东新区的上海中心"
        assert forced.cut_list(text) == theirs.lcut(text)
        assert "上海" not in forced.cut_list(text, HMM=False)
    finally:
        finalseg.Force_Split_Words.clear()
        finalseg.Force_Split_Words.update(saved)


def test_segmenter_loads_jieba_rs_only_after_its_loops_cut_enough_text():
    from qa.segment import Segmenter
    from qa.terms import with_base_dictionary

    seg = with_base_dictionary(Segmenter())
    seg.add_word("青枫里", freq=50000)
    seg.rust_after = 30
    text = "青枫里小区的业委会换届选举顺利完成。"
    first = seg.search_list(text)
    assert seg._rust() is None and seg._looped == len(text)
    seg.search_list(text)
    assert seg._rust() is not None  # past 30 characters
    assert seg.search_list(text) == first and "青枫里" in first
    seg.add_word("业委会换届", freq=50000)  # a new word: a new dictionary, loaded as before
    assert seg._rs is None and seg._rust() is not None


def test_hmm_cut_is_jiebas_finalseg_cut():
    from jieba import finalseg

    from qa.segment import hmm_cut

    texts = _real_paragraphs() + MIXED
    cut = 0
    for text in texts:
        out = []
        hmm_cut(text, out)
        assert out == list(finalseg.cut(text)), text
        cut += len(out)
    assert cut > 1000
    # force-split words (jieba adds one for add_word(word, freq=0)) come out as characters
    guessed = []
    hmm_cut(texts[0], guessed)
    words = sorted({w for w in guessed if len(w) > 1 and "\u4e00" <= w[0] <= "\u9fff"})[:3]
    assert words
    saved = set(finalseg.Force_Split_Words)
    try:
        finalseg.Force_Split_Words.update(words)
        for text in texts[:40] + MIXED:
            out = []
            hmm_cut(text, out)
            assert out == list(finalseg.cut(text)), text
        out = []
        hmm_cut(texts[0], out)
        assert not set(words) & set(out)
    finally:
        finalseg.Force_Split_Words.clear()
        finalseg.Force_Split_Words.update(saved)


def test_segmenter_cuts_real_text_as_jieba_does():
    """Precise mode with HMM sends runs of single characters to the HMM (hmm_cut): the same
    words as jieba's own cut, with and without a corpus term, on real paragraphs."""
    texts = _real_paragraphs(60) + MIXED
    for ours, theirs in _segmenter_pairs():
        for text in texts:
            for a, b in ((ours.search_list(text), list(theirs.cut_for_search(text))),
                         (ours.cut_list(text), theirs.lcut(text))):
                if len(set(text)) == 1:
                    # one character repeated: several cuts score exactly alike (某某某|某某某|某某 and
                    # 某某|某某某|某某某), and jieba-rs's rounding of the logarithms may pick another
                    assert sorted(a) == sorted(b), text
                else:
                    assert a == b, text
