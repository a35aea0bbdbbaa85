"""REST API: every endpoint and error through TestClient, the bind/token rule, and one real uvicorn server."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from qa.errors import IndexCorruptError, ModelError, QuestionError, UnsafeBindError
from qa.serve.dependencies import WRITE, write_routes
from qa.serve.rest import create_app
from qa.serve.server import build_server
from qa.serve.settings import Settings, bind_problem, is_loopback, settings_from_env
from qa.serve.statuses import ERROR_STATUS

# Our own questions about the built-in article (not from the shared dev set).
Q_PARTY = "新江湾城街道的“三驾马车”指的是哪三方？"
Q_ENGLISH = "Who chairs the owners' committee at Jiangwan International Apartments?"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(qa_builtin):
    with TestClient(base_url="http://127.0.0.1", app=create_app(qa_builtin, settings=Settings())) as c:
        yield c


def assert_error(response, status: int, contains: str = ""):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert contains.lower() in body["detail"].lower(), body["detail"]
    return body


# ----- happy paths -----

@pytest.mark.parametrize("question,k", [(Q_PARTY, 3), (Q_ENGLISH, 1), (Q_PARTY, 5)])
def test_ask_returns_what_the_engine_returns(client, qa_builtin, question, k):
    r = client.post("/api/ask", json={"question": question, "k": k})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = qa_builtin.ask(question, k=k).to_dict()
    assert body["found"] is expected["found"]
    assert len(body["hits"]) == len(expected["hits"]) == k
    for got, want in zip(body["hits"], expected["hits"], strict=True):
        assert got["text"] == want["text"] and got["score"] == want["score"]
        assert set(got["citation"]) >= {"source", "path", "lines", "display"}
        assert {key: got["citation"][key] for key in want["citation"]} == want["citation"]
        assert all(len(pair) == 2 and pair[0] <= pair[1] for pair in got["citation"]["lines"])
        assert got["citation"]["display"].startswith("《")


def test_ask_defaults_to_three_hits_and_accepts_whole_floats(client):
    assert len(client.post("/api/ask", json={"question": Q_PARTY}).json()["hits"]) == 3
    # JSON Schema counts 2.0 as an integer, so the API does too.
    assert len(client.post("/api/ask", json={"question": Q_PARTY, "k": 2.0}).json()["hits"]) == 2


def test_ask_cleans_the_question(client):
    r = client.post("/api/ask", json={"question": "  三驾马车\u200b  是什么？\n"})
    assert r.status_code == 200
    assert r.json()["question"] == "三驾马车 是什么？"


def test_documents_lists_the_index(client, qa_builtin):
    body = client.get("/api/documents").json()
    assert body["count"] == len(qa_builtin.documents()) == len(body["documents"]) >= 1
    doc = body["documents"][0]
    want = qa_builtin.documents()[0]
    assert doc == {"title": want["title"], "path": want["path"], "passages": want["passages"],
                   "sections": want["sections"]}
    assert doc["passages"] > 0 and "新江湾城" in doc["title"]


def test_health_reports_model_and_index(client, qa_builtin):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["ready"] is True
    assert body["model"] == qa_builtin.manifest["model"]["id"]
    assert body["dimension"] == qa_builtin.manifest["model"]["dimension"]
    assert body["passages"] == len(qa_builtin.chunks) and body["documents"] == 1
    assert body["index_created"] == qa_builtin.manifest["created"]


def test_openapi_and_docs(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/documents", "/api/health"} <= set(schema["paths"])
    ask = schema["components"]["schemas"]["AskRequest"]
    assert ask["required"] == ["question"] and ask["additionalProperties"] is False
    assert ask["properties"]["question"]["maxLength"] == 2000
    assert ask["properties"]["k"]["minimum"] == 1 and ask["properties"]["k"]["maximum"] == 50
    assert {"200", "400", "413", "422"} <= set(schema["paths"]["/api/ask"]["post"]["responses"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # every script and stylesheet of the docs pages comes from this server (no CDN: works offline)
    import re
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset


# ----- every bad input is a 4xx with a clear message -----

@pytest.mark.parametrize("raw,status,contains", [
    (b"{bad json", 400, "not valid JSON"),
    (b'{"question": "\xff\xfe\xfd"}', 400, "not valid UTF-8"),        # invalid UTF-8
    (b"[" * 30_000, 400, "nested too deeply"),
    (b'{"question": "a", "k": 1' + b"0" * 5000 + b"}", 400, "too many digits"),
    (b'{"question": "a", "k": NaN}', 422, "whole number"),
    (b'{"question": "a", "k": 1e400}', 422, "whole number"),
    (b'{"question": "\\ud800 alone"}', 422, "question"),              # lone surrogate
    (b"", 422, "Field required"),
    (b"null", 422, "dictionary"),
    (b"[1, 2, 3]", 422, "dictionary"),
    (b'"just a string"', 422, "dictionary"),
    (b'{"question": {"a": [1, {"b": null}]}, "k": [[]]}', 422, "question"),
    (b'{"k": 3}', 422, "question: Field required"),
    (b'{"question": "' + "问".encode() + b'", "top_k": 3}', 422, "top_k"),
])
def test_malformed_bodies(client, raw, status, contains):
    assert_error(client.post("/api/ask", content=raw, headers=JSON), status, contains)


@pytest.mark.parametrize("body,contains", [
    ({"question": ""}, "question"),
    ({"question": "   \n\t "}, "visible character"),
    ({"question": "\u200b\x01\x7f"}, "visible character"),
    ({"question": 42}, "valid string"),
    ({"question": None}, "valid string"),
    ({"question": ["三驾马车"]}, "valid string"),
    ({"question": "x" * 2001}, "at most 2000"),
    ({"question": "x" * 50_000}, "at most 2000"),
    ({"question": Q_PARTY, "k": 0}, "greater than or equal to 1"),
    ({"question": Q_PARTY, "k": -3}, "greater than or equal to 1"),
    ({"question": Q_PARTY, "k": 51}, "less than or equal to 50"),
    ({"question": Q_PARTY, "k": 10**30}, "less than or equal to 50"),
    ({"question": Q_PARTY, "k": "3"}, "whole number"),
    ({"question": Q_PARTY, "k": True}, "whole number"),
    ({"question": Q_PARTY, "k": 2.5}, "whole number"),
    ({"question": Q_PARTY, "k": None}, "whole number"),
])
def test_invalid_fields(client, body, contains):
    errors = assert_error(client.post("/api/ask", json=body), 422, contains)["errors"]
    assert errors and all(e["loc"][0] == "body" for e in errors)


def test_engine_question_error_becomes_422(client):
    # Schema-valid (1500 characters) but NFC doubles each of these letters past the engine's 2000 limit.
    body = assert_error(client.post("/api/ask", json={"question": "\u0958" * 1500}), 422, "too long")
    assert body["errors"] == []


def test_body_must_be_json(client):
    assert_error(client.post("/api/ask", data={"question": Q_PARTY}), 422, "Content-Type: application/json")
    assert_error(client.post("/api/ask", content=json.dumps({"question": Q_PARTY})), 422, "Content-Type")


def test_bodies_over_64_kib_get_413(client):
    # 50,000 Chinese characters are 150 KB of UTF-8: refused before parsing.
    assert_error(client.post("/api/ask", json={"question": "问" * 50_000}), 413, "at most 65536 bytes")

    def chunks():  # no Content-Length: the limit must count bytes as they arrive
        for _ in range(100):
            yield b"x" * 1024

    assert_error(client.post("/api/ask", content=chunks(), headers=JSON), 413, "too large")
    lying = client.post("/api/ask", content=b"{}", headers={**JSON, "content-length": "999999999"})
    assert lying.status_code == 413


def test_wrong_method_and_unknown_path(client):
    assert_error(client.get("/api/ask"), 405, "method not allowed")
    assert_error(client.delete("/api/documents"), 405, "method not allowed")
    assert_error(client.get("/api/nothing-here"), 404, "not found")


class StubQA:
    """Engine stand-in that raises a given error on ask()."""

    manifest = {"model": {"id": "stub", "dimension": 1}}
    chunks = ()
    build_seconds = None

    def __init__(self, error):
        self.error = error

    def ask(self, question, k=3):
        raise self.error

    def documents(self):
        return []


@pytest.mark.parametrize("error,status", [
    (QuestionError("the question is empty"), 422),
    (IndexCorruptError("index truncated"), 503),
    (ModelError("model missing"), 503),
])
def test_engine_errors_map_to_statuses(error, status):
    assert ERROR_STATUS[type(error)] == status
    with TestClient(base_url="http://127.0.0.1", app=create_app(StubQA(error), settings=Settings())) as c:
        assert_error(c.post("/api/ask", json={"question": Q_PARTY}), status, str(error))


def test_engine_bug_is_a_json_500(caplog):
    with TestClient(base_url="http://127.0.0.1", app=create_app(StubQA(KeyError("bug")), settings=Settings()),
                    raise_server_exceptions=False) as c:
        assert_error(c.post("/api/ask", json={"question": Q_PARTY}), 500, "internal error")
    assert "unexpected error on POST /api/ask" in caplog.text


def test_not_ready_without_an_engine():
    with TestClient(base_url="http://127.0.0.1", app=create_app(None, settings=Settings())) as c:
        r = c.get("/api/health")
        assert r.status_code == 503 and r.json()["ready"] is False and r.json()["status"] == "not ready"
        assert_error(c.post("/api/ask", json={"question": Q_PARTY}), 503, "loading")
        assert_error(c.get("/api/documents"), 503, "loading")


# ----- security: CORS, bind address, tokens -----

def test_cors_is_off_unless_configured(qa_builtin, monkeypatch):
    origin = {"origin": "https://example.org"}
    with TestClient(base_url="http://127.0.0.1", app=create_app(qa_builtin, settings=Settings())) as c:
        assert "access-control-allow-origin" not in c.get("/api/health", headers=origin).headers
    monkeypatch.setenv("QA_CORS_ORIGINS", "https://example.org, https://other.example")
    settings = settings_from_env()
    assert settings.cors_origins == ("https://example.org", "https://other.example")
    with TestClient(base_url="http://127.0.0.1", app=create_app(qa_builtin, settings=settings)) as c:
        assert c.get("/api/health", headers=origin).headers["access-control-allow-origin"] == origin["origin"]
        assert "access-control-allow-origin" not in c.get(
            "/api/health", headers={"origin": "https://evil.example"}).headers


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.org", False), ("", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_bind_problem_rule():
    writes = ["POST /api/documents"]
    assert bind_problem("127.0.0.1", None, writes) is None          # loopback: no token needed
    assert bind_problem("0.0.0.0", None, []) is None                # read-only server may be public
    assert bind_problem("0.0.0.0", "s3cret-token", writes) is None  # token set: writes are guarded
    for token in (None, "", "   "):
        problem = bind_problem("0.0.0.0", token, writes)
        assert problem and "QA_API_TOKEN" in problem and "POST /api/documents" in problem


def _app_with_a_write_route(qa, settings: Settings):
    """The app plus a stand-in route that changes data, guarded the way real write routes must be."""
    app = create_app(qa, settings=settings)
    writes = APIRouter(prefix="/api", dependencies=WRITE)
    state = {"changed": 0}

    @writes.post("/test-write")
    def change():
        state["changed"] += 1
        return {"changed": state["changed"]}

    app.include_router(writes)
    return app, state


def test_write_routes_need_a_token_off_loopback(qa_builtin):
    app, state = _app_with_a_write_route(qa_builtin, Settings(host="0.0.0.0"))
    assert write_routes(app) == ["POST /api/documents", "DELETE /api/documents/{name}",
                                 "POST /api/test-write"]
    assert "POST /api/ask" not in write_routes(app)  # /api/ask only reads
    with TestClient(base_url="http://127.0.0.1", app=app) as c:
        assert_error(c.post("/api/test-write"), 403, "QA_API_TOKEN is not set")
    assert state["changed"] == 0
    with pytest.raises(UnsafeBindError, match="QA_API_TOKEN"):
        build_server(app)


def test_write_routes_check_the_token(qa_builtin):
    app, state = _app_with_a_write_route(qa_builtin, Settings(host="0.0.0.0", token="s3cret-token"))
    build_server(app)  # a token is configured: allowed to start
    with TestClient(base_url="http://127.0.0.1", app=app) as c:
        assert_error(c.post("/api/test-write"), 401, "Bearer")
        wrong = c.post("/api/test-write", headers={"Authorization": "Bearer s3cret-tokeN"})
        assert_error(wrong, 401, "wrong token")
        assert wrong.headers["www-authenticate"] == "Bearer"
        right = c.post("/api/test-write", headers={"Authorization": "Bearer s3cret-token"})
        assert right.json() == {"changed": 1}
    assert state["changed"] == 1


def test_writes_on_loopback_without_token(qa_builtin):
    app, state = _app_with_a_write_route(qa_builtin, Settings())
    with TestClient(base_url="http://127.0.0.1", app=app) as c:
        assert c.post("/api/test-write").status_code == 200
    assert state["changed"] == 1


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("QA_API_TOKEN", "  tok  ")
    monkeypatch.setenv("QA_API_THREADS", "3")
    monkeypatch.delenv("QA_CORS_ORIGINS", raising=False)
    s = settings_from_env(host="0.0.0.0")
    assert (s.token, s.threads, s.cors_origins, s.host, s.port) == ("tok", 3, (), "0.0.0.0", 7860)
    monkeypatch.setenv("QA_API_TOKEN", " ")
    assert settings_from_env().token is None


# ----- one real server: REST and Gradio from the same process -----

def _demo(qa):
    import gradio as gr

    with gr.Blocks(analytics_enabled=False) as demo:
        question = gr.Textbox(label="问题")
        answer = gr.Textbox(label="回答")
        question.submit(lambda q: qa.ask(q, k=1).hits[0].text, question, answer, api_name="ask")
    return demo


@pytest.fixture(scope="module")
def live_server(qa_builtin, serve_app):
    return serve_app(create_app(qa_builtin, _demo(qa_builtin), Settings(port=0)))


def test_real_server_serves_rest_and_gradio(live_server, qa_builtin):
    with httpx.Client(base_url=live_server, timeout=30) as http:
        r = http.post("/api/ask", json={"question": Q_PARTY, "k": 2})
        assert r.status_code == 200 and len(r.json()["hits"]) == 2
        assert r.json()["hits"][0]["text"] == qa_builtin.ask(Q_PARTY, k=2).hits[0].text
        page = http.get("/")
        assert page.status_code == 200 and "gradio" in page.text.lower()
        info = http.get("/gradio_api/info")
        assert info.status_code == 200 and "/ask" in info.json()["named_endpoints"]
        assert http.get("/api/health").json()["ready"] is True
        assert http.get("/docs").status_code == 200
        assert http.post("/api/ask", content=b"{", headers=JSON).status_code == 400
        # The API's own 404/405 even with Gradio mounted at "/".
        wrong = http.get("/api/ask")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json()["detail"] == "Method Not Allowed"
        assert http.get("/api/nothing-here").json() == {"detail": "Not Found", "errors": []}


def test_real_server_answers_concurrent_clients(live_server):
    questions = [Q_PARTY, Q_ENGLISH, "业委会规范化建设委员能提供什么支持？", "居委会和物业如何配合？"] * 4

    def one(q):
        with httpx.Client(base_url=live_server, timeout=30) as http:
            return http.post("/api/ask", json={"question": q}).status_code

    results: list[int] = []
    threads = [threading.Thread(target=lambda q=q: results.append(one(q))) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [200] * len(questions)


def test_app_launch_serves_through_the_rest_server(monkeypatch, qa_builtin):
    app = pytest.importorskip("app")
    from qa.serve import ui_page

    calls = []
    monkeypatch.setattr(app, "serve", lambda *a, **kw: calls.append((a, kw)))
    demo = object()
    app.launch(demo, "127.0.0.1", 7999, qa=qa_builtin)
    (args, kwargs), = calls
    assert args == (qa_builtin, demo, "127.0.0.1", 7999)
    options = kwargs["gradio_options"]
    assert options["css"] == ui_page.CSS and options["enable_monitoring"] is False

    def refuse(*a, **kw):
        raise UnsafeBindError("refusing to listen on 0.0.0.0: set QA_API_TOKEN")

    monkeypatch.setattr(app, "serve", refuse)
    with pytest.raises(SystemExit, match="QA_API_TOKEN"):
        app.launch(demo, "0.0.0.0", 7999, qa=qa_builtin)
