"""Hardening of the served app (issue 13): server files, other sites, Gradio's upload and JSON
routes, stalled bodies, non-text questions. Each test is one attack that worked before."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.serve.rest import create_app
from qa.serve.security import BODY_TIMEOUT, allowed_hosts, foreign_paths
from qa.serve.settings import MAX_GRADIO_BODY_BYTES, MAX_UPLOAD_BODY_BYTES, Settings

LOCAL = "http://127.0.0.1"
BASE = "阅览室每周一闭馆整理图书，其余时间上午九点开放。\n"
SECRET = "机密口令是青蛙七号，绝不外传。"


@pytest.fixture(scope="module")
def kb_qa(small_kb):
    return small_kb("阅览室.txt", BASE)


@pytest.fixture(scope="module")
def served(kb_qa, serve_app):
    """The app as app.py serves it (REST + Gradio page) on a loopback port."""
    from qa.serve import ui

    demo = ui.build_demo(kb_qa, warm=False)
    return serve_app(create_app(kb_qa, demo, Settings(port=0),
                                gradio_options={"max_file_size": MAX_UPLOAD_BODY_BYTES}))


@pytest.fixture(scope="module")
def client(kb_qa):
    with TestClient(create_app(kb_qa, settings=Settings()), base_url=LOCAL) as c:
        yield c


NOTE = "借书证丢失要及时挂失补办。\n".encode()


def upload(client, name="笔记.txt", data=NOTE, headers=None):
    return client.post("/api/documents", files={"file": (name, data, "text/plain")}, headers=headers or {})


def gradio_call(url: str, api_name: str, data: list, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{url.rstrip('/')}/gradio_api/call/{api_name}", json={"data": data},
                      headers=headers or {}, timeout=30)


# ----- 1. server files through Gradio's kb_upload -----

@pytest.mark.parametrize("as_given", ["absolute", "relative"])
def test_a_gradio_call_naming_a_server_file_is_refused(served, kb_qa, tmp_path, as_given):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    path = str(secret) if as_given == "absolute" else "../../../../../../.." + str(secret)
    posted = gradio_call(served, "kb_upload", [[{"path": path, "meta": {"_type": "gradio.FileData"}}]])
    assert posted.status_code == 403, posted.text
    if posted.status_code == 200:  # let the event run before looking
        httpx.get(f"{served}/gradio_api/call/kb_upload/{posted.json()['event_id']}", timeout=60)
    kb_qa.refresh()
    assert not any("secret" in Path(d["path"]).name for d in kb_qa.documents())
    assert SECRET not in " ".join(h.text for h in kb_qa.ask("机密口令是什么？").hits)


def test_a_path_without_file_metadata_is_refused_too(served, tmp_path):
    secret = tmp_path / "secret2.txt"
    secret.write_text(SECRET, encoding="utf-8")
    assert gradio_call(served, "kb_upload", [[{"path": str(secret)}]]).status_code == 403


def test_foreign_paths_finds_nested_paths_that_were_not_uploaded():
    body = json.dumps({"data": [[{"path": "/tmp/gradio/a/x.txt"},
                                 {"x": [{"path": "/etc/passwd"}]}]]}).encode()
    assert foreign_paths(body, {"/tmp/gradio/a/x.txt"}) == ["/etc/passwd"]
    assert foreign_paths(b"not json", set()) == []


def test_kb_upload_accepts_only_files_gradio_received():
    from qa.serve import ui_kb

    cache = Path("/tmp/gradio-test-cache").resolve()
    assert not ui_kb.is_received_upload("/etc/hostname", {"/etc/hostname"}, cache)  # outside the cache
    assert not ui_kb.is_received_upload(str(cache / "x" / "a.txt"), set(), cache)  # never uploaded


def gradio_result(client: httpx.Client, url: str, api_name: str, data: list) -> tuple[int, str]:
    """(status of the call, the event's stream once it ended) for a call through `client`."""
    posted = client.post(f"{url.rstrip('/')}/gradio_api/call/{api_name}", json={"data": data}, timeout=30)
    if posted.status_code != 200:
        return posted.status_code, posted.text
    stream = client.get(f"{url.rstrip('/')}/gradio_api/call/{api_name}/{posted.json()['event_id']}",
                        timeout=120)
    data = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")]
    return posted.status_code, json.dumps(data, ensure_ascii=False)


def upload_to_gradio(client: httpx.Client, url: str, name: str, text: str) -> str:
    client.get(url)  # the page: its answer sets the client's cookie
    r = client.post(f"{url.rstrip('/')}/gradio_api/upload", files=[("files", (name, text.encode()))],
                    timeout=30)
    assert r.status_code == 200, r.text
    [path] = r.json()
    return path


@pytest.fixture(scope="module")
def launched(kb_qa, launch_local):
    """The demo alone (Gradio's own server, no RequestGuard): only kb_upload's own check is left."""
    from qa.serve import ui
    from qa.serve.upload_owners import middleware_options

    demo = ui.build_demo(kb_qa, warm=False)
    yield launch_local(demo, **middleware_options())
    demo.close()


@pytest.mark.parametrize("where", ["served", "launched"])
def test_kb_upload_takes_only_the_files_this_client_uploaded(request, kb_qa, where):
    url = request.getfixturevalue(where)
    with httpx.Client() as a, httpx.Client() as b, httpx.Client() as nobody:
        path = upload_to_gradio(a, url, "甲的笔记.txt", SECRET + "\n")
        assert "qa_client" in a.cookies
        b.get(url)
        assert b.cookies["qa_client"] != a.cookies["qa_client"]
        file = [{"path": path, "meta": {"_type": "gradio.FileData"}}]
        for other in (b, nobody):  # another client, and one without the cookie, name A's upload
            status, stream = gradio_result(other, url, "kb_upload", [file])
            if where == "served":  # the guard refuses the call before Gradio reads the file
                assert status == 403 and "only files uploaded" in stream
            else:  # kb_upload itself refuses it
                assert status == 200 and "只接受通过本页上传的文件" in stream and "0 个文件已加入" in stream
            kb_qa.refresh()
            assert not any(Path(d["path"]).name == "甲的笔记.txt" for d in kb_qa.documents())
        status, stream = gradio_result(a, url, "kb_upload", [file])
        assert status == 200 and "**已加入**" in stream, stream
    kb_qa.refresh()
    assert any(Path(d["path"]).name == "甲的笔记.txt" for d in kb_qa.documents())
    kb_qa.remove([Path(kb_qa.kb_dir) / "甲的笔记.txt"])
    (Path(kb_qa.kb_dir) / "甲的笔记.txt").unlink()


def test_the_client_cookie_is_random_httponly_and_strict(served):
    from qa.serve.upload_owners import UploadOwners, valid_client_id

    first, second = httpx.get(served), httpx.get(served)
    cookies = [r.headers["set-cookie"] for r in (first, second)]
    assert all("HttpOnly" in c and "SameSite=Strict" in c and "Path=/" in c for c in cookies)
    values = [c.split(";")[0].split("=", 1)[1] for c in cookies]
    assert values[0] != values[1] and all(valid_client_id(v) for v in values)
    assert "set-cookie" not in httpx.get(served, cookies={"qa_client": values[0]}).headers
    owners = UploadOwners(max_paths=2)
    owners.record(values[0], ["/a", "/b", "/c"])  # bounded: the oldest is forgotten
    assert not owners.owns(values[0], "/a") and owners.owns(values[0], "/c")
    assert not owners.owns(values[1], "/c") and not owners.owns(None, "/c")


# ----- 2. cross-site writes and DNS rebinding -----

def test_a_write_from_another_site_is_refused(client, kb_qa):
    before = len(kb_qa.documents())
    r = upload(client, "跨站.txt", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    r = client.delete("/api/documents/阅览室.txt", headers={"Origin": "null"})
    assert r.status_code == 403
    assert len(kb_qa.documents()) == before


def test_a_request_for_another_host_name_is_refused(client):
    r = client.get("/api/documents", headers={"Host": "rebind.evil.example"})
    assert r.status_code == 421 and "QA_ALLOWED_HOSTS" in r.json()["detail"]
    assert upload(client, headers={"Host": "rebind.evil.example:7860"}).status_code == 421


def test_same_origin_and_non_browser_writes_still_work(client):
    r = upload(client, "同源.txt", headers={"Origin": "http://127.0.0.1"})
    assert r.status_code == 201, r.text
    assert client.delete("/api/documents/同源.txt").status_code == 200  # no Origin: not a browser


def test_allowed_hosts_loopback_by_default_configurable_and_open_on_a_wildcard_bind():
    assert allowed_hosts("127.0.0.1") >= {"localhost", "127.0.0.1", "::1"}
    assert "qa.example" in allowed_hosts("127.0.0.1", ["qa.example:7860"])
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("127.0.0.1", ["*"]) is None


def test_gradio_routes_check_host_and_origin_too(served):
    r = gradio_call(served, "ask", ["阅览室哪天闭馆？", 1], headers={"Host": "rebind.evil.example"})
    assert r.status_code == 421
    r = gradio_call(served, "kb_list", [], headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


# ----- 3. Gradio's upload route: size limit and write rule -----

def test_gradio_upload_over_the_limit_is_refused_before_it_is_read(served):
    big = b"x" * (MAX_UPLOAD_BODY_BYTES + 1024)
    r = httpx.post(f"{served}/gradio_api/upload", files=[("files", ("big.txt", big))], timeout=60)
    assert r.status_code == 413


def test_gradio_upload_needs_the_token_when_the_server_is_public(kb_qa):
    from qa.serve import ui

    demo = ui.build_demo(kb_qa, warm=False, writable=False)
    public = create_app(kb_qa, demo, Settings(host="0.0.0.0", token="tok-123"))
    with TestClient(public, base_url=LOCAL) as c:
        files = [("files", ("a.txt", "借书".encode()))]
        assert c.post("/gradio_api/upload", files=files).status_code == 401
        ok = c.post("/gradio_api/upload", files=files, headers={"Authorization": "Bearer tok-123"})
        assert ok.status_code == 200, ok.text
    open_without_token = create_app(kb_qa, demo, Settings(host="0.0.0.0"))
    with TestClient(open_without_token, base_url=LOCAL) as c:
        assert c.post("/gradio_api/upload", files=[("files", ("a.txt", b"x"))]).status_code == 403


# ----- 4. one body limit for every route -----

@pytest.mark.parametrize("route", ["/gradio_api/queue/join", "/gradio_api/call/ask",
                                   "/gradio_api/run/predict"])
def test_gradio_json_routes_have_a_body_limit(served, route):
    body = b'{"data": ["' + b"a" * (MAX_GRADIO_BODY_BYTES + 10) + b'"]}'
    r = httpx.post(served + route, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413


def test_a_chunked_body_over_the_limit_is_cut_off(served):
    def chunks():
        for _ in range(40):
            yield b"a" * 65536  # 2.5 MB, no Content-Length

    r = httpx.post(served + "/gradio_api/queue/join", content=chunks(), timeout=30,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_a_partial_body_is_dropped_after_the_timeout(kb_qa, serve_app):
    url = serve_app(create_app(kb_qa, None, Settings(port=0, body_timeout=1.5)))
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"question\": ")
        start = time.monotonic()
        reply = s.recv(4096)
        assert b" 408 " in reply.split(b"\r\n")[0], reply[:200]
        assert time.monotonic() - start < 10
    assert BODY_TIMEOUT <= 30  # the default


def test_a_connection_with_partial_headers_is_closed_after_the_timeout(kb_qa, serve_app):
    url = serve_app(create_app(kb_qa, None, Settings(port=0, body_timeout=1.5)))
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        start = time.monotonic()
        assert s.recv(4096) == b""  # closed by the server
        assert time.monotonic() - start < 10


# ----- 12. Gradio /ask takes text only -----

@pytest.mark.parametrize("question", [42, ["阅览室哪天闭馆？"], {"q": "阅览室"}])
def test_gradio_ask_refuses_a_question_that_is_not_text(served, question):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(served, verbose=False)
    with pytest.raises(AppError, match="文字"):
        client.predict(question, 1, api_name="/ask")
