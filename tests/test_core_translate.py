"""English question words to Chinese words (CC-CEDICT), and what they do to BM25 and coverage."""

from __future__ import annotations

import pytest

from qa import translate
from qa.index.sparse import SparseIndex
from qa.terms import Tokenizer


def test_words_phrases_and_inflections_map_to_chinese():
    terms = dict(translate.english_terms("Which residents attended the seminars on property management?"))
    assert "研讨会" in terms["seminars"]  # plural -> seminar
    assert "居民" in terms["residents"]
    assert "物业管理" in terms["property management"]  # a phrase stands as one term
    assert "property" not in terms and "which" not in terms and "the" not in terms  # function words go
    assert translate.english_terms("What is the difference?")[0][0] == "difference"


def test_unknown_words_are_kept_without_translation():
    assert translate.english_terms("Where is Yongjingyuan?") == [("yongjingyuan", ())]
    assert translate.english_terms("") == []
    assert translate.english_terms("的 是 什么") == []


def test_base_forms():
    assert translate.base_forms("parking")[:3] == ["parking", "park", "parke"]
    assert "install" in translate.base_forms("installed") and "policy" in translate.base_forms("policies")
    assert "stop" in translate.base_forms("stopped")
    assert translate.base_forms("held")[:2] == ["held", "hold"]


@pytest.mark.parametrize(("word", "related", "chinese"), [
    ("neighbourhood", "neighborhood", "居民区"),  # British spelling
    ("centres", "center", "中心"),
    ("organised", "organize", "组织"),
    ("residential", "resident", "居民"),  # an adjective in -ial as its noun
    ("fastest", "fast", "快速"),  # a superlative as its adjective
    ("became", "become", "成为"),  # irregular past
])
def test_related_forms_are_tried_only_after_the_word_and_its_inflections(word, related, chinese):
    forms = translate.base_forms(word)
    assert related in forms and forms[0] == word
    assert chinese in translate.lookup(word)
    # a word the dictionary knows keeps its own translations: "best" is not looked up as "be"
    assert translate.lookup("best") == translate.english_index()["best"]


def test_related_forms_are_never_function_words_or_other_words_spelt_alike():
    assert "for" not in translate.base_forms("four") and translate.lookup("four") == ()
    assert "hor" not in translate.base_forms("hour")
    assert "visualize" in translate.base_forms("visualise")  # the suffix's "is", not the first
    assert "forr" in translate.base_forms("forrest") and "for" not in translate.base_forms("forrest")


def test_translations_are_searched_as_chinese_words():
    tokenizer = Tokenizer()
    texts = ["研讨会在4月29日举行。", "小区停车难题。"]
    sparse = SparseIndex([tokenizer.tokens(t) for t in texts], tokenizer)
    assert {"研讨会", "研讨"} & set(sparse.translated(translate.english_terms("the seminar")))
    question = "When was the seminar held?"
    assert not sparse.scores(tokenizer.query_tokens(question)).any()  # no word in common
    with_translations = sparse.scores(tokenizer.query_tokens(question), translate.english_terms(question))
    assert int(with_translations.argmax()) == 0 and with_translations[1] == 0


@pytest.fixture
def index():
    tokenizer = Tokenizer()
    texts = ["4月29日举行了专题研讨会，专家们到会。", "小区停车管理难题得到解决，居民满意。",
             "业委会和物业公司协同前进。"]
    return tokenizer, SparseIndex([tokenizer.tokens(t) for t in texts], tokenizer)


def test_bm25_finds_the_passage_of_an_english_question(index):
    tokenizer, sparse = index
    question = "How was the parking problem solved?"
    scores = sparse.scores(tokenizer.query_tokens(question), translate.english_terms(question))
    assert int(scores.argmax()) == 1 and scores[0] == 0


def test_coverage_of_english_questions_counts_translated_words(index):
    tokenizer, sparse = index
    def coverage(question):
        english = translate.english_terms(question)
        return sparse.coverage(tokenizer.query_tokens(question), english)
    inside = coverage("Who attended the seminar?")
    outside = coverage("How do I renew a passport?")
    assert inside > 0.5 > outside
    assert coverage("the of and") == 0.0
    # a question mixing Chinese and English counts the words of both
    mixed = translate.english_terms("研讨会 renew passport")
    assert 0 < sparse.coverage(tokenizer.query_tokens("研讨会 renew passport"), mixed) < 1


def english_question_still_answered() -> bool:
    tokenizer = Tokenizer()
    sparse = SparseIndex([tokenizer.tokens("研讨会在4月29日举行。")], tokenizer)
    english = translate.english_terms("When was the seminar held?")
    return sparse.scores(tokenizer.query_tokens("When"), english).shape == (1,) and \
        0.0 <= sparse.coverage(tokenizer.query_tokens("When was the seminar held?"), english) <= 1.0


def test_without_the_dictionary_english_questions_still_work(monkeypatch):
    translate.clear_caches()
    import importlib.resources

    def missing(name):
        raise ImportError(f"no {name}")

    monkeypatch.setattr(importlib.resources, "files", missing)
    try:
        assert translate.english_index() == {} and translate.proper_nouns() == frozenset()
        assert translate.english_terms("the seminar") == [("seminar", ())]
        assert "seminar" in Tokenizer().query_tokens("the seminar")
        assert english_question_still_answered()
    finally:
        monkeypatch.undo()
        translate.clear_caches()
    assert translate.english_index() and "深圳" in translate.proper_nouns()  # read again once back


def test_proper_nouns_are_headwords_read_only_as_names():
    proper = translate.proper_nouns()
    assert {"深圳", "北京", "五角场", "清华大学", "浦东新区"} <= proper
    # also, or only, common words: 东西 "thing", 朝阳 "morning sun", 城市 "city"
    assert not {"东西", "朝阳", "城市", "上路", "英雄"} & proper
