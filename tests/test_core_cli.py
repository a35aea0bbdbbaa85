"""Command line: ask/eval/index with --json, and errors that exit 2 with a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import main
from qa.ingest import decode_text

PARKING = """桂花苑停车管理办法

桂花苑小区共有地下车位三百个，地面车位一百二十个。业主车辆凭停车卡进出，访客车辆须在东门登记。

小区在负二层设有二十个新能源充电桩，每度电收费一元五角。
"""

#: Our own question set in the eval format: answerable (zh, en) and out-of-domain (expect null).
QUESTIONS = [
    {"question": "雍景苑小区的停车难题是怎么解决的？", "expect": "停车管理条例", "lang": "zh"},
    {"question": "哪个平台聘请第三方社会组织参与社区建设？", "expect": "业委会小助手", "lang": "zh"},
    {"question": "How did the Yongjingyuan community solve its parking problem?", "expect": "停车管理条例",
     "lang": "en"},
    {"question": "红烧肉怎么做才好吃？", "expect": None, "lang": "ood"},
    {"question": "What's the weather forecast for Tokyo tomorrow?", "expect": None, "lang": "ood"},
]


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.fixture
def index_dir(qa_builtin, builtin_index_dir) -> str:
    """The session's index of the built-in article (already built, so the CLI only opens it)."""
    return str(builtin_index_dir)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_prints_found_and_cited_hits(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "雍景苑小区的停车难题是怎么解决的？", "--json", "-k", "2",
                       "--index-dir", index_dir)
    assert code == 0
    answer = json.loads(out)
    assert answer["found"] is True
    assert 1 <= len(answer["hits"]) <= 2
    for hit in answer["hits"]:
        c = hit["citation"]
        lines = decode_text(Path(c["path"]).read_bytes()).split("\n")
        cited = "".join(squash(lines[n - 1]) for a, b in c["lines"] for n in range(a, b + 1))
        assert squash(hit["text"]) in cited
        assert c["display"].startswith("《") and "行" in c["location"]


def test_ask_prints_passages_with_citations(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "街道层面有哪四个支持平台？", "--index-dir", index_dir)
    assert code == 0
    assert out.startswith("[1] ") and "[3] " in out
    assert out.count("—— 《杨浦区新江湾城街道率先探索党建引领功能实体化建设》") == 3
    assert "没有找到" not in out


def test_ask_out_of_domain_says_nothing_was_found(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "2018年世界杯冠军是哪支球队？", "--index-dir", index_dir)
    assert code == 0
    assert out.startswith("没有找到相关内容") and "[1] " in out
    code, out, _ = run(capsys, "ask", "红烧肉怎么做？", "--json", "--index-dir", index_dir)
    assert json.loads(out)["found"] is False and json.loads(out)["hits"]


def test_eval_json_reports_metrics_per_language_and_no_answer(capsys, index_dir, tmp_path):
    path = tmp_path / "questions.jsonl"
    lines = [json.dumps(q, ensure_ascii=False) for q in QUESTIONS]
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(path), "--json", "--index-dir", index_dir)
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"zh", "en", "all", "no_answer"}
    assert (report["zh"]["n"], report["en"]["n"], report["all"]["n"]) == (2, 1, 3)
    for lang in ("zh", "en", "all"):
        m = report[lang]
        assert 0.0 <= m["hit@1"] <= m["mrr"] <= m["hit@3"] <= 1.0
    assert report["zh"]["hit@3"] == 1.0 and report["en"]["hit@3"] == 1.0
    assert report["no_answer"] == {"n": 2, "rejected": 1.0}


def test_eval_reports_rejection_per_kind_of_unanswerable_question(capsys, index_dir, tmp_path):
    path = tmp_path / "questions.jsonl"
    answered = {"question": "雍景苑小区的停车难题是怎么解决的？", "expect": None, "lang": "ood-near"}
    rows = QUESTIONS[3:] + [answered]
    path.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in rows), encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(path), "--json", "--index-dir", index_dir)
    assert code == 0
    na = json.loads(out)["no_answer"]
    # the "unanswerable" question the article does answer is accepted: only its own group shows it
    assert na["by_lang"] == {"ood": {"n": 2, "rejected": 1.0}, "ood-near": {"n": 1, "rejected": 0.0}}
    assert na["rejected"] == pytest.approx(2 / 3)
    code, out, _ = run(capsys, "eval", str(path), "--index-dir", index_dir)
    assert "ood-near: 0.00 of 1 rejected" in out


