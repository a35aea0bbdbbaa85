"""The benchmark code itself (not its timings): corpora, recall maths, scoring, peer, one growth worker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import corpus, quality, report  # noqa: E402


def test_generated_corpus_is_article_sentences(tmp_path):
    files = corpus.write_generated_corpus(tmp_path, n_sentences=120, per_file=50)
    assert len(files) == 3
    sentences = corpus.article_sentences()
    paragraphs = [p for f in files for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    assert len(paragraphs) >= 120 // 6
    assert all(any(p.startswith(s) for s in sentences) for p in paragraphs)


def test_synthetic_vectors_keep_base_rows_and_unit_norm():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((20, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    v = corpus.synthetic_vectors(base, 500, batch=128)
    assert v.shape == (500, 32) and v.dtype == np.float32
    assert np.allclose(v[:20], base) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_exact_top_k_matches_argsort_and_recall():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 16)).astype(np.float32)
    q = rng.standard_normal((7, 16)).astype(np.float32)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    got = corpus.exact_top_k(x, q, 10, block=130)
    assert np.array_equal(got, truth)
    assert corpus.recall_at_k(got, truth) == 1.0
    half = truth.copy()
    half[:, 5:] = -1
    assert corpus.recall_at_k(half, truth) == 0.5


def test_synthetic_token_lists_follow_the_vocabulary():
    real = [["小区", "停车"], ["业委会", "小区", "物业"]]
    lists = corpus.synthetic_token_lists(real, 50)
    assert lists[:2] == real and len(lists) == 50
    assert {t for tl in lists for t in tl} <= {"小区", "停车", "业委会", "物业"}
    assert all(len(t) in (2, 3) for t in lists)
    many = corpus.synthetic_token_lists(real, 25_003, seed=1)  # drawn in several batches
    assert len(many) == 25_003 and all(len(t) in (2, 3) for t in many)
    drawn = [t for tl in many[2:] for t in tl]
    assert abs(drawn.count("小区") / len(drawn) - 2 / 5) < 0.01  # the real unigram frequency


def test_scoring_and_calibration():
    runs = [{"lang": "zh", "expect": "停车", "texts": ["a", "小区 停车 难"], "top_score": 0.9},
            {"lang": "en", "expect": "门禁", "texts": ["门禁系统"], "top_score": 0.5},
            {"lang": "zh", "expect": "物业", "texts": ["x"], "top_score": 0.7},
            {"lang": "ood", "expect": None, "texts": ["y"], "top_score": 0.2}]
    m = quality.score_runs(runs)
    assert m["hit@1"] == pytest.approx(1 / 3, abs=1e-3) and m["hit@3"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["mrr"] == pytest.approx((0.5 + 1) / 3, abs=1e-3)
    assert m["cross_lingual_hit@3"] == 1.0
    assert m["no_answer"] == {"n": 1, "threshold": 0.5, "rejected": 1.0, "answerable_accepted": 1.0}
    assert quality.calibrate([0.9, 0.8], [0.85]) == 0.9  # one of two accepted, the outlier rejected
    assert quality.calibrate([0.9, 0.8], [0.95]) == 0.8  # nothing separates them: lowest threshold


def test_targets_and_report_render():
    result = {"quality": {"n": 2, "questions": "q.jsonl",
                          "ours": {"hit@1": 1.0, "hit@3": 0.9, "mrr": 1.0, "cross_lingual_hit@3": 1.0},
                          "peer": {"hit@1": 0.5, "hit@3": 0.9, "mrr": 0.7, "cross_lingual_hit@3": 1.0}},
              "latency": {k: {"p50_ms": 2.0, "p99_ms": 3.0} for k in ("ask", "encode", "peer")}
              | {"ask_over_encode": 1.3, "ask_over_peer": 0.9},
              "growth": [{"chunks": 1000, "index": "flat", "recall@10": 1.0, "dense_p50_ms": 0.1,
                          "bm25_p50_ms": 0.1, "query_p50_ms": 1.0, "query_p99_ms": 2.0, "rss_mb": 1,
                          "peak_rss_mb": 2},
                         {"chunks": 1_000_000, "index": "ivf", "recall@10": 0.97, "dense_p50_ms": 4.0,
                          "bm25_p50_ms": 9.0, "query_p50_ms": 100.0, "query_p99_ms": 200.0, "rss_mb": 1,
                          "peak_rss_mb": 2}]}
    t = report.targets(result)
    assert t["ask() <= 1.25x bare encode (p50)"]["met"] is False
    assert t["quality hit@3 ahead of peer"]["met"] is False  # a tie below 1.0 is not "ahead"
    assert t["quality hit@1 ahead of peer"]["met"] is True
    assert t["quality cross_lingual_hit@3 ahead of peer"]["met"] is True  # tie at the ceiling
    assert t["sub-linear query latency (log-log slope < 1)"]["value"] == pytest.approx(2 / 3, abs=1e-3)
    assert t["1M: dense+BM25+fusion p50 < 50 ms"]["met"] is False
    text = report.markdown(dict(result, targets=t))
    assert "| this service |" in text and "1,000,000" in text


def test_peer_and_baselines_answer(qa_builtin):
    pytest.importorskip("langchain_community")
    from benchmarks.peer import Peer
    from qa.config import BUILTIN_CORPUS
    peer = Peer(qa_builtin.encoder, [BUILTIN_CORPUS])
    assert all(len(t) <= 250 for t in peer.texts)
    texts, top = peer.search("雍景苑小区停车管理", 3)
    assert len(texts) == 3 and -1 <= top <= 1
    base = quality.Baselines(qa_builtin)
    for fn in (base.bm25, base.dense):
        texts, top = fn("雍景苑小区停车管理")
        assert texts and any("停车" in t for t in texts)


def test_growth_worker_runs_one_small_size(qa_builtin, tmp_path):
    from benchmarks.growth import measure, write_inputs
    vectors = qa_builtin.encoder.encode([c.embed_text for c in qa_builtin.chunks], normalize_embeddings=True)
    questions = ["雍景苑小区停车管理", "门禁"]
    data = write_inputs(tmp_path, qa_builtin, np.asarray(vectors, dtype=np.float32), questions)
    json.loads((data / "inputs.json").read_text(encoding="utf-8"))  # plain JSON, no pickle
    row = measure(data, 3000, rounds=1, exact_max=1000)
    assert row["index"] == "ivf" and row["chunks"] == 3000
    assert row["recall@10"] >= 0.9 and row["peak_rss_mb"] >= row["rss_mb"] > 0


def test_build_benchmark_forgets_word_caches_between_builds():
    from benchmarks.build import forget_word_caches
    from qa import pinyin, terms
    from qa.index.blocks import tokenizer_for

    terms.pinyin_tokens(["青枫里", "梧桐巷"])
    tokenizer = tokenizer_for(frozenset({"青枫里"}))
    assert terms._pinyin.cache_info().currsize >= 2 and pinyin._chars and pinyin._syllables
    forget_word_caches()
    assert terms._pinyin.cache_info().currsize == 0 and not pinyin._chars and not pinyin._syllables
    assert tokenizer_for(frozenset({"青枫里"})) is not tokenizer
    assert terms.pinyin_tokens(["青枫里"]) == [terms.PINYIN_MARK + "qingfengli"]


def test_answerable_benchmark_counts_found_and_not_found(qa_builtin):
    from benchmarks.answerable import judge

    inside = [{"question": "雍景苑的停车难题是怎么解决的？"}, {"question": "新江湾城是上海的第几个街道？"}]
    outside = [{"question": "江湾国际公寓一共有多少户居民？"}, {"question": "今天上海天气怎么样？"}]
    assert judge(qa_builtin, inside, outside) == {"answerable": 2, "accepted": 1.0,
                                                   "unanswerable": 2, "rejected": 1.0}


def test_segment_benchmark_times_three_ways_that_cut_alike():
    from benchmarks.segment import read_texts, run
    from qa.config import BUILTIN_CORPUS

    texts = read_texts([BUILTIN_CORPUS])
    row = run(texts, repeats=1)
    assert row["texts"] == len(texts) > 20
    assert row["differ"] == 0
    assert row["jieba_s"] > 0 and row["loops_s"] > 0 and row["segmenter_s"] > 0
    assert row["chars"] == sum(map(len, texts))
    assert row["segmenter_over_jieba"] > 0 and row["segmenter_over_loops"] > 0


def test_article_baseline_joins_paragraphs_and_scores_bm25():
    from benchmarks.article_baseline import score, units

    paras = ["物业公司负责小区保洁。", "业委会代表业主。", "居委会组织居民活动，也调解邻里纠纷。"]
    assert units(paras, 0) == paras
    joined = units(paras, 15)
    assert joined[0] == paras[0] + paras[1] and len(joined[0]) >= 15
    assert joined[-1] == paras[-1]  # the last paragraph has nothing after it to join
    qs = [{"question": "谁来调解邻里纠纷？", "expect": "调解邻里纠纷"},
          {"question": "谁负责保洁？", "expect": "小区保洁"}]
    row = score(qs, paras)
    assert row == {"n": 2, "hit@1": 1.0, "hit@3": 1.0, "top_chars_mean": (len(paras[2]) + len(paras[0])) / 2}


def test_every_article_question_set_expects_text_the_article_holds():
    """The blind-written sets score a passage by a string it must contain: one the article lacks
    would count as a miss whatever the service did."""
    root = Path(__file__).resolve().parents[1]
    article = (root / "qa" / "data" / "xinjiangwan.txt").read_text(encoding="utf-8")
    sets = sorted((root / "benchmarks" / "questions").glob("article-*.jsonl"))
    assert len(sets) >= 7
    for path in sets:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert {r["lang"] for r in rows} <= {"zh", "zh-hant", "en", "ood-near", "ood"}, path.name
        for r in rows:
            assert (r["expect"] is None) == r["lang"].startswith("ood"), (path.name, r["question"])
            assert r["expect"] is None or r["expect"] in article, (path.name, r["expect"])
