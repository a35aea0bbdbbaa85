"""The QA contract: cited answers, no-answer detection, bad questions, staleness and corruption."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from qa import QA, Answer, Citation, Config, Hit, QuestionError
from qa.answerable import UNANSWERED_SHARE
from qa.chunk import split_sentences
from qa.config import BUILTIN_CORPUS, FORMAT_VERSION, MAX_QUESTION_CHARS
from qa.index import embed
from qa.index.faiss_store import FaissStore
from qa.index.manifest import MANIFEST
from qa.ingest import decode_text
from qa.question import clean_question

#: Questions the built-in article answers (our own wording), in Chinese and English.
IN_DOMAIN_ZH = ["雍景苑小区的停车难题是怎么解决的？", "江湾国际小区装了门禁以后引发了什么矛盾？",
                "街道层面有哪四个支持平台？", "业委会小助手由谁来担任？", "“一圆”指的是什么？"]
IN_DOMAIN_EN = ["How did the Yongjingyuan community solve its parking problem?",
                "What are the four support platforms at the sub-district level?"]
#: Questions the article cannot answer: weather, recipes, sports, another city's metro.
OUT_OF_DOMAIN = ["明天北京会下雨吗？", "红烧肉怎么做才好吃？", "2018年世界杯冠军是哪支球队？",
                 "广州地铁三号线到白云机场吗？", "What's the weather forecast for Tokyo tomorrow?",
                 "How do I bake sourdough bread?", "Which London Underground line goes to Heathrow?"]

PARKING = """桂花苑停车管理办法

桂花苑小区共有地下车位三百个，地面车位一百二十个。业主车辆凭停车卡进出，访客车辆须在东门登记。

夜间十点以后地面车位免费停放。消防通道严禁停车，违规车辆将被物业锁车。

小区在负二层设有二十个新能源充电桩，每度电收费一元五角。
"""
GARDEN = """# 桂花苑绿化养护

## 养护安排

小区绿化由园林公司每周修剪一次。桂花树在九月开花，请勿攀折。

## 垃圾分类

