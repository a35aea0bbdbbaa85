"""The knowledge base: incremental add/change/remove, duplicates, crash safety, concurrency, uploads, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from qa import QA
from qa.errors import IndexTimeError, ReadOnlyIndexError, SourceError
from qa.index.manifest import MANIFEST, read_manifest
from qa.serve.uploads import MAX_UPLOAD_BYTES, UploadError, delete_document, sanitize_filename, save_upload

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PDF = Path(__file__).parent / "fixtures" / "kb-sample.pdf"

WATER = "# 停水通知\n\n因管道检修，三号楼明天上午九点到十二点停水，请提前储水。\n\n物业电话六五四三二一。\n"
LIFT = ("# 电梯维保\n\n## 保养\n\n二号楼电梯每月五日例行保养，保养期间请走楼梯。\n\n"
        "## 困人\n\n电梯困人时请按警铃，值班人员五分钟内到场。\n")
PETS = "养犬须知\n\n遛狗必须牵绳，并及时清理粪便。\n\n大型犬不得进入儿童游乐区。\n"


class CountingEncoder:
    """Wraps the real encoder and records every text it embeds."""

    def __init__(self, inner):
        self.inner = inner
        self.texts: list[str] = []

    def encode(self, texts, **kwargs):
        self.texts.extend(texts)
        return self.inner.encode(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def counting(qa: QA) -> CountingEncoder:
    qa.encoder = CountingEncoder(qa.encoder)
    return qa.encoder


def make_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "water.md").write_text(WATER, encoding="utf-8")
    (folder / "lift.md").write_text(LIFT, encoding="utf-8")
    return folder


def passages_of(qa: QA, name: str) -> int:
    return sum(1 for c in qa.chunks if Path(c.path).name == name)


def test_incremental_add_change_remove_embeds_only_what_changed(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    qa = QA(sources=[docs], index_dir=tmp_path / "index")
    assert qa.last_update["embedded"] == len(qa.chunks) > 0
    first_build = read_manifest(qa.index_dir)["build"]

    # add one file: only its passages are embedded
    extra = tmp_path / "extra" / "pets.txt"
    extra.parent.mkdir()
    extra.write_text(PETS, encoding="utf-8")
    enc = counting(qa)
    report = qa.add([extra])
    assert report["added"] == [str(extra.resolve())] and report["unchanged"] == 2
    assert len(enc.texts) == passages_of(qa, "pets.txt") == report["embedded"] > 0
    assert all("狗" in t or "犬" in t for t in enc.texts)
    assert "牵绳" in qa.ask("遛狗要注意什么？").hits[0].text
    assert read_manifest(qa.index_dir)["build"] != first_build

    # change one sentence of a file: only the changed passage is embedded, the rest is reused
    enc.texts.clear()
    (docs / "lift.md").write_text(LIFT.replace("五分钟", "十分钟"), encoding="utf-8")
    report = qa.add([docs])
    assert report["updated"] == [str((docs / "lift.md").resolve())]
    assert enc.texts and all("十分钟" in t for t in enc.texts)
    assert report["reused"] >= 1
    assert "十分钟" in qa.ask("电梯困人多久有人来？").hits[0].text

    # unchanged: nothing embedded at all
    enc.texts.clear()
    assert qa.add([docs])["embedded"] == 0 and enc.texts == []

    # remove: nothing embedded, the document is gone from documents() and from answers
    report = qa.remove([extra])
    assert report["removed"] == [str(extra.resolve())] and enc.texts == []
    assert {Path(d["path"]).name for d in qa.documents()} == {"water.md", "lift.md"}
    assert all(Path(h.citation.path).name != "pets.txt" for h in qa.ask("遛狗要注意什么？", k=5).hits)

    # a file inside a source folder can be removed by name and stays out
    qa.remove([docs / "water.md"])
    assert {Path(d["path"]).name for d in qa.documents()} == {"lift.md"}

    # reopening without sources keeps the knowledge base as it is, embedding nothing
    again = QA(index_dir=tmp_path / "index")
    assert again.last_update["embedded"] == 0
    assert [d["path"] for d in again.documents()] == [d["path"] for d in qa.documents()]

    # the incrementally kept index equals a full rebuild of the same files
    full = QA(sources=[docs], index_dir=tmp_path / "full")
    full.remove([docs / "water.md"])
    assert sorted(c.id for c in full.chunks) == sorted(c.id for c in again.chunks)
    ids = np.array([c.id for c in full.chunks], dtype=np.int64)
    v1, v2 = full.vector_index.vectors(ids), again.vector_index.vectors(ids)
    assert np.allclose(v1, v2, atol=1e-5)


def test_identical_passages_in_two_files_are_returned_once(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    (docs / "copy-of-water.md").write_text(WATER, encoding="utf-8")
    qa = QA(sources=[docs], index_dir=tmp_path / "index")
    # the copy's passages were not embedded a second time
    assert qa.last_update["reused"] == passages_of(qa, "copy-of-water.md") > 0
    hits = qa.ask("三号楼什么时候停水？", k=3).hits
    texts = ["".join(h.text.split()) for h in hits]
    assert len(texts) == len(set(texts)) == 3
    assert sum("停水" in t for t in texts) == 1


def test_folder_with_unreadable_and_scanned_files_reports_them_skipped(encoder, tmp_path):
    from pypdf import PdfWriter

    docs = make_docs(tmp_path / "docs")
    w = PdfWriter()
    w.add_blank_page(width=595, height=842)
    with open(docs / "scan.pdf", "wb") as f:
        w.write(f)
    (docs / "junk.docx").write_bytes(b"not a zip")
    qa = QA(sources=[docs], index_dir=tmp_path / "index")
    skipped = {Path(s["path"]).name: s["reason"] for s in qa.skipped()}
    assert set(skipped) == {"scan.pdf", "junk.docx"}
    assert "no text layer" in skipped["scan.pdf"]
    assert len(qa.documents()) == 2
    # an explicitly added unreadable file is refused and changes nothing
    build = read_manifest(qa.index_dir)["build"]
    with pytest.raises(SourceError):
        qa.add([docs / "scan.pdf"])
    with pytest.raises(SourceError, match="no such file"):
        qa.add([tmp_path / "missing.txt"])
    assert read_manifest(qa.index_dir)["build"] == build


def _child(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


CHILD = """
import os, sys, time
import qa.index.faiss_store as store_module
from qa import QA
index_dir, new_file = sys.argv[1:]
kb = QA(index_dir=index_dir)
real = os.replace
def slow_swap(src, dst, *args, **kwargs):
    # the worst moment: the new data files are written, the manifest not yet swapped
    if str(dst).endswith("manifest.json"):
        print("swapping", flush=True)
        time.sleep(60)
    return real(src, dst, *args, **kwargs)
