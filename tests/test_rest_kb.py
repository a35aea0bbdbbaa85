"""REST write routes: upload and delete over a QA on a temporary index; refusals, tokens, the startup rule."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.errors import UnsafeBindError
from qa.serve.dependencies import write_routes
from qa.serve.rest import create_app
from qa.serve.server import build_server
from qa.serve.settings import MAX_UPLOAD_BODY_BYTES, Settings
from qa.serve.uploads import MAX_UPLOAD_BYTES

# Our own sentences: a base document, and an upload that answers a question the base cannot.
BASE = ("社区图书室\n\n社区图书室每天下午两点到六点开放，借书需要带居民卡。\n\n"
        "每人每次最多借三本书，借期两周。\n")
GARDEN = ("屋顶菜园管理办法\n\n屋顶菜园每周六上午八点开放，志愿者老周负责浇水和施肥。\n\n"
          "每户最多认领两块菜地，认领期为一年，到期后重新抽签。\n\n"
          "菜园的钥匙存放在五号楼门卫室，借用时需要登记姓名和房号。\n")
Q_GARDEN = "屋顶菜园的钥匙放在哪里？"
TOKEN = "s3cret-token"
WRITES = ["POST /api/documents", "DELETE /api/documents/{name}"]


@pytest.fixture(scope="module")
def kb_qa(small_kb):
    """QA over one small text in a temporary index; uploads go to <tmp>/kb (never the real index)."""
    return small_kb("图书室.txt", BASE)


@pytest.fixture(scope="module")
def client(kb_qa):
    with TestClient(base_url="http://127.0.0.1", app=create_app(kb_qa, settings=Settings())) as c:
        yield c


def upload(client, name: str, data: bytes, headers: dict | None = None):
    return client.post("/api/documents", files={"file": (name, data, "application/octet-stream")},
                       headers=headers or {})


def cited(client, question: str) -> set[str]:
    r = client.post("/api/ask", json={"question": question, "k": 3})
    assert r.status_code == 200, r.text
    return {Path(h["citation"]["path"]).name for h in r.json()["hits"]}


def kb_files(qa) -> list[str]:
    kb = Path(qa.kb_dir)
    return sorted(p.name for p in kb.iterdir()) if kb.exists() else []


def post_through_asgi(app, headers: list, chunks) -> tuple[int, int]:
    """POST /api/documents through ASGI itself (TestClient buffers bodies): (status, chunks read)."""
    read, sent = 0, []
    chunks = iter(chunks)

    async def receive():
        nonlocal read
        read += 1
        body = next(chunks, None)
        return {"type": "http.request", "body": body or b"", "more_body": body is not None}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/documents", "raw_path": b"/api/documents",
             "root_path": "", "scheme": "http", "query_string": b"", "http_version": "1.1",
             "headers": [(b"content-type", b"multipart/form-data; boundary=b"), *headers],
             "server": ("test", 80), "client": ("127.0.0.1", 1)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], read


def test_upload_ask_list_delete(client, kb_qa):
    assert "菜园.txt" not in cited(client, Q_GARDEN)
    r = upload(client, "菜园.txt", GARDEN.encode())
    assert r.status_code == 201, r.text
    body = r.json()
    path = str((Path(kb_qa.kb_dir) / "菜园.txt").resolve())
    assert body["name"] == "菜园.txt" and body["replaced"] is False
    assert body["document"] == {"title": "屋顶菜园管理办法", "path": path, "format": "text",
                                "passages": body["document"]["passages"], "sections": []}
    assert body["document"]["passages"] >= 1
    assert body["report"]["added"] == [path] and body["report"]["embedded"] >= 1

    r = client.post("/api/ask", json={"question": Q_GARDEN, "k": 1})
    hit = r.json()["hits"][0]
    assert hit["citation"]["path"] == path and "五号楼门卫室" in hit["text"]
    listed = client.get("/api/documents").json()
    assert listed["count"] == 2 and path in {d["path"] for d in listed["documents"]}

    r = client.delete("/api/documents/菜园.txt")
    assert r.status_code == 200, r.text
    assert r.json()["path"] == path and r.json()["deleted_file"] is True
    assert r.json()["report"]["removed"] == [path]
    assert "菜园.txt" not in cited(client, Q_GARDEN)
    assert client.get("/api/documents").json()["count"] == 1
    assert "菜园.txt" not in kb_files(kb_qa)
    r = client.delete("/api/documents/菜园.txt")
    assert r.status_code == 404 and "菜园.txt" in r.json()["detail"]


def test_uploading_the_same_name_replaces_it(client, kb_qa):
    assert upload(client, "通知.html", "<h1>通知</h1><p>周三下午停电两小时。</p>".encode()).status_code == 201
    r = upload(client, "通知.html", "<h1>通知</h1><p>周四上午停水三小时。</p>".encode())
    assert r.status_code == 201 and r.json()["replaced"] is True
    assert r.json()["document"]["format"] == "html" and r.json()["report"]["updated"]
    assert "停水" in (Path(kb_qa.kb_dir) / "通知.html").read_text(encoding="utf-8")
    assert client.delete("/api/documents/通知.html").status_code == 200


@pytest.mark.parametrize("name,data,status,says", [
    ("report.pdf", bytes(range(256)) * 8, 422, "不是 PDF"),          # binary renamed .pdf
    ("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, 422, "不是 PDF"),
    ("notes.docx", b"just text, not a zip", 422, "docx"),
    ("tool.exe", b"MZ\x90\x00" * 100, 415, "不支持的文件类型"),
    ("no-suffix", "没有扩展名的文字".encode(), 415, "无扩展名"),
    ("empty.txt", b"", 422, "空"),
    ("blank.txt", b"  \n\t\n", 422, "空"),
    ("binary.txt", b"\x7fELF" + b"\x00" * 100, 422, "二进制"),
])
def test_bad_uploads_are_refused_and_change_nothing(client, kb_qa, name, data, status, says):
    before_docs, before_files = kb_qa.documents(), kb_files(kb_qa)
    r = upload(client, name, data)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json") and says in r.json()["detail"]
    assert kb_qa.documents() == before_docs and kb_files(kb_qa) == before_files


def test_a_refused_document_s_reason_names_it_without_the_server_s_folders(client, kb_qa):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # a zip that passes the first look, then fails to parse
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document><<<not xml")
    r = upload(client, "坏文件.docx", buf.getvalue())
    assert r.status_code == 422 and "坏文件.docx" in r.json()["detail"]
    assert str(Path(kb_qa.kb_dir).resolve()) not in r.json()["detail"]


def test_upload_needs_the_file_field(client):
    r = client.post("/api/documents", data={"other": "x"})
    assert r.status_code == 422 and "file" in r.json()["detail"]
    assert client.post("/api/documents", json={"file": "x"}).status_code == 422


def test_path_traversal_names_stay_inside_kb_dir(client, kb_qa):
    kb = Path(kb_qa.kb_dir).resolve()
    for name in ("../../逃逸.txt", "..\\..\\逃逸.txt", "/etc/逃逸.txt"):
        r = upload(client, name, "这份文件试图写到知识库目录之外。\n".encode())
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "逃逸.txt" and Path(r.json()["document"]["path"]).parent == kb
    assert not (kb.parent.parent / "逃逸.txt").exists() and not Path("/etc/逃逸.txt").exists()
    assert client.delete("/api/documents/逃逸.txt").status_code == 200
    # A name that is not a plain file name never reaches the folder either.
    assert client.delete("/api/documents/..%2F图书室.txt").status_code == 404
    assert client.get("/api/documents").json()["count"] == 1


def test_oversized_uploads_get_413(client, kb_qa):
    # A file over 20 MB in a body the route still reads: kb reads 20 MB + 1 byte and refuses.
    r = upload(client, "big.txt", b"a" * (MAX_UPLOAD_BYTES + 1))
    assert r.status_code == 413 and "20 MB" in r.json()["detail"]
    # A declared length over the route's limit: refused before the body is read.
    lying = {"content-length": str(MAX_UPLOAD_BODY_BYTES + 1),
             "content-type": "multipart/form-data; boundary=b"}
    r = client.post("/api/documents", content=b"x", headers=lying)
    assert r.status_code == 413 and str(MAX_UPLOAD_BODY_BYTES) in r.json()["detail"]
    # The larger limit is this route's only: /api/ask keeps 64 KiB.
    assert client.post("/api/ask", json={"question": "问" * 30_000}).status_code == 413
    assert "big.txt" not in kb_files(kb_qa)


def test_chunked_oversized_upload_is_cut_off_early(kb_qa):
    # A body with no Content-Length is counted as it arrives; reading stops once it passes the limit.
    head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n")
    megabyte, offered = b"x" * (1024 * 1024), 100
    status, read = post_through_asgi(create_app(kb_qa, settings=Settings()), [],
                                     [head + megabyte] + [megabyte] * (offered - 1))
    assert status == 413
    assert read <= MAX_UPLOAD_BODY_BYTES // len(megabyte) + 2 < offered


def test_questions_are_answered_while_an_upload_embeds(client, kb_qa):
    # The upload is held inside the encoder; /api/ask must still answer, from the previous index.
    inner, embedding, release = kb_qa.encoder, threading.Event(), threading.Event()

    class HoldingEncoder:
        def encode(self, texts, **kwargs):
            if any("收回衣物" in t for t in texts):  # the upload's passage, not the question
                embedding.set()
                assert release.wait(60)
            return inner.encode(texts, **kwargs)

        def __getattr__(self, name):
            return getattr(inner, name)

    kb_qa.encoder = HoldingEncoder()
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        r=upload(client, "晾衣.txt", "楼顶晾衣架只能在白天使用，晚上八点后请收回衣物。\n".encode())))
    try:
        worker.start()
        assert embedding.wait(60), "the upload never reached the encoder"
        assert "晾衣.txt" not in cited(client, "楼顶晾衣架什么时候可以用？")
        assert client.get("/api/health").json()["ready"] is True
    finally:
        release.set()
        worker.join(60)
        kb_qa.encoder = inner
    assert result["r"].status_code == 201, result["r"].text
    assert "晾衣.txt" in cited(client, "楼顶晾衣架什么时候可以用？")
    assert client.delete("/api/documents/晾衣.txt").status_code == 200


def test_deleting_a_document_outside_the_upload_folder_keeps_its_file(client, kb_qa, tmp_path):
    base = next(Path(d["path"]) for d in kb_qa.documents() if Path(d["path"]).name == "图书室.txt")
    twin = tmp_path / "图书室.txt"
    twin.write_text("另一个图书室：周日闭馆。\n", encoding="utf-8")
    kb_qa.add([twin])
    try:
        r = client.delete("/api/documents/图书室.txt")
        assert r.status_code == 409 and str(twin.resolve()) in r.json()["detail"]
    finally:
        kb_qa.remove([twin])
    try:
        r = client.delete("/api/documents/图书室.txt")
        assert r.status_code == 200 and r.json()["deleted_file"] is False and r.json()["path"] == str(base)
        assert base.exists() and client.get("/api/documents").json()["count"] == 0
    finally:
        kb_qa.add([base])
    assert client.get("/api/documents").json()["count"] == 1


def test_write_routes_need_the_token_when_one_is_set(kb_qa):
    with TestClient(base_url="http://127.0.0.1", app=create_app(kb_qa, settings=Settings(token=TOKEN))) as c:
        for headers, status in (({}, 401), ({"Authorization": "Bearer wrong"}, 401),
                                ({"Authorization": f"Basic {TOKEN}"}, 401)):
            assert upload(c, "令牌.txt", "令牌测试。\n".encode(), headers).status_code == status
            assert c.delete("/api/documents/图书室.txt", headers=headers).status_code == status
        assert "令牌.txt" not in kb_files(kb_qa) and c.get("/api/documents").json()["count"] == 1
        # Reading needs no token.
        assert c.post("/api/ask", json={"question": "图书室几点开放？"}).status_code == 200
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert upload(c, "令牌.txt", "令牌测试：这是有令牌的上传。\n".encode(), right).status_code == 201
        assert c.delete("/api/documents/令牌.txt", headers=right).status_code == 200


def test_off_loopback_without_a_token_writes_are_refused_and_the_server_will_not_start(kb_qa):
    app = create_app(kb_qa, settings=Settings(host="0.0.0.0"))
    assert write_routes(app) == WRITES
    with TestClient(base_url="http://127.0.0.1", app=app) as c:
        r = upload(c, "公开.txt", "不应写入。\n".encode())
        assert r.status_code == 403 and "QA_API_TOKEN is not set" in r.json()["detail"]
        assert c.delete("/api/documents/图书室.txt").status_code == 403
    assert "公开.txt" not in kb_files(kb_qa)
    with pytest.raises(UnsafeBindError, match="QA_API_TOKEN") as refused:
        build_server(app)
    assert all(route in str(refused.value) for route in WRITES)
    build_server(create_app(kb_qa, settings=Settings(host="0.0.0.0", token=TOKEN)))  # token set: may start


def test_app_refuses_to_start_on_a_public_address_without_a_token(kb_qa, monkeypatch):
    app = pytest.importorskip("app")
    import gradio as gr

    monkeypatch.delenv("QA_API_TOKEN", raising=False)
    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Textbox()
    with pytest.raises(SystemExit, match="POST /api/documents.*QA_API_TOKEN"):
        app.launch(demo, "0.0.0.0", 7999, qa=kb_qa)


def test_openapi_describes_the_write_routes(client):
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/api/documents"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"201", "401", "403", "413", "415", "422"} <= set(post["responses"])
    created = post["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/UploadResponse")
    delete = schema["paths"]["/api/documents/{name}"]["delete"]
    assert {"200", "401", "403", "404"} <= set(delete["responses"])
    assert all(op["security"] == [{"QA_API_TOKEN": []}] for op in (post, delete))
    assert "security" not in schema["paths"]["/api/ask"]["post"]


def test_wrong_methods_are_405_with_gradio_mounted(kb_qa):
    import gradio as gr

    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Textbox()
    with TestClient(base_url="http://127.0.0.1", app=create_app(kb_qa, demo, settings=Settings())) as c:
        # The mount at "/" would answer these with Gradio's 404; route templates count too.
        r = c.get("/api/documents/图书室.txt")
        assert r.status_code == 405 and r.headers["allow"] == "DELETE"
        r = c.put("/api/documents")
        assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
        assert c.get("/api/documents").json()["count"] == 1


def test_the_token_is_checked_before_the_upload_is_read(kb_qa):
    # An unauthenticated upload is refused without reading its body.
    app = create_app(kb_qa, settings=Settings(token=TOKEN))
    status, read = post_through_asgi(app, [(b"authorization", b"Bearer wrong")], [b"x" * 1024] * 1000)
    assert status == 401 and read == 0


def test_an_upload_that_embeds_past_the_time_limit_is_refused_and_leaves_nothing(client, kb_qa, monkeypatch):
    from qa import config
    from qa.index import embed

    text = "".join(f"第{n}号储藏间在{n}号楼地下一层，钥匙由楼长保管。\n\n" for n in range(1, 9))
    assert upload(client, "储藏间.txt", "储藏间\n\n储藏间由物业统一管理。\n".encode()).status_code == 201
    before_docs, before_files = kb_qa.documents(), kb_files(kb_qa)
    monkeypatch.setattr(embed, "DEADLINE_GROUP", 1)  # the deadline is checked after each passage
    monkeypatch.setattr(config, "MAX_EMBED_SECONDS", 0.0)
    try:
        for name in ("楼长.txt", "储藏间.txt"):  # a new file, and one that would replace a document
            r = upload(client, name, text.encode())
            assert r.status_code == 422, r.text
            assert "建立索引超时" in r.json()["detail"] and name in r.json()["detail"]
            assert kb_qa.documents() == before_docs and kb_files(kb_qa) == before_files
        assert "物业统一管理" in (Path(kb_qa.kb_dir) / "储藏间.txt").read_text(encoding="utf-8")
    finally:
        monkeypatch.undo()
        assert client.delete("/api/documents/储藏间.txt").status_code == 200


def test_a_read_only_replica_answers_409_to_writes_with_the_engines_message(kb_qa):
    from qa import QA

    replica = QA(index_dir=kb_qa.index_dir, kb_dir=kb_qa.kb_dir, replica=True)
    files = kb_files(kb_qa)
    with TestClient(base_url="http://127.0.0.1", app=create_app(replica, settings=Settings())) as c:
        assert c.get("/api/documents").json()["count"] == len(kb_qa.documents())
        r = upload(c, "副本.txt", "副本不能写入。\n".encode())
        assert r.status_code == 409 and "replica" in r.json()["detail"]
        for name in ("图书室.txt", "不存在.txt"):
            r = c.delete(f"/api/documents/{name}")
            assert r.status_code == 409 and "replica" in r.json()["detail"]
        assert c.post("/api/ask", json={"question": "图书室几点开放？"}).status_code == 200
    assert kb_files(kb_qa) == files and len(replica.documents()) == len(kb_qa.documents())
