"""The 知识库 tab through gradio_client: upload, list and remove documents in an app over a tmp index."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio.utils import get_upload_folder  # noqa: E402
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from qa.serve import ui, ui_render  # noqa: E402
from qa.serve.upload_owners import middleware_options  # noqa: E402
from qa.serve.uploads import MAX_UPLOAD_BYTES  # noqa: E402

BASE_TEXT = """西湖龙井茶

龙井茶产于杭州西湖周边的群山之中，以色绿、香郁、味甘、形美四绝著称。
每年清明节前采摘的明前茶最为名贵，茶农用手在铁锅里炒制，一锅只能炒出几两干茶。
"""
#: The uploaded document: facts the base document does not hold.
LIGHTHOUSE = """白鹭岛灯塔

白鹭岛灯塔建成于一八九二年，塔身用花岗岩砌成，高二十三米。
守塔人陈阿婆在岛上住了四十年，每天傍晚登上塔顶点亮灯火，为过往渔船指引航道。
一九八五年灯塔改用电力照明，陈阿婆仍然每天上塔擦拭灯罩。
"""
LIGHTHOUSE_QUESTION = "白鹭岛灯塔的守塔人是谁？"
#: Bytes of a PNG image: binary, whatever the name says.
NOT_A_PDF = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8



@pytest.fixture(scope="module")
def kb_qa(small_kb):
    """QA over one small Chinese text; uploads go to <tmp>/kb."""
    return small_kb("龙井茶.txt", BASE_TEXT)


@pytest.fixture(scope="module")
def url(kb_qa, launch_local):
    demo = ui.build_demo(kb_qa, examples=(), warm=False)
    # with the middleware that records who uploaded what (ui_page.page_options has it too)
    yield launch_local(demo, **middleware_options({"max_file_size": MAX_UPLOAD_BYTES}))
    demo.close()


@pytest.fixture(scope="module")
def client(url):
    return gradio_client.Client(url, verbose=False)


def upload(client, *paths: Path) -> tuple:
    """Call /kb_upload; returns (report as the reader sees it, file picker, description, panel, table,
    skipped, choices)."""
    report, *rest = client.predict([handle_file(str(p)) for p in paths], api_name="/kb_upload")
    return (ui_render.unescape_markdown(report), *rest)


def titles(client) -> list[str]:
    return [d["title"] for d in client.predict(api_name="/kb_list")["documents"]]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def every_file(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_upload_is_answered_listed_shown_and_removed(client, kb_qa, tmp_path):
    assert titles(client) == ["西湖龙井茶"]
    assert not client.predict(LIGHTHOUSE_QUESTION, api_name="/ask")["found"]

    cached_before = every_file(Path(get_upload_folder()))
    report, picker, about, panel, table, skipped, _ = upload(client, write(tmp_path / "灯塔.txt", LIGHTHOUSE))
    passages = next(d["passages"] for d in kb_qa.documents() if d["title"] == "白鹭岛灯塔")
    assert f"灯塔.txt：已加入，《白鹭岛灯塔》，{passages} 个段落" in report.replace("**", "")
    assert picker is None  # the picker is emptied for the next upload
    assert "白鹭岛灯塔" in panel and "2 篇文档" in about  # the chat tab's panel and description
    assert ["白鹭岛灯塔", "灯塔.txt", "纯文本", passages, 0] in table["data"]
    assert (Path(kb_qa.kb_dir) / "灯塔.txt").read_text(encoding="utf-8") == LIGHTHOUSE
    # the only copy kept is the knowledge base's: Gradio's cached upload is deleted
    assert not [p for p in every_file(Path(get_upload_folder())) - cached_before if p.name == "灯塔.txt"]
    assert sorted(titles(client)) == sorted(["西湖龙井茶", "白鹭岛灯塔"])

    # the chat answers from the new document, without a restart
    result = client.predict(LIGHTHOUSE_QUESTION, api_name="/ask")
    assert result["found"] and "陈阿婆" in result["passage"]
    assert result["citation"].startswith("《白鹭岛灯塔》")
    history = client.predict(LIGHTHOUSE_QUESTION, [], api_name="/chat")
    assert "陈阿婆" in ui_render.message_text(history[1])

    path = str(Path(kb_qa.kb_dir).resolve() / "灯塔.txt")
    removed, about, panel, table, _, choices = client.predict(path, api_name="/kb_remove")
    assert "已从知识库移除《白鹭岛灯塔》" in removed and "一并删除" in removed
    assert "白鹭岛灯塔" not in panel and "1 篇文档" in about
    assert [row[0] for row in table["data"]] == ["西湖龙井茶"]
    assert not (Path(kb_qa.kb_dir) / "灯塔.txt").exists()
    assert titles(client) == ["西湖龙井茶"]
    assert "陈阿婆" not in client.predict(LIGHTHOUSE_QUESTION, api_name="/ask")["passage"]


def test_bad_upload_is_refused_with_its_reason_and_the_others_are_added(client, kb_qa, tmp_path):
    before = every_file(Path(kb_qa.kb_dir)) if Path(kb_qa.kb_dir).exists() else set()
    fake = write(tmp_path / "报告.pdf", NOT_A_PDF)
    empty = write(tmp_path / "空白.txt", "  \n")
    good = write(tmp_path / "茶具.md", "# 紫砂壶\n\n宜兴紫砂壶用当地的紫泥烧制，透气性好，泡茶不失原味。\n")
    report = upload(client, fake, empty, good)[0]
    lines = report.replace("**", "").splitlines()
    assert "1 个文件已加入，2 个未加入" in lines[0]
    assert "- 报告.pdf：未加入。不是 PDF 文件（缺少 %PDF 文件头）" in lines
    assert "- 空白.txt：未加入。文件是空的" in lines
    assert any(line.startswith("- 茶具.md：已加入，《紫砂壶》") for line in lines)
    kb_files = every_file(Path(kb_qa.kb_dir)) - before
    assert [p.name for p in kb_files] == ["茶具.md"]  # nothing of the refused files was kept
    assert "紫砂壶" in titles(client)
    client.predict("茶具.md", api_name="/kb_remove")  # a bare file name works too
    assert "紫砂壶" not in titles(client)


def test_path_traversal_names_land_inside_the_knowledge_base_folder(client, kb_qa, url, tmp_path):
    # A Windows-style name is one legal file name on Linux: gradio_client sends it as it is.
    kb_dir = Path(kb_qa.kb_dir).resolve()
    sneaky = write(tmp_path / "..\\..\\逃逸.txt", "逃逸测试\n\n这份文件想把自己写到知识库文件夹之外。\n")
    outside = kb_dir.parents[1]  # where ../../ from the knowledge-base folder leads

    def files_here() -> set[Path]:  # the index's own files change with every update
        return {p for p in every_file(outside) if not p.is_relative_to(kb_qa.index_dir.resolve())}

    before = files_here()
    report = upload(client, sneaky)[0]
    assert "逃逸.txt：**已加入**" in report and ".." not in report
    assert files_here() - before == {kb_dir / "逃逸.txt"}
    # A raw multipart upload that names its file ../../ keeps only the base name on the server.
    body = "逃逸二\n\n另一份试图逃出去的文件。\n".encode()
    posted = httpx.post(url.rstrip("/") + "/gradio_api/upload", timeout=30,
                        files=[("files", ("../../逃逸二.txt", body))])
    assert posted.status_code == 200
    [server_path] = posted.json()
    assert Path(server_path).name == "逃逸二.txt"
    assert Path(server_path).resolve().is_relative_to(Path(get_upload_folder()).resolve())
    Path(server_path).unlink()
    Path(server_path).parent.rmdir()
    client.predict("逃逸.txt", api_name="/kb_remove")
    assert files_here() == before


def test_upload_over_the_size_limit_is_refused_by_gradio(url, tmp_path):
    big = write(tmp_path / "大文件.txt", b"a" * (MAX_UPLOAD_BYTES + 1))
    with open(big, "rb") as f:
        posted = httpx.post(url.rstrip("/") + "/gradio_api/upload", files=[("files", ("大文件.txt", f))],
                            timeout=60)
    assert posted.status_code == 413


def test_removing_an_unknown_document_is_refused(client):
    for name in ("不存在.txt", "../../etc/passwd", ""):
        with pytest.raises(AppError, match="知识库里没有这个文档|请先"):
            client.predict(name, api_name="/kb_remove")
    with pytest.raises(AppError, match="必须是文件名或路径"):  # not a name: refused, not a crash
        client.predict(["龙井茶.txt"], api_name="/kb_remove")
    assert titles(client) == ["西湖龙井茶"]


def test_names_and_titles_are_escaped_in_the_upload_report(tmp_path):
    saved = {"name": "<img src=x onerror=alert(1)>.txt", "replaced": False,
             "document": {"title": "**粗体** [链接](javascript:x)", "passages": 3}}
    report = ui_render.upload_report([("a<b>.pdf", "a<b>.pdf：不是 PDF 文件", None), ("x", None, saved)])
    assert "<img" not in report and "<b>" not in report and "&lt;img" in report
    assert "\\*\\*粗体\\*\\*" in report and "\\[链接\\]" in report


def test_uploads_and_removals_are_refused_when_the_page_is_public(kb_qa, launch_local):
    demo = ui.build_demo(kb_qa, examples=(), warm=False, writable=False)
    local_url = launch_local(demo)
    try:
        client = gradio_client.Client(local_url, verbose=False)
        with pytest.raises(AppError, match="上传和移除已关闭"):
            client.predict("龙井茶.txt", api_name="/kb_remove")
        assert [d["title"] for d in client.predict(api_name="/kb_list")["documents"]] == ["西湖龙井茶"]
    finally:
        demo.close()


def test_tables_show_format_counts_and_skipped_reasons_without_server_paths():
    documents = [{"title": "甲", "path": "/kb/a.md", "format": "text", "passages": 3,
                  "sections": ["一", "二"]},
                 {"title": "乙", "path": "/kb/b.pdf", "format": "pdf", "passages": 5, "sections": []}]
    assert ui_render.document_rows(documents) == [["甲", "a.md", "Markdown", 3, 2],
                                                  ["乙", "b.pdf", "PDF", 5, 0]]
    assert ui_render.document_choices(documents)[1] == ("乙（b.pdf）", "/kb/b.pdf")
    skipped = [{"path": "/srv/docs/c.pdf", "reason": "/srv/docs/c.pdf: not a readable PDF"}]
    assert ui_render.skipped_rows(skipped) == [["c.pdf", "无法读取：not a readable PDF"]]


def test_an_uploaded_html_page_is_cited_by_paragraph_in_ask_and_chat(client, tmp_path):
    page = write(tmp_path / "风筝节.html", "<html><head><title>潍坊风筝节</title></head><body>"
                 "<h1>潍坊风筝节</h1><p>潍坊国际风筝节每年四月在浮烟山举行。</p>"
                 "<p>来自各国的风筝爱好者放飞巨型龙头蜈蚣风筝，最长的一只有三百米。</p></body></html>")
    assert "风筝节.html：**已加入**" in upload(client, page)[0]
    question = "潍坊的龙头蜈蚣风筝最长有多少米？"
    hit = client.predict(question, api_name="/ask")["hits"][0]
    assert "三百米" in hit["text"] and hit["lines"] == []  # HTML has paragraphs, not lines
    assert hit["location"].startswith("第") and hit["location"].endswith("段")
    assert hit["citation"].endswith(hit["location"])
    history = client.predict(question, [], api_name="/chat")
    assert ui_render.escape_markdown(hit["citation"]) in ui_render.message_text(history[1])
    client.predict("风筝节.html", api_name="/kb_remove")


def test_the_file_picker_offers_the_supported_types_and_gradio_refuses_others(kb_qa, client, tmp_path):
    import gradio as gr

    from qa.serve.uploads import ALLOWED_SUFFIXES

    demo = ui.build_demo(kb_qa, examples=(), warm=False)
    [picker] = [b for b in demo.blocks.values() if isinstance(b, gr.File) and b.elem_id == "kb-files"]
    assert picker.file_count == "multiple"
    assert picker.file_types == list(ALLOWED_SUFFIXES)  # the one list (qa.ingest.SUFFIX_FORMATS)
    assert {".markdown", ".pptx", ".xlsx", ".csv", ".png", ".jpg"} <= set(picker.file_types)
    cache = Path(get_upload_folder())
    cached_before = every_file(cache)
    with pytest.raises(AppError):  # the API checks the types too, before the app sees the files
        upload(client, write(tmp_path / "程序.exe", b"MZ\x90\x00"))
    assert titles(client) == ["西湖龙井茶"]
    for leftover in every_file(cache) - cached_before:  # Gradio keeps what it refused (delete_cache)
        if leftover.name == "程序.exe":
            leftover.unlink()
            leftover.parent.rmdir()


def test_an_upload_that_embeds_past_the_time_limit_is_refused_with_its_reason(client, kb_qa, tmp_path,
                                                                              monkeypatch):
    from qa import config
    from qa.index import embed

    before = every_file(Path(kb_qa.kb_dir)) if Path(kb_qa.kb_dir).exists() else set()
    text = "".join(f"第{n}号码头的渡轮每隔{n}十分钟开一班。\n\n" for n in range(1, 9))
    monkeypatch.setattr(embed, "DEADLINE_GROUP", 1)
    monkeypatch.setattr(config, "MAX_EMBED_SECONDS", 0.0)
    report = upload(client, write(tmp_path / "渡轮.txt", text))[0].replace("**", "")
    assert any(line.startswith("- 渡轮.txt：未加入。建立索引超时") for line in report.splitlines())
    assert (every_file(Path(kb_qa.kb_dir)) if Path(kb_qa.kb_dir).exists() else set()) == before
    assert titles(client) == ["西湖龙井茶"]


def test_a_read_only_replica_lists_documents_without_upload_or_remove_controls(kb_qa, launch_local):
    import gradio as gr

    from qa import QA

    replica = QA(index_dir=kb_qa.index_dir, kb_dir=kb_qa.kb_dir, replica=True)
    demo = ui.build_demo(replica, examples=(), warm=False, writable=True)
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    for control in ("kb-files", "kb-upload", "kb-remove-choice", "kb-remove"):
        shown, block = True, by_id[control]
        while block is not None:  # hidden itself or inside a hidden row
            shown = shown and getattr(block, "visible", True) is not False
            block = block.parent
        assert not shown, control
    assert "只读副本" in by_id["kb-replica"].value
    assert isinstance(by_id["kb-documents"], gr.Dataframe) and by_id["kb-documents"].visible
    local_url = launch_local(demo)
    try:
        client = gradio_client.Client(local_url, verbose=False)
        assert [d["title"] for d in client.predict(api_name="/kb_list")["documents"]] == ["西湖龙井茶"]
        with pytest.raises(AppError, match="只读副本"):
            client.predict("龙井茶.txt", api_name="/kb_remove")
    finally:
        demo.close()
    assert titles_of(kb_qa) == ["西湖龙井茶"]


def titles_of(qa) -> list[str]:
    return [d["title"] for d in qa.documents()]