def test_eval_table_and_show(capsys, index_dir, tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS[:2] + QUESTIONS[3:4]),
                    encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(path), "--show", "--index-dir", index_dir)
    assert code == 0
    assert "hit@1" in out and "MRR" in out and "no-answer" in out
    assert QUESTIONS[0]["question"] in out


def test_index_reports_passages_then_is_current(capsys, encoder, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "parking.txt").write_text(PARKING, encoding="utf-8")
    index = str(tmp_path / "index")
    code, out, _ = run(capsys, "index", str(docs), "--index-dir", index)
    assert code == 0
    assert "1 documents" in out and " passages" in out and "updated in" in out
    passages = int(out.split(" passages")[0].rsplit(" ", 1)[-1])
    assert passages >= 1
    code, out, _ = run(capsys, "index", "--index-dir", index)  # sources from the manifest
    assert code == 0 and "already current" in out and f"{passages} passages" in out
    code, out, _ = run(capsys, "ask", "充电桩在哪里？", "--json", "--index-dir", index, "-k", "1")
    hit = json.loads(out)["hits"][0]
    assert Path(hit["citation"]["path"]).name == "parking.txt" and "充电桩" in hit["text"]


@pytest.mark.parametrize("argv, message", [
    (["ask", ""], "empty"),
    (["ask", "   "], "empty"),
    (["ask", "停车" * 1500], "too long"),
    (["ask", "停车难题", "-k", "0"], "k must be"),
])
def test_bad_questions_exit_2_with_a_message(capsys, index_dir, argv, message):
    code, out, err = run(capsys, *argv, "--index-dir", index_dir)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert out == ""


def test_missing_source_exits_2(capsys, encoder, tmp_path):
    code, _, err = run(capsys, "index", "--source", str(tmp_path / "nope"),
                       "--index-dir", str(tmp_path / "i"))
    assert code == 2 and "no such file or folder" in err


def test_unreadable_sources_exit_2(capsys, encoder, tmp_path):
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, _, err = run(capsys, "index", str(tmp_path / "image.txt"), "--index-dir", str(tmp_path / "i"))
    assert code == 2 and "image.txt" in err


def test_malformed_question_file_exits_2(capsys, index_dir, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "停车"}\nnot json\n', encoding="utf-8")
    code, _, err = run(capsys, "eval", str(path), "--index-dir", index_dir)
    assert code == 2 and "bad.jsonl:2" in err


def test_missing_question_file_exits_2(capsys, index_dir, tmp_path):
    code, _, err = run(capsys, "eval", str(tmp_path / "missing.jsonl"), "--index-dir", index_dir)
    assert code == 2 and "missing.jsonl" in err


@pytest.mark.parametrize("argv", [["ask"], ["frobnicate"], ["ask", "q", "--top-k", "three"]])
def test_usage_errors_exit_2_in_process(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_usage_errors_exit_2_without_loading_anything():
    for argv in ([], ["ask", "q", "-k", "three"]):
        proc = subprocess.run([sys.executable, "-m", "qa", *argv], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 2, argv
        assert "usage:" in proc.stderr


def test_with_milvus_the_cli_asks_the_store_not_the_folders_manifest_file(capsys, encoder, tmp_path,
                                                                          monkeypatch):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from qa.cli import _local_manifest

    index = tmp_path / "index"
    index.mkdir()
    # A manifest.json left in the folder (say, by an old FAISS index) is not the Milvus knowledge base.
    (index / "manifest.json").write_text('{"created": "a FAISS build", "sources": []}', encoding="utf-8")
    monkeypatch.setenv("QA_STORE", "milvus")
    monkeypatch.setenv("QA_MILVUS_URI", str(tmp_path / "kb.db"))
    assert _local_manifest(index) == {}  # nothing committed to Milvus yet
    doc = tmp_path / "停车.txt"
    doc.write_text(PARKING, encoding="utf-8")
    code, out, err = run(capsys, "add", str(doc), "--index-dir", str(index))
    assert code == 0, err
    code, out, err = run(capsys, "list", "--json", "--index-dir", str(index))
    listed = json.loads(out)
    # a new knowledge base of just the added file (not the built-in article as well)
    assert [Path(d["path"]).name for d in listed["documents"]] == ["停车.txt"]
    created = _local_manifest(index).get("created")
    assert created and created != "a FAISS build"