湿垃圾每天早上七点到九点、晚上六点到八点定时投放。大件垃圾须预约清运。
"""


def squash(text: str) -> str:
    return "".join(text.split())


def assert_cited(hit: Hit) -> None:
    """The cited lines of the real file contain the passage, and each end line contributes to it;
    a passage whose lines stand together in the file is a substring of the file itself."""
    c = hit.citation
    assert c.format == "text" and c.lines
    lines = decode_text(Path(c.path).read_bytes()).split("\n")
    numbers = [n for a, b in c.lines for n in range(a, b + 1)]
    assert all(1 <= n <= len(lines) for n in numbers)
    parts = [squash(lines[n - 1]) for n in numbers if squash(lines[n - 1])]
    cited, text = "".join(parts), squash(hit.text)
    assert text and text in cited, (c.lines, hit.text)
    assert cited.index(text) < len(parts[0]), f"first cited line is not part of the passage: {c.lines}"
    assert cited.index(text) + len(text) > len(cited) - len(parts[-1]), f"last cited line unused: {c.lines}"
    between = set(range(min(numbers), max(numbers) + 1)) - set(numbers)
    if numbers == sorted(numbers) and not any(lines[n - 1].strip() for n in between):
        assert text in squash("\n".join(lines))


def assert_distinct(answer: Answer) -> None:
    """No sentence is shown in two hits."""
    seen: set[str] = set()
    for hit in answer.hits:
        sentences = {squash(s) for s in split_sentences(hit.text) if len(squash(s)) >= 4}
        assert not sentences & seen, hit.text
        seen |= sentences


def assert_contract(answer: Answer, k: int) -> None:
    assert isinstance(answer, Answer) and isinstance(answer.found, bool)
    assert 1 <= len(answer.hits) <= k
    scores = [h.score for h in answer.hits]
    assert scores == sorted(scores, reverse=True)
    assert 0.0 <= answer.confidence <= 1.0
    assert_distinct(answer)
    for hit in answer.hits:
        assert isinstance(hit, Hit) and isinstance(hit.citation, Citation)
        assert_cited(hit)
        assert f"《{hit.citation.source}》" in str(hit.citation)
        assert "第" in str(hit.citation) and "行" in str(hit.citation)
    json.dumps(answer.to_dict(), ensure_ascii=False)


@pytest.fixture
def encode_calls(monkeypatch):
    """Texts passed to qa.index.embed.encode, one list per call."""
    calls: list[list[str]] = []
    real = embed.encode

    def counting(encoder, texts, *args, **kwargs):
        calls.append(list(texts))
        return real(encoder, texts, *args, **kwargs)

    monkeypatch.setattr(embed, "encode", counting)
    return calls


def embedded(calls) -> int:
    return sum(len(c) for c in calls)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "parking.txt").write_text(PARKING, encoding="utf-8")
    (folder / "garden.md").write_text(GARDEN, encoding="utf-8")
    return folder


@pytest.fixture
def small_qa(encoder, corpus, tmp_path):
    return QA(sources=[corpus], index_dir=tmp_path / "index")


# ----- the contract on the built-in article -----

def test_encoder_is_a_sentence_transformer(qa_builtin):
    from sentence_transformers import SentenceTransformer
    assert isinstance(qa_builtin.encoder, SentenceTransformer)


@pytest.mark.parametrize("prompt", [None, "query: "])
def test_question_fast_path_gives_the_sentence_transformers_vector(qa_builtin, prompt):
    import numpy as np

    for question in ("雍景苑的停车难题", "How was parking solved?", "x"):
        fast = embed.encode_query(qa_builtin.encoder, question, prompt=prompt)
        slow = qa_builtin.encoder.encode([question], prompt=prompt, convert_to_numpy=True)[0]
        assert fast.dtype == np.float32 and fast.shape == (512,)
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-6)
        assert abs(float(np.linalg.norm(fast)) - 1.0) < 1e-5


@pytest.mark.parametrize("question", IN_DOMAIN_ZH + IN_DOMAIN_EN + OUT_OF_DOMAIN)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_answers_keep_the_contract(qa_builtin, question, k):
    assert_contract(qa_builtin.ask(question, k=k), k)


@pytest.mark.parametrize("question", IN_DOMAIN_ZH + IN_DOMAIN_EN)
def test_in_domain_questions_are_found(qa_builtin, question):
    answer = qa_builtin.ask(question, k=3)
    assert answer.found, (question, answer.confidence)
    assert answer.best.confidence == answer.confidence


@pytest.mark.parametrize("question", OUT_OF_DOMAIN)
def test_out_of_domain_questions_are_not_found_but_still_get_hits(qa_builtin, question):
    answer = qa_builtin.ask(question, k=3)
    assert not answer.found, (question, answer.confidence)
    assert answer.confidence < qa_builtin.config.min_confidence
    assert len(answer.hits) == 3


def test_the_right_passage_comes_first(qa_builtin):
    # our own questions; the passages are checked by their line numbers in the file
    best = qa_builtin.ask("雍景苑小区的停车难题是怎么解决的？").best
    assert any(a <= 43 <= b for a, b in best.citation.lines)
    best = qa_builtin.ask("快递人员为什么不肯把快递送进江湾国际小区？").best
    assert any(a <= 27 <= b for a, b in best.citation.lines)
    assert best.citation.section == "新江湾城街道率先探索党建引领功能实体化建设"


def test_a_repaired_passage_is_cited_in_both_places(qa_builtin):
    answer = qa_builtin.ask("快递人员和物业保安发生互殴后，居民对物业有什么反应？", k=3)
    hit = next(h for h in answer.hits if "继而引发了居民对物业" in h.text)
    numbers = {n for a, b in hit.citation.lines for n in range(a, b + 1)}
    assert {27, 53} <= numbers
    assert_cited(hit)
    assert "第" in str(hit.citation) and "53" in str(hit.citation)


def test_every_dev_question_is_cited_correctly(qa_builtin, dev_questions):
    assert dev_questions
    for item in dev_questions:
        answer = qa_builtin.ask(item["question"], k=3)
        assert_contract(answer, 3)


# ----- questions that cannot be asked -----

@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n\t  ", "empty"), ("\x00\x07\u200b", "empty"),
    ("问" * (MAX_QUESTION_CHARS + 1), "too long"), ("停车" * 1500, "too long"),
    (None, "text"), (42, "text"), (b"\xe5\x81\x9c\xe8\xbd\xa6", "text"), (["停车"], "text"),
])
def test_bad_questions_raise_question_error(qa_builtin, question, message):
    with pytest.raises(QuestionError, match=message):
        qa_builtin.ask(question)


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", None, True])
def test_bad_k_raises_question_error(qa_builtin, k):
    with pytest.raises(QuestionError, match="k must be"):
        qa_builtin.ask("雍景苑的停车难题", k=k)


def test_control_characters_are_stripped(qa_builtin):
    dirty = "雍景苑小区的\x00停车\u200b难题\x1b是怎么\u202e解决的？\x7f"
    answer = qa_builtin.ask(dirty, k=3)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in answer.question)
    assert answer.question == clean_question(dirty)
    assert "雍景苑" in answer.question and "停车" in answer.question
    assert answer.found
    assert_contract(answer, 3)


def test_clean_question_collapses_whitespace_and_normalises():
    assert clean_question("  停车\t\t难题 \n ") == "停车 难题"
    assert clean_question("e\u0301") == "\u00e9"  # NFC
    assert clean_question("\ud800停车") == "?停车"  # a lone surrogate cannot be encoded


# ----- a knowledge base of the user's own files -----

def test_own_folder_is_indexed_and_cited(small_qa, corpus):
    answer = small_qa.ask("桂花苑的充电桩在哪里？", k=3)
    assert_contract(answer, 3)
    assert answer.found
    best = answer.best
    assert Path(best.citation.path) == (corpus / "parking.txt").resolve()
    assert "充电桩" in best.text and (7, 7) in best.citation.lines
    assert best.citation.source == "桂花苑停车管理办法"
    answer = small_qa.ask("湿垃圾什么时候投放？", k=2)
    assert Path(answer.best.citation.path) == (corpus / "garden.md").resolve()
    assert answer.best.citation.section == "垃圾分类"
    assert str(answer.best.citation) == "《桂花苑绿化养护》 · 垃圾分类 · 第9行"
    assert {Path(c.path).name for c in small_qa.chunks} == {"parking.txt", "garden.md"}


def test_single_file_source(encoder, corpus, tmp_path):
    qa = QA(sources=corpus / "parking.txt", index_dir=tmp_path / "one")
    assert {c.path for c in qa.chunks} == {str((corpus / "parking.txt").resolve())}
    assert_contract(qa.ask("访客车辆在哪里登记？"), 3)


# ----- keeping the index in step with the files -----

def test_reopening_does_not_embed_again(small_qa, corpus, tmp_path, encode_calls):
    again = QA(sources=[corpus], index_dir=tmp_path / "index")
    assert embedded(encode_calls) == 0
    assert again.build_seconds is None
    assert [c.id for c in again.chunks] == [c.id for c in small_qa.chunks]
    implicit = QA(index_dir=tmp_path / "index")  # sources taken from the manifest
    assert embedded(encode_calls) == 0
    assert [c.id for c in implicit.chunks] == [c.id for c in small_qa.chunks]
    assert again.ask("充电桩在哪里？").best.text == small_qa.ask("充电桩在哪里？").best.text


def test_changed_file_is_re_embedded(small_qa, corpus, tmp_path, encode_calls):
    total = len(small_qa.chunks)
    path = corpus / "parking.txt"
    changed = PARKING.replace("二十个新能源充电桩", "四十个新能源充电桩，并配有洗车房")
    path.write_text(changed, encoding="utf-8")
    qa = QA(sources=[corpus], index_dir=tmp_path / "index")
    texts = [t for call in encode_calls for t in call]
    assert texts and any("洗车房" in t for t in texts)
    assert len(texts) < total  # unchanged passages keep their vectors
    assert not any("湿垃圾" in t for t in texts)  # the other file is untouched
    best = qa.ask("小区有洗车房吗？").best
    assert "洗车房" in best.text
    assert_cited(best)
    assert qa.manifest["files"][str(path.resolve())] != small_qa.manifest["files"][str(path.resolve())]


def test_added_and_deleted_files_are_picked_up(small_qa, corpus, tmp_path, encode_calls):
    pets = "宠物管理规定\n\n小区内遛狗必须拴绳，并及时清理粪便。\n"
    (corpus / "pets.txt").write_text(pets, encoding="utf-8")
    (corpus / "garden.md").unlink()
    qa = QA(sources=[corpus], index_dir=tmp_path / "index")
    assert {Path(c.path).name for c in qa.chunks} == {"parking.txt", "pets.txt"}
    texts = [t for call in encode_calls for t in call]
    assert texts and all("遛狗" in t for t in texts)  # only the new file is embedded
    best = qa.ask("遛狗要注意什么？").best
    assert Path(best.citation.path).name == "pets.txt"
    assert not any("湿垃圾" in c.text for c in qa.chunks)


def test_changed_chunk_settings_rebuild_everything(small_qa, corpus, tmp_path, encode_calls):
    qa = QA(sources=[corpus], index_dir=tmp_path / "index", config=Config(block_chars=30, max_chars=30))
    assert embedded(encode_calls) >= len(qa.chunks) > 0
    assert qa.manifest["settings"]["block_chars"] == 30
    assert all(len(split_sentences(c.text)) == 1 for c in qa.chunks)
    answer = qa.ask("桂花苑的充电桩在哪里？")
    assert_contract(answer, 3)
    assert all(len(h.text) <= 30 or len(split_sentences(h.text)) == 1 for h in answer.hits)


def test_rebuild_flag_embeds_again(small_qa, corpus, tmp_path, encode_calls):
    QA(sources=[corpus], index_dir=tmp_path / "index", rebuild=True)
    assert embedded(encode_calls) >= len(small_qa.chunks)


def _data_file(index_dir: Path, key: str) -> Path:
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    return index_dir / manifest["data"][key]["file"]


def _damage(index_dir: Path, how: str) -> None:
    manifest_path = index_dir / MANIFEST
    if how == "truncate-faiss":
        p = _data_file(index_dir, "vectors")
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif how == "truncate-chunks":
        p = _data_file(index_dir, "chunks")
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    elif how == "delete-faiss":
        _data_file(index_dir, "vectors").unlink()
    elif how == "delete-chunks":
        _data_file(index_dir, "chunks").unlink()
    elif how == "garbage-manifest":
        manifest_path.write_bytes(b"\x00\xffthis is not json{{{")
    elif how == "empty-manifest":
        manifest_path.write_bytes(b"")
    elif how == "other-format-version":
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        m["format_version"] = FORMAT_VERSION + 1
        manifest_path.write_text(json.dumps(m), encoding="utf-8")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncate-faiss", "truncate-chunks", "delete-faiss", "delete-chunks",
                                 "other-format-version"])
def test_damaged_index_is_rebuilt_and_answers_still_work(small_qa, corpus, tmp_path, encode_calls, how):
    index_dir = tmp_path / "index"
    _damage(index_dir, how)
    qa = QA(sources=[corpus], index_dir=index_dir)
    assert embedded(encode_calls) >= len(small_qa.chunks)
    assert qa.build_seconds is not None
    assert [c.id for c in qa.chunks] == [c.id for c in small_qa.chunks]
    answer = qa.ask("桂花苑的充电桩在哪里？")
    assert answer.found and Path(answer.best.citation.path).name == "parking.txt"
    assert FaissStore(index_dir).load().manifest["format_version"] == FORMAT_VERSION


@pytest.mark.parametrize("how", ["garbage-manifest", "empty-manifest"])
def test_damaged_manifest_is_recovered_from_its_backup_without_embedding(small_qa, corpus, tmp_path,
                                                                       encode_calls, how):
    index_dir = tmp_path / "index"
    _damage(index_dir, how)
    qa = QA(sources=[corpus], index_dir=index_dir)
    assert embedded(encode_calls) == 0 and qa.build_seconds is None
    assert [c.id for c in qa.chunks] == [c.id for c in small_qa.chunks]
    assert FaissStore(index_dir).load().manifest["build"] == small_qa.manifest["build"]  # restored


def test_leftovers_of_a_crashed_build_are_ignored_then_cleaned(small_qa, corpus, tmp_path, encode_calls):
    index_dir = tmp_path / "index"
    leftovers = [index_dir / "vectors-20000101000000-0badf00d.faiss",
                 index_dir / "chunks-20000101000000-0badf00d.jsonl",
                 index_dir / f".{MANIFEST}.20000101000000-0badf00d.tmp"]
    for p in leftovers:
        p.write_bytes(b"\x00half a build")
    reopened = QA(sources=[corpus], index_dir=index_dir)  # ignored: the index is current
    assert embedded(encode_calls) == 0
    assert reopened.ask("桂花苑的充电桩在哪里？").found
    (corpus / "parking.txt").write_text(PARKING + "\n电动自行车须停在非机动车库。\n", encoding="utf-8")
    QA(sources=[corpus], index_dir=index_dir)  # the next build cleans them
    assert embedded(encode_calls) > 0
    assert not any(p.exists() for p in leftovers)


def test_builtin_article_is_the_default_source(qa_builtin):
    assert [Path(s) for s in qa_builtin.manifest["sources"]] == [BUILTIN_CORPUS.resolve()]
    assert {c.path for c in qa_builtin.chunks} == {str(BUILTIN_CORPUS.resolve())}


def test_index_in_another_folder_is_independent(small_qa, encoder, corpus, tmp_path, encode_calls):
    shutil.copytree(tmp_path / "index", tmp_path / "copy")
    qa = QA(sources=[corpus], index_dir=tmp_path / "copy")
    assert embedded(encode_calls) == 0
    assert qa.ask("访客车辆在哪里登记？").best.text == small_qa.ask("访客车辆在哪里登记？").best.text


def test_bm25_from_sentence_tokens_equals_bm25_of_whole_blocks(qa_builtin):
    """Each sentence is tokenized once and its block reuses its tokens: same scores as tokenizing
    every block whole, heading (or title) first."""
    import numpy as np

    from qa.index.sparse import SparseIndex

    tokenizer, retriever = qa_builtin.tokenizer, qa_builtin.retriever
    blocks: dict = {}
    for c in qa_builtin.chunks:
        blocks.setdefault((c.path, c.block), [c.section or c.source]).append(c.text)
    assert list(blocks) == [(c.path, c.block) for c in
                            (qa_builtin.chunks[m[0]] for m in retriever.members)]
    whole = SparseIndex([tokenizer.tokens(parts[0]) + tokenizer.tokens("".join(parts[1:]))
                         for parts in blocks.values()], tokenizer)
    for question in ("雍景苑停车", "业委会换届选举", "江湾国际门禁纠纷"):
        tokens = tokenizer.query_tokens(question)
        assert whole.scores(tokens).any()
        np.testing.assert_allclose(retriever.sparse.scores(tokens), whole.scores(tokens), rtol=1e-6)


def test_index_turns_approximate_when_updates_grow_it_and_back_without_embedding_again(
        encoder, tmp_path, monkeypatch, encode_calls):
    from benchmarks.corpus import write_generated_corpus
    from qa.index import faiss_index

    folder = tmp_path / "kb"
    folder.mkdir()
    shutil.copy(BUILTIN_CORPUS, folder / "article.txt")
    kb = QA(sources=[folder], index_dir=tmp_path / "index")
    before = len(kb.chunks)
    monkeypatch.setattr(faiss_index, "EXACT_MAX", before + 10)  # the next upload crosses it
    extra = write_generated_corpus(tmp_path / "more", n_sentences=120, per_file=120, seed=4)[0]
    kb.add([extra])
    index = kb.vector_index
    assert len(kb.chunks) > before + 10 and index.kind == "ivf"
    assert index.count() == len(kb.chunks)
    assert kb.ask("雍景苑的停车难题是怎么解决的？").found
    calls = embedded(encode_calls)
    kb.remove([extra])  # IVF cannot remove in place: rebuilt from its own vectors
    assert kb.vector_index.kind == "flat" and len(kb.chunks) == before
    assert embedded(encode_calls) == calls  # nothing embedded again
    assert kb.ask("雍景苑的停车难题是怎么解决的？").found


def test_english_question_finds_the_passage_with_the_translated_words(qa_builtin):
    answer = qa_builtin.ask("When was the seminar held?", k=3)
    assert "研讨会" in answer.hits[0].text and answer.found


# ----- answer checks (qa.answerable) -----

def test_a_question_for_a_fact_the_knowledge_base_lacks_is_not_found(small_qa):
    # each pair: the same frame, answered by the text or asking what it never gives
    assert small_qa.ask("桂花苑小区有多少个地下车位？").found
    lacking = small_qa.ask("桂花苑小区一共有多少户居民？")
    assert not lacking.found and lacking.hits  # the closest passages are still given
    assert small_qa.ask("桂花树在几月开花？").found
    assert not small_qa.ask("桂花苑小区是哪一年建成的？").found
    assert small_qa.ask("桂花苑小区的访客车辆在哪里登记？").found
    assert not small_qa.ask("深圳的小区访客车辆在哪里登记？").found


def test_the_checks_can_be_turned_off(small_qa, corpus, tmp_path):
    lacking = "桂花苑小区一共有多少户居民？"
    plain = QA(sources=[corpus], index_dir=tmp_path / "index", config=Config(answer_checks=False))
    off, on = plain.ask(lacking), small_qa.ask(lacking)
    assert off.found and not on.found
    assert on.confidence == pytest.approx(off.confidence * UNANSWERED_SHARE, abs=1e-3)
    assert [h.text for h in on.hits] == [h.text for h in off.hits]
