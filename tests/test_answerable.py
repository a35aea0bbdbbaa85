"""benchmarks/train_answerable.py: its weighing of question words, its model's JSON and calibration,
and the local evidence it reads (a decisive word missing from the top block)."""

from __future__ import annotations

import math

import pytest

from benchmarks.train_answerable import Evidence, Model, calibrated, evidence_of, fit, weight_held


def test_weight_held_counts_a_word_spelled_by_its_character_pairs():
    words = [(3.0, [("虹口",), ("#虹口",)], None), (1.0, [("选举",)], None), (2.0, [], True)]
    held, missing = weight_held(words, [{"#虹口", "选举"}, {"选举"}], scale=6.0)
    assert held == [1.0, pytest.approx(0.5)]
    assert missing == [0.0, 0.5]


def _row(label: int, share: float) -> dict:
    return {"label": label, "coverage": min(1.0, share + 0.2), "local_coverage": share,
            "passage_coverage": share}


def test_the_model_round_trips_as_json_grows_with_what_is_found_and_is_calibrated():
    rows = [_row(1, 0.6 + 0.04 * i) for i in range(10)] + [_row(0, 0.1 + 0.05 * i) for i in range(10)]
    model = fit(rows)
    assert all(c > 0 for c in model.coef)
    assert Model.from_dict(model.as_dict()) == model
    base = dict(top_cosine=0.4, block_cosine=0.4, best3_coverage=0.5, bm25_ratio=0.4, missing_corpus=0.5,
                missing_block=0.5, margin=0.1)
    scores = [model.probability(Evidence(coverage=s, local_coverage=s, passage_coverage=s, **base))
              for s in (0.0, 0.3, 0.6, 1.0)]
    assert scores == sorted(scores)
    moved = calibrated(model, cut=1.5)
    at = Evidence(coverage=0.5, local_coverage=0.5, passage_coverage=0.5, **base)
    assert moved.probability(at) == pytest.approx(
        1 / (1 + math.exp(-(model.logit(at) - 1.5 + math.log(0.4 / 0.6)))))
    with pytest.raises(ValueError, match="no_such_field"):
        Model.from_dict(model.as_dict() | {"features": ["coverage", "no_such_field", "margin"]})


def library_and_pool(tmp_path):
    from qa import QA

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "library.txt").write_text(
        "静安区图书馆每周一闭馆。\n\n静安区图书馆周二至周日上午九点开放，晚上八点闭馆，读者凭身份证入馆。\n",
        encoding="utf-8")
    (folder / "pool.txt").write_text(
        "徐汇区游泳馆夏季开放到晚上十点。\n\n徐汇区游泳馆的年卡在前台办理，学生半价。\n", encoding="utf-8")
    return QA(sources=[folder], index_dir=tmp_path / "index")


def test_evidence_is_read_from_the_ranking_ask_answers_with(encoder, tmp_path):
    qa = library_and_pool(tmp_path)
    for question in ("静安区图书馆几点开放？", "When does the Jing'an library open?"):
        ranking = qa.rank(question, 3)
        answer = qa.ask(question)
        assert [h.text for h in answer.hits] == [p.chunk.text for p in ranking.passages]
        assert answer.confidence == round(ranking.confidence, 4)
        evidence = evidence_of(qa, ranking)
        assert (evidence.coverage, evidence.top_cosine) == (ranking.coverage, ranking.top_cosine)
        assert evidence.cross_lingual == ranking.query.cross_lingual
    assert qa.rank("When does the Jing'an library open?", 3).query.cross_lingual
    assert not qa.rank("静安区图书馆几点开放？", 3).query.cross_lingual
    assert qa.rank("静安区图书馆几点开放？", 3).query.cues.kind.name == "time"


def test_a_decisive_word_missing_from_the_top_block_lowers_the_local_evidence(encoder, tmp_path):
    qa = library_and_pool(tmp_path)
    present = evidence_of(qa, qa.rank("静安区图书馆几点开放？", 3))
    # 徐汇区 is in the corpus, not with the library
    absent = evidence_of(qa, qa.rank("徐汇区图书馆几点开放？", 3))
    assert absent.coverage == pytest.approx(present.coverage, abs=0.05)
    assert absent.local_coverage < present.local_coverage - 0.1
    assert absent.passage_coverage < present.passage_coverage - 0.1
    assert absent.missing_block > present.missing_block
