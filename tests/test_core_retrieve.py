"""Retrieval maths (normalisation, block scores, windows, confidence), FAISS against brute-force numpy,
BM25 and terms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qa.index.faiss_index import build_vector_index, search
from qa.index.sparse import SparseIndex
from qa.rank import (
    CROSS_LINGUAL_ANCHORS,
    SAME_LANGUAGE_ANCHORS,
    best_window,
    block_scores,
    confidence,
    cosine_to_unit,
    max_normalize,
    pad_window,
)
from qa.script import has_cjk
from qa.terms import STOPWORDS, Tokenizer, extract_terms


def test_max_normalize_scales_by_the_best_and_keeps_zeros():
    out = max_normalize(np.array([0.0, 2.0, 8.0, 4.0], dtype=np.float32))
    assert out.tolist() == [0.0, 0.25, 1.0, 0.5]
    zeros = max_normalize(np.zeros(5, dtype=np.float32))
    assert zeros.tolist() == [0.0] * 5 and zeros.shape == (5,)
    assert max_normalize(np.array([], dtype=np.float32)).size == 0
    assert max_normalize(np.array([3.0])).tolist() == [1.0]


def test_cosine_to_unit_clips_to_its_anchors():
    cos = np.array([-1.0, 0.0, 0.1, 0.35, 0.6, 0.9, 1.0])
    assert np.allclose(cosine_to_unit(cos), [0, 0, 0, 0.5, 1, 1, 1])
    assert np.allclose(cosine_to_unit(np.array([0.2, 0.3]), floor=0.2, ceiling=0.4), [0.0, 0.5])
    x = np.linspace(-1, 1, 101)
    assert np.all(np.diff(cosine_to_unit(x)) >= 0)


def test_block_scores_without_coverage_are_the_dense_ranking_alone():
    rng = np.random.default_rng(1)
    dense = rng.uniform(0.0, 0.7, 50).astype(np.float32)
    sparse = rng.uniform(0.0, 12.0, 50).astype(np.float32)
    scores = block_scores(sparse, dense, coverage=0.0, sparse_weight=1.0, dense_weight=0.5)
    assert np.allclose(scores, 0.5 * dense)
    assert np.array_equal(np.argsort(-scores, kind="stable"), np.argsort(-dense, kind="stable"))


def test_block_scores_with_full_coverage_mix_both_signals():
    dense = np.array([0.50, 0.45, 0.20], dtype=np.float32)
    sparse = np.array([0.0, 9.0, 3.0], dtype=np.float32)
    scores = block_scores(sparse, dense, coverage=1.0, sparse_weight=1.0, dense_weight=0.5)
    assert np.allclose(scores, max_normalize(sparse) + 0.5 * dense)
    # the second block wins on words although the first is closer in meaning
    assert np.argmax(scores) == 1 and np.argmax(dense) == 0
    half = block_scores(sparse, dense, coverage=0.5, sparse_weight=1.0, dense_weight=0.5)
    assert np.all(half <= scores + 1e-7) and half[0] == scores[0]


def test_best_window_covers_the_most_question_weight_within_max_chars():
    words = [frozenset({"a"}), frozenset({"x"}), frozenset({"b", "c"}), frozenset({"a"}), frozenset({"d"})]
    weights = {"a": 1.0, "b": 2.0, "c": 0.5, "d": 3.0}
    # everything fits: the run from the first to the last question word
    assert best_window(words, [10] * 5, weights, 100) == (0, 5)
    # two sentences at most: {a} + {d} = 4 beats {b, c} + {a} = 3.5
    assert best_window(words, [10] * 5, weights, 20) == (3, 5)
    # one sentence: d alone
    assert best_window(words, [10] * 5, weights, 10) == (4, 5)
    # a sentence longer than max_chars still stands alone
    assert best_window(words, [50, 50, 500, 50, 50], {"b": 1.0}, 100) == (2, 3)


def test_best_window_without_question_words_takes_the_closest_sentence():
    words = [frozenset({"a"}), frozenset({"b"}), frozenset()]
    assert best_window(words, [10, 10, 10], {"z": 1.0}, 100, np.array([0.1, 0.2, 0.9])) == (2, 3)
    assert best_window(words, [10, 10, 10], {}, 100) == (0, 1)
    # given as a function, the cosines are worked out only when no sentence holds a question word
    calls = []
    cosines = lambda: calls.append(1) or np.array([0.1, 0.8, 0.2])  # noqa: E731
    assert best_window(words, [10, 10, 10], {"z": 1.0}, 100, cosines) == (1, 2) and calls == [1]
    assert best_window([frozenset("z")] + words[1:], [10, 10, 10], {"z": 1.0}, 100, cosines) == (0, 1)
    assert calls == [1]


def test_pad_window_grows_both_ways_following_side_first_within_bounds():
    assert pad_window(2, 3, [10] * 6, 30) == (1, 4)
    assert pad_window(2, 3, [10] * 6, 20) == (2, 4)
    assert pad_window(2, 3, [10] * 6, 60) == (0, 6)
    assert pad_window(2, 3, [10] * 6, 60, lo=1, hi=4) == (1, 4)
    assert pad_window(0, 1, [500, 10], 100) == (0, 1)  # already over: nothing added
    assert pad_window(1, 2, [10, 10, 10], 25) == (1, 3)


def test_confidence_is_monotone_and_bounded():
    cosines = np.linspace(-0.2, 1.0, 25)
    coverages = np.linspace(0.0, 1.0, 11)
    for cross in (False, True):
        grid = np.array([[confidence(float(c), float(v), cross) for v in coverages] for c in cosines])
        assert np.all((grid >= 0) & (grid <= 1))
        assert np.all(np.diff(grid, axis=0) >= -1e-12)  # rises with the cosine
        assert np.all(np.diff(grid, axis=1) >= -1e-12)  # rises with the coverage
        assert grid[-1, -1] == 1.0 and grid[0, 0] == 0.0
    assert confidence(0.0, 1.0) == 1.0  # full coverage alone is enough
    assert confidence(1.0, 0.0) == 1.0  # a near-identical passage alone is enough


def test_cross_lingual_anchors_are_lower_than_same_language():
    assert CROSS_LINGUAL_ANCHORS[0] < SAME_LANGUAGE_ANCHORS[0]
    assert CROSS_LINGUAL_ANCHORS[1] < SAME_LANGUAGE_ANCHORS[1]
    for cos in (0.15, 0.25, 0.35, 0.5):
        assert confidence(cos, 0.0, cross_lingual=True) >= confidence(cos, 0.0, cross_lingual=False)
    assert confidence(0.3, 0.0, cross_lingual=True) > confidence(0.3, 0.0, cross_lingual=False)


@pytest.mark.parametrize("text, expected", [
    ("雍景苑的停车难题", True), ("How was parking solved?", False), ("Parking 停车", True),
    ("", False), ("１２３ＡＢＣ", False), ("㐀", True),
])
def test_has_cjk(text, expected):
    assert has_cjk(text) is expected


@pytest.mark.parametrize("n, dim, k", [(300, 32, 10), (1000, 64, 25), (7, 16, 20)])
def test_faiss_search_equals_brute_force_numpy(n, dim, k):
    rng = np.random.default_rng(n)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(2 ** 62, size=n, replace=False).astype(np.int64)
    index = build_vector_index(vectors, ids)
    for _ in range(5):
        q = rng.normal(size=dim).astype(np.float32)
        q /= np.linalg.norm(q)
        scores, found = search(index, q, k)
        dots = vectors @ q
        top = np.argsort(-dots)[: min(k, n)]
        assert len(found) == min(k, n)
        assert found.tolist() == ids[top].tolist()
        assert np.allclose(scores, dots[top], atol=1e-5)
        assert np.all(np.diff(scores) <= 1e-7)


def test_faiss_search_finds_a_stored_vector_itself():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_vector_index(vectors, np.arange(100, 150, dtype=np.int64))
    scores, found = search(index, vectors[17], 1)
    assert found.tolist() == [117] and abs(scores[0] - 1.0) < 1e-5


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer({"三驾马车", "雍景苑"})


def test_bm25_ranks_the_passage_with_the_words_first(tokenizer):
    texts = ["雍景苑小区出现过停车管理难题。", "江湾国际公寓的绿化带焕然一新。", "业委会和物业公司群策群力。",
             "居民区“三驾马车”协同前进。"]
    index = SparseIndex([tokenizer.tokens(t) for t in texts], tokenizer)
    scores = index.scores(tokenizer.query_tokens("雍景苑的停车难题"))
    assert scores.shape == (4,) and int(np.argmax(scores)) == 0 and scores[1] == 0
    assert int(np.argmax(index.scores(tokenizer.query_tokens("三驾马车是什么？")))) == 3
    assert not index.scores(tokenizer.query_tokens("红烧肉")).any()
    assert not index.scores([]).any()


def test_coverage_is_the_share_of_specific_words_found(tokenizer):
    texts = ["雍景苑小区出现过停车管理难题。", "居民区“三驾马车”协同前进。"]
    index = SparseIndex([tokenizer.tokens(t) for t in texts], tokenizer)
    inside = index.coverage(tokenizer.query_tokens("雍景苑停车管理"))
    outside = index.coverage(tokenizer.query_tokens("红烧肉菜谱"))
    mixed = index.coverage(tokenizer.query_tokens("雍景苑红烧肉"))
    assert inside == pytest.approx(1.0)
    assert outside == 0.0
    assert 0.0 < mixed < 1.0
    assert index.coverage([]) == 0.0


def test_a_name_cut_into_characters_counts_when_the_corpus_has_its_pairs(tokenizer):
    from qa.terms import RUN_MARK, single_runs

    assert single_runs(["林", "路", "身兼", "职", "务"]) == [RUN_MARK + "林路", RUN_MARK + "职务"]
    assert single_runs(["#林路", "林", "身兼", "路"]) == []
    index = SparseIndex([tokenizer.tokens("业主林路是上海第一个交叉任职的主任。")], tokenizer)
    with_name = index.coverage(["交叉", RUN_MARK + "林路"])
    assert with_name == pytest.approx(1.0)
    # a run the corpus does not have is no evidence either way
    assert index.coverage(["交叉", RUN_MARK + "咋样"]) == index.coverage(["交叉"])
    assert RUN_MARK + "林路" not in index.vocab


def test_traditional_and_simplified_text_meet_in_one_form(tokenizer):
    texts = ["新江灣城街道黨工委副書記介紹了「三駕馬車」。", "雍景苑小区出现过停车管理难题。"]
    index = SparseIndex([tokenizer.tokens(t) for t in texts], tokenizer)
    simplified = index.scores(tokenizer.query_tokens("新江湾城街道党工委副书记是谁"))
    traditional = index.scores(tokenizer.query_tokens("停車管理難題"))
    assert np.argmax(simplified) == 0 and simplified[1] == 0
    assert np.argmax(traditional) == 1 and traditional[0] == 0


def test_empty_sparse_index_scores_nothing(tokenizer):
    index = SparseIndex([], tokenizer)
    assert index.scores(tokenizer.query_tokens("停车")).shape == (0,)


def test_terms_keep_quoted_expressions_and_their_items():
    terms = extract_terms(["居民区“三驾马车”协同前进", "围绕“一点、一线、一圆”的框架", "《人才库实施方案》"])
    assert {"三驾马车", "一点", "一线", "一圆", "人才库实施方案"} <= terms
    assert all(2 <= len(t) <= 12 for t in terms)
    assert extract_terms(["没有引号的句子。"]) == set()


def test_question_frame_words_are_not_search_tokens(tokenizer):
    for word in ("什么", "怎么", "哪些", "是否", "the", "what"):
        assert word in STOPWORDS
    tokens = tokenizer.query_tokens("雍景苑是什么？")
    assert "雍景苑" in tokens
    assert not set(tokens) & STOPWORDS
    # nor are the character pairs that straddle the question's frame (怎么|解, 解决|的)
    tokens = tokenizer.query_tokens("门禁矛盾最后怎么解决的？")
    assert {"#门禁", "#矛盾", "#解决"} <= set(tokens)
    assert not {"#怎么", "#么解", "#决的", "#后怎"} & set(tokens)
    # passages keep every pair: the filter is for questions only
    assert "#决的" in tokenizer.tokens("问题是这样解决的。")


def test_tokenizer_keeps_its_terms_whole_and_leaves_others_alone():
    plain = Tokenizer()
    with_terms = Tokenizer({"江湾国际"})
    assert "江湾国际" in with_terms.cut_plain("江湾国际公寓")
    assert "江湾国际" not in plain.cut_plain("江湾国际公寓")
    # duplicated to catch a shared (global) jieba dictionary
    assert "江湾国际" not in Tokenizer().cut_plain("江湾国际公寓")


def test_pairs_of_confidence_inputs_are_commutative_in_effect():
    # the soft OR: swapping which signal carries the evidence gives the same confidence
    lo, hi = SAME_LANGUAGE_ANCHORS
    for a, b in itertools.product([0.0, 0.3, 0.7, 1.0], repeat=2):
        cos = lo + a * (hi - lo)
        other = lo + b * (hi - lo)
        assert confidence(cos, b) == pytest.approx(confidence(other, a))


@pytest.mark.parametrize("gather_max", [0, 10**9])  # per-term sums, one gathered bincount
def test_bm25_equals_the_bm25s_lucene_reference(gather_max, monkeypatch):
    import qa.index.sparse

    bm25s = pytest.importorskip("bm25s")
    monkeypatch.setattr(qa.index.sparse, "_GATHER_MAX", gather_max)
    rng = np.random.default_rng(3)
    vocab = [f"t{i}" for i in range(200)]
    # Zipf-like term draws and varied lengths, so that idf and length normalisation both matter
    docs = [[vocab[min(int(rng.zipf(1.3)) - 1, 199)] for _ in range(int(rng.integers(1, 80)))]
            for _ in range(700)]
    ours = SparseIndex(docs, Tokenizer())
    reference = bm25s.BM25(k1=1.2, b=0.75)
    reference.index(docs, show_progress=False)
    for query in (["t0"], ["t1", "t5", "t150"], ["t3", "t3"], ["t199", "nope"]):
        ids = [reference.vocab_dict[t] for t in query if t in reference.vocab_dict]
        expected = np.asarray(reference.get_scores_from_ids(ids), dtype=np.float32)
        np.testing.assert_allclose(ours.scores(query), expected, rtol=1e-5, atol=1e-6)
    assert ours.df("t0") == sum("t0" in d for d in docs) and ours.df("nope") == 0


@pytest.mark.parametrize("gather_max", [0, 10**9])
def test_bm25_of_some_blocks_is_bit_for_bit_their_share_of_every_block(gather_max, monkeypatch):
    # the retrieval takes the BM25 top and the dense side's blocks from one summation
    # (sparse_candidates) and Milvus rescores rows one by one: all must give the same float32
    import qa.index.sparse
    from qa.index.faiss_index import FaissIndex, build_vector_index

    monkeypatch.setattr(qa.index.sparse, "_GATHER_MAX", gather_max)
    rng = np.random.default_rng(5)
    docs = [[f"t{min(int(rng.zipf(1.4)), 60)}" for _ in range(int(rng.integers(1, 50)))] for _ in range(300)]
    bm25 = SparseIndex(docs, Tokenizer())
    index = FaissIndex(build_vector_index(np.eye(4, dtype=np.float32), np.arange(4)), bm25)
    rows = np.array([0, 299, 17, 17, 150], dtype=np.int64)
    for tokens in (["t1"], ["t2", "t2", "t9", "t1"], ["t3", "t60", "t3", "t3", "t7"], ["nope"]):
        query = bm25.query_vector(tokens)
        every = bm25.query_scores(query)
        np.testing.assert_array_equal(bm25.row_scores(query, np.arange(300)), every)
        scores, top = index.search_sparse(query, 10)
        np.testing.assert_array_equal(scores, every[top])
        assert (np.diff(scores) <= 0).all() and (scores > 0).all()
        top_scores, top_rows, row_scores = index.sparse_candidates(query, 10, rows)
        np.testing.assert_array_equal(top_rows, top)
        np.testing.assert_array_equal(top_scores, scores)
        np.testing.assert_array_equal(row_scores, index.sparse_scores(query, rows))


def test_bm25_builds_in_batches_like_in_one(monkeypatch):
    import qa.index.sparse

    docs = [[f"w{(i * j) % 37}" for j in range(i % 9 + 1)] for i in range(100)]
    whole = SparseIndex(docs, Tokenizer())
    monkeypatch.setattr(qa.index.sparse, "_BATCH", 7)
    batched = SparseIndex(docs, Tokenizer())
    for query in (["w0"], ["w1", "w36"], ["w5", "w6", "w7"]):
        np.testing.assert_array_equal(whole.scores(query), batched.scores(query))


@pytest.mark.parametrize("question", ["停车难题怎么解决", "三驾马车指什么", "红烧肉怎么做",
                                      "How are disputes over access control settled?"])
def test_scoring_only_candidate_blocks_ranks_like_scoring_every_block(qa_builtin, question, monkeypatch):
    import qa.retrieve

    # few candidates of the article's blocks: a real cut
    monkeypatch.setattr(qa.retrieve, "DENSE_CANDIDATES", 5)
    monkeypatch.setattr(qa.retrieve, "SPARSE_CANDIDATES", 5)
    tokenizer, retriever = qa_builtin.tokenizer, qa_builtin.retriever
    vector, tokens = qa_builtin.encode_query(question), tokenizer.query_tokens(question)
    every = np.arange(len(retriever.members))
    # brute force: every block scored, its best sentence's cosine computed from the stored vectors
    best = np.array([max(float(qa_builtin.vector_index.vectors([retriever.chunks[at].id])[0] @ vector)
                         for at in m) for m in retriever.members], dtype=np.float32)
    np.testing.assert_allclose(retriever.best_cosines(every, vector), best, rtol=1e-5)
    scores = block_scores(retriever.sparse.scores(tokens), best, retriever.sparse.coverage(tokens),
                          retriever.sparse_weight, retriever.dense_weight)
    expected = np.lexsort((every, -scores))[:3]
    blocks, fused, *_ = retriever.ranked_blocks(vector, tokens, 3)
    assert blocks.tolist() == expected.tolist()
    np.testing.assert_allclose(fused, scores[expected], rtol=1e-5)


def test_a_cross_lingual_question_weighs_the_cosine_by_its_own_weight(qa_builtin):
    from qa.translate import english_terms

    retriever, tokenizer = qa_builtin.retriever, qa_builtin.tokenizer
    question = "How did Yongjingyuan solve the parking problem?"
    assert retriever.is_cross_lingual(question) and not retriever.is_cross_lingual("停车难题怎么解决")
    assert retriever.cross_lingual_dense_weight > retriever.dense_weight
    vector, tokens, english = qa_builtin.encode_query(question), tokenizer.query_tokens(question), \
        english_terms(question)
    plain = retriever.ranked_blocks(vector, tokens, 8, english)
    cross = retriever.ranked_blocks(vector, tokens, 8, english, cross_lingual=True)
    # the lexical part of a block's score is the same; only the cosine's weight differs
    lexical = [{int(b): f - w * c for b, f, c in zip(blocks, fused, cos, strict=True)}
               for (blocks, fused, cos, *_), w in ((plain, retriever.dense_weight),
                                                   (cross, retriever.cross_lingual_dense_weight))]
    common = lexical[0].keys() & lexical[1].keys()
    assert common
    for block in common:
        assert lexical[0][block] == pytest.approx(lexical[1][block], abs=1e-5)
    # a Chinese question about the Chinese text is ranked as before, whatever the cross weight
    before = qa_builtin.ask("雍景苑的停车难题是怎么解决的？", k=3)
    saved = retriever.cross_lingual_dense_weight
    retriever.cross_lingual_dense_weight = 100.0
    try:
        assert qa_builtin.ask("雍景苑的停车难题是怎么解决的？", k=3) == before
    finally:
        retriever.cross_lingual_dense_weight = saved


def test_blocks_near_the_top_without_the_kind_asked_lose_the_margin(qa_builtin):
    import qa.retrieve
    from qa.answerable import cues

    retriever, tokenizer = qa_builtin.retriever, qa_builtin.tokenizer
    question = "新江湾城在上海的街道里排第几？"
    hints = cues(question)
    answers = hints.holds_kind
    assert hints.kind is not None and cues("三驾马车指什么").kind is None
    vector, tokens = qa_builtin.encode_query(question), tokenizer.query_tokens(question)
    plain = dict(zip(*(x.tolist() for x in retriever.ranked_blocks(vector, tokens, 30)[:2]), strict=True))
    ranked = dict(zip(*(x.tolist() for x in retriever.ranked_blocks(vector, tokens, 30, cues=hints)[:2]),
                      strict=True))
    assert plain.keys() == ranked.keys()
    best, margin, lowered = max(plain.values()), qa.retrieve.KIND_MARGIN, 0
    for block, score in plain.items():
        near, holds = score >= best - margin, answers(retriever.block_text(block))
        expected = score - margin if near and not holds else score
        assert ranked[block] == pytest.approx(expected, abs=1e-6)
        lowered += near and not holds
    assert lowered  # the test saw a block lose the margin


def test_a_near_tie_goes_to_the_block_that_holds_the_kind_asked(qa_builtin, monkeypatch):
    import qa.retrieve

    question = "新江湾城街道在上海众多街道里是第几个成立的？"  # the opening says 上海的第100个街道
    assert "第100个" in qa_builtin.ask(question).hits[0].text
    monkeypatch.setattr(qa.retrieve, "KIND_MARGIN", 0.0)
    assert "第100个" not in qa_builtin.ask(question).hits[0].text


def test_a_block_that_defines_the_quoted_term_asked_about_gains_the_bonus(qa_builtin, monkeypatch):
    import qa.retrieve
    from qa.answerable import cues

    retriever, tokenizer = qa_builtin.retriever, qa_builtin.tokenizer
    question = "“一点”说的到底是什么？"
    hints = cues(question)
    assert hints.definition is not None and hints.kind is None
    vector, tokens = qa_builtin.encode_query(question), tokenizer.query_tokens(question)
    plain = dict(zip(*(x.tolist() for x in retriever.ranked_blocks(vector, tokens, 30)[:2]), strict=True))
    ranked = dict(zip(*(x.tolist() for x in retriever.ranked_blocks(vector, tokens, 30, cues=hints)[:2]),
                      strict=True))
    defining = [b for b in plain if hints.defines(retriever.block_text(b))]
    assert len(defining) == 1 and "“一点”即" in retriever.block_text(defining[0])
    for block, score in plain.items():
        bonus = qa.retrieve.DEFINITION_BONUS if block in defining else 0.0
        assert ranked[block] == pytest.approx(score + bonus, abs=1e-6)
    assert "“一点”即" in qa_builtin.ask(question).hits[0].text


def test_only_a_quoted_term_asked_about_is_looked_for_as_defined():
    from qa.answerable import cues

    for question in ("「一點」指的是什麼？", "“一点”的含义", "所谓‘一点’是啥意思"):
        assert cues(question).defines("“一点”即诠释了核心要义"), question
        assert cues(question).defines("所谓“一点”，就是核心") and not cues(question).defines("抓住一点不放")
    for question in ("一点是什么？", "林路怎么看“一点”？", "“一点”由谁负责？", "“一点”由谁指导？",
                     "“一点”提出后取得了什么成效？", "“一点”工作人员有哪些？"):  # not what it is
        assert cues(question).definition is None, question
    both = cues("“一点”和“两翼”分别是什么？")  # every quoted term of the clause
    assert both.defines("“一点”即核心") and both.defines("“两翼”即两个方面")
