"""Readers' like/dislike on answers: stored in the index folder, listed, exported for `python -m qa eval`."""

from __future__ import annotations

import json

import pytest

from qa.evaluate import evaluate, load_questions
from qa.serve import feedback

gradio_client = pytest.importorskip("gradio_client")


def test_verdicts_are_json_lines_and_the_newest_per_question_counts(tmp_path):
    feedback.record(tmp_path, "雍景苑的停车难题是怎么解决的？", True, found=True, passage="甲。乙。",
                    citation="《文》 · 第1行", highlight="乙。")
    feedback.record(tmp_path, "林路是谁？", True, found=True, passage="林路是书记。",
                    highlight="林路是书记。")
    feedback.record(tmp_path, "林路是谁？", False, found=True, passage="林路是书记。")
    feedback.record(tmp_path, "How?", None)
    (tmp_path / feedback.FEEDBACK_FILE).open("a", encoding="utf-8").write("not json\n")
    lines = (tmp_path / feedback.FEEDBACK_FILE).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["citation"] == "《文》 · 第1行" and len(lines) == 5
    entries = feedback.read(tmp_path)
    assert len(entries) == 4  # the broken line skipped
    newest = [e["question"] for e in feedback.latest(entries)]
    assert newest == ["林路是谁？", "雍景苑的停车难题是怎么解决的？"]
    assert [e["question"] for e in feedback.disputed(entries)] == ["林路是谁？"]
    assert feedback.eval_items(entries) == [
        {"question": "雍景苑的停车难题是怎么解决的？", "expect": "乙。", "lang": "zh"}]


def test_the_exported_file_is_read_by_the_evaluation(tmp_path, qa_builtin):
    question = "雍景苑小区的停车管理条例是怎么制定的？"
    best = qa_builtin.ask(question, k=3).best
    feedback.record(tmp_path, question, True, found=True, passage=best.text, highlight=best.text[:20])
    feedback.record(tmp_path, "How did Yongjingyuan solve its parking problem?", True, found=True,
                    passage=best.text, highlight=best.text[-15:])
    out = tmp_path / "eval.jsonl"
    assert feedback.export_eval(feedback.read(tmp_path), out) == 2
    items = load_questions(out)
    assert [i["lang"] for i in items] == ["zh", "en"]
    report = evaluate(qa_builtin, items, k=3)
    assert report["all"]["n"] == 2 and report["zh"]["hit@1"] == 1.0


def test_a_like_in_the_chat_is_stored_with_question_passage_and_citation(small_kb, launch_local):
    import gradio as gr

    from qa.serve import ui

    qa = small_kb("灯塔.txt", "白鹭岛灯塔\n\n白鹭岛灯塔建成于一八九二年，塔身用花岗岩砌成。\n"
                             "守塔人陈阿婆在岛上住了四十年，每天傍晚点亮灯火。\n")
    demo = ui.build_demo(qa, examples=(), warm=False)
    url = launch_local(demo)
    try:
        client = gradio_client.Client(url, verbose=False)
        history = client.predict("守塔人是谁？", [], api_name="/chat")
        # The like event, as the browser sends it (the index of the liked message and the verdict).
        fn = next(i for i, d in enumerate(demo.config["dependencies"])
                  if d["targets"] and d["targets"][0][1] == "like")
        like = gr.LikeData(target=None, data={"index": 1, "value": "", "liked": True})
        views = demo.fns[fn].fn(history, like)
        stored = feedback.read(qa.index_dir)
        assert len(stored) == 1 and stored[0]["question"] == "守塔人是谁？" and stored[0]["liked"] is True
        assert "陈阿婆" in stored[0]["passage"] and stored[0]["citation"].startswith("《白鹭岛灯塔》")
        assert "有用 1 条" in views[0] and views[1].values.tolist()[0][2] == "守塔人是谁？"
    finally:
        demo.close()