store_module.os.replace = slow_swap
kb.add([new_file])
print("finished", flush=True)
"""


def test_update_killed_with_sigkill_leaves_previous_index_usable(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    index_dir = tmp_path / "index"
    before = QA(sources=[docs], index_dir=index_dir)
    new = tmp_path / "pets.txt"
    new.write_text(PETS, encoding="utf-8")
    child = _child(CHILD, str(index_dir), str(new))
    try:
        assert child.stdout.readline().strip() == "swapping", child.stderr.read()
        written = {p.name for p in index_dir.iterdir()}
        child.kill()  # SIGKILL
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -9
    assert len([n for n in written if n.startswith("vectors-")]) == 2  # the new build was on disk
    after = QA(index_dir=index_dir)
    assert after.last_update["embedded"] == 0  # opened as it was, not rebuilt
    assert [d["path"] for d in after.documents()] == [d["path"] for d in before.documents()]
    assert "九点" in after.ask("三号楼什么时候停水？").hits[0].text
    # the next update goes through and clears the dead build's files
    after.add([new])
    assert len([p for p in index_dir.iterdir() if p.name.startswith("vectors-")]) == 1
    assert "牵绳" in after.ask("遛狗要注意什么？").hits[0].text


def test_questions_during_updates_see_a_consistent_index(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    qa = QA(sources=[docs], index_dir=tmp_path / "index")
    extra = tmp_path / "pets.txt"
    extra.write_text(PETS, encoding="utf-8")
    errors: list[BaseException] = []
    answers = []
    stop = threading.Event()

    def ask_forever():
        while not stop.is_set():
            try:
                answers.append(qa.ask("电梯困人怎么办？", k=3))
            except BaseException as e:  # noqa: BLE001 - any failure is the test's finding
                errors.append(e)

    t = threading.Thread(target=ask_forever)
    t.start()
    try:
        for _ in range(2):
            qa.add([extra])
            qa.remove([extra])
    finally:
        stop.set()
        t.join()
    assert not errors and answers
    assert all("警铃" in a.hits[0].text for a in answers)
    names = {Path(h.citation.path).name for a in answers for h in a.hits}
    assert names <= {"lift.md", "water.md", "pets.txt"}


def test_another_process_update_is_picked_up_by_refresh(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    serving = QA(sources=[docs], index_dir=tmp_path / "index")
    assert serving.refresh() is False  # nothing new
    extra = tmp_path / "pets.txt"
    extra.write_text(PETS, encoding="utf-8")
    QA(index_dir=tmp_path / "index").add([extra])  # as `python -m qa add` would
    assert all(Path(d["path"]).name != "pets.txt" for d in serving.documents())
    assert serving.refresh() is True
    assert "牵绳" in serving.ask("遛狗要注意什么？").hits[0].text
    # and the serving engine's own next update builds on that state, not on its stale one
    serving.remove([docs / "water.md"])
    assert {Path(d["path"]).name for d in serving.documents()} == {"lift.md", "pets.txt"}


def test_refresh_without_waiting_loads_the_new_build_in_the_background(encoder, tmp_path):
    import time

    docs = make_docs(tmp_path / "docs")
    serving = QA(sources=[docs], index_dir=tmp_path / "index")
    before = serving.manifest["build"]
    extra = tmp_path / "pets.txt"
    extra.write_text(PETS, encoding="utf-8")
    QA(index_dir=tmp_path / "index").add([extra])  # another process
    assert serving.refresh(wait=False) is False  # returns at once; the build in use answers
    deadline = time.monotonic() + 30
    while serving.manifest["build"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert serving.manifest["build"] != before
    assert "牵绳" in serving.ask("遛狗要注意什么？").hits[0].text
    assert serving.refresh(wait=False) is False and serving.refresh() is False  # nothing newer


def test_a_replica_serves_the_committed_build_without_the_source_files(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    writer = QA(sources=[docs], index_dir=tmp_path / "index")
    question = "三号楼什么时候停水？"
    expected = writer.ask(question)
    moved = tmp_path / "elsewhere"
    docs.rename(moved)  # a replica has the store, not the documents
    replica = QA(index_dir=tmp_path / "index", replica=True)
    assert replica.ask(question) == expected
    assert replica.manifest["build"] == writer.manifest["build"]  # opened, not rebuilt
    with pytest.raises(ReadOnlyIndexError, match="replica"):
        replica.add([moved / "water.md"])
    with pytest.raises(ReadOnlyIndexError, match="replica"):
        replica.remove([moved / "water.md"])
    moved.rename(docs)
    extra = tmp_path / "pets.txt"
    extra.write_text(PETS, encoding="utf-8")
    writer.add([extra])
    assert replica.refresh() is True
    assert "牵绳" in replica.ask("遛狗要注意什么？").hits[0].text


def test_a_replica_of_an_empty_store_says_what_to_do(encoder, tmp_path):
    with pytest.raises(ReadOnlyIndexError, match="python -m qa index"):
        QA(index_dir=tmp_path / "nothing", replica=True)


def test_an_update_past_its_time_limit_changes_nothing(encoder, tmp_path, monkeypatch):
    from qa.index import embed

    docs = make_docs(tmp_path / "docs")
    kb = QA(sources=[docs], index_dir=tmp_path / "index")
    before = (kb.manifest["build"], len(kb.chunks))
    monkeypatch.setattr(embed, "DEADLINE_GROUP", 1)  # a look at the clock after every sentence
    extra = tmp_path / "pets.txt"
    extra.write_text(PETS, encoding="utf-8")
    with pytest.raises(IndexTimeError, match="nothing was changed"):
        kb.add([extra], time_limit=0.0)
    assert (kb.manifest["build"], len(kb.chunks)) == before
    assert read_manifest(kb.index_dir)["build"] == before[0]
    assert kb.add([extra], time_limit=600)["added"] == [str(extra.resolve())]


# ----- uploads (the backend of the browser tab and the REST API) -----

@pytest.fixture
def kb(encoder, tmp_path):
    docs = make_docs(tmp_path / "docs")
    return QA(sources=[docs], index_dir=tmp_path / "index", kb_dir=tmp_path / "kb")


@pytest.fixture(scope="module")
def shared_kb(encoder, tmp_path_factory):
    """One knowledge base for the refused uploads (each of them must leave it unchanged)."""
    tmp = tmp_path_factory.mktemp("refused")
    return QA(sources=[make_docs(tmp / "docs")], index_dir=tmp / "index", kb_dir=tmp / "kb")


def state(qa: QA) -> tuple:
    files = sorted(p.name for p in Path(qa.kb_dir).iterdir()) if Path(qa.kb_dir).exists() else []
    return read_manifest(qa.index_dir)["build"], files, len(qa.documents())


def test_upload_then_delete(kb, tmp_path):
    result = save_upload(kb, "../../停车 规定.md", "# 停车\n\n夜间访客车辆须在门岗登记。\n".encode())
    path = Path(result["path"])
    assert path.parent == Path(kb.kb_dir).resolve() and path.name == "停车 规定.md"
    assert result["document"]["title"] == "停车" and result["report"]["embedded"] == 1
    hit = kb.ask("夜间访客车辆要做什么？").hits[0]
    assert "门岗登记" in hit.text and hit.citation.path == str(path)
    # the same name again replaces the file and re-indexes it
    again = save_upload(kb, "停车 规定.md", "# 停车\n\n夜间访客车辆须在门岗出示证件。\n".encode())
    assert again["replaced"] and again["report"]["updated"] == [str(path)]
    assert len([d for d in kb.documents() if d["path"] == str(path)]) == 1
    # a PDF and a Word file upload as well, by path (Gradio) and by file object (REST)
    save_upload(kb, "sample.pdf", str(SAMPLE_PDF))
    with open(SAMPLE_PDF, "rb") as f:
        save_upload(kb, "sample2.pdf", f)
    assert {d["format"] for d in kb.documents()} >= {"pdf", "text"}
    out = delete_document(kb, "停车 规定.md")
    assert out["deleted_file"] and not path.exists()
    assert all(d["path"] != str(path) for d in kb.documents())
    # a document outside the KB folder is unindexed but its file is left alone
    lift = tmp_path / "docs" / "lift.md"
    assert not delete_document(kb, str(lift))["deleted_file"] and lift.exists()


REFUSED = [
    ("report.pdf", b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8, "不是 PDF", 422),
    ("notes.txt", b"", "空", 422),
    ("notes.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "二进制", 422),
    ("table.docx", b"PK\x03\x04 not really a zip", "损坏", 422),
    ("scan.pdf", None, "no text layer", 422),
    ("big.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "太大", 413),
    ("virus.exe", b"MZ\x90\x00", "不支持", 415),
    ("..", b"text", "不支持", 415),
    ("page.html", b"just words, no markup", "不是 HTML", 422),
]


@pytest.mark.parametrize("name,data,message,status", REFUSED, ids=[f"{n}-{m}" for n, _, m, _ in REFUSED])
def test_bad_uploads_are_refused_and_change_nothing(shared_kb, name, data, message, status):
    kb = shared_kb
    if data is None:
        import io

        from pypdf import PdfWriter

        w = PdfWriter()
        w.add_blank_page(width=595, height=842)
        buf = io.BytesIO()
        w.write(buf)
        data = buf.getvalue()
    before = state(kb)
    with pytest.raises(UploadError, match=message) as refused:
        save_upload(kb, name, data)
    assert refused.value.http_status == status
    assert state(kb) == before


def test_file_names_are_sanitised():
    assert sanitize_filename("../../etc/passwd.txt") == "passwd.txt"
    assert sanitize_filename("..\\..\\windows\\win.ini.md") == "win.ini.md"
    assert sanitize_filename(".hidden.md") == "hidden.md"
    assert sanitize_filename("a\x00b<c>.PDF") == "a_b_c_.pdf"
    assert sanitize_filename("报告（2024）.docx") == "报告（2024）.docx"
    for bad in ("", "/", "noext", "x.exe", "x.pdf.exe"):
        with pytest.raises(UploadError):
            sanitize_filename(bad)


def test_cli_add_list_remove(encoder, tmp_path, capsys):
    from qa.cli import main

    docs = make_docs(tmp_path / "docs")
    index = str(tmp_path / "index")
    assert main(["add", str(docs / "water.md"), "--index-dir", index]) == 0
    assert main(["add", str(SAMPLE_PDF), str(docs / "lift.md"), "--index-dir", index]) == 0
    out = capsys.readouterr().out
    assert "added" in out and "kb-sample.pdf" in out
    assert main(["list", "--index-dir", index]) == 0
    out = capsys.readouterr().out
    # a new knowledge base holds only what was added (not the built-in article)
    assert "3 documents" in out and "pdf" in out and "xinjiangwan" not in out
    assert main(["remove", str(docs / "water.md"), "--index-dir", index]) == 0
    assert main(["remove", str(tmp_path / "nope.txt"), "--index-dir", index]) == 2
    capsys.readouterr()
    assert main(["list", "--json", "--index-dir", index]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert sorted(Path(d["path"]).name for d in listing["documents"]) == ["kb-sample.pdf", "lift.md"]
    assert (Path(index) / MANIFEST).exists()
