"""Property-based fuzz of the REST API against its OpenAPI schema (schemathesis): no 500s, no schema drift."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

FUZZ_TOKEN = "fuzz-token"


@pytest.fixture(scope="module")
def fuzz_qa(qa_builtin, builtin_index_dir, tmp_path_factory):
    """QA over a copy of the built-in index: the fuzzer uploads and deletes, and the session's
    qa_builtin (which other tests count documents of) must not see any of it."""
    import shutil

    from qa import QA

    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(builtin_index_dir, root / "index")
    return QA(index_dir=root / "index", kb_dir=root / "kb")  # same hashes: loaded, not re-embedded


@pytest.fixture(scope="module")
def api_schema(fuzz_qa):
    import gradio as gr

    from qa.serve.rest import Settings, create_app

    # The app as served: a Gradio page mounted at "/" must not change how /api answers.
    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Textbox(label="问题")
    # With a token set, the write routes are fuzzed authenticated, and the ignored_auth check
    # sends them without or with a wrong token and expects a 401.
    # schemathesis calls the app as "testserver": a name the Host allow-list must be told about.
    app = create_app(fuzz_qa, demo, settings=Settings(token=FUZZ_TOKEN, allowed_hosts=("testserver",)))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.update(headers={"Authorization": f"Bearer {FUZZ_TOKEN}"})
    # Both valid and schema-breaking inputs; bounded so the whole run stays well under a minute on 2 cores.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=60,
                                    deterministic=True)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    # Default checks: no 5xx, documented status codes and content types, bodies match the response
    # schemas, schema-invalid input rejected with a 4xx, undeclared methods answered with 405.
    excluded = []
    if case.operation.method.upper() == "POST" and case.operation.path == "/api/documents":
        # A schema cannot say "bytes that really are a .txt/.pdf/… with text in them": schema-valid
        # uploads are rightly refused (415/422, both documented). Accepted uploads: test_rest_kb.py.
        excluded.append(positive_data_acceptance)
    response = case.call_and_validate(excluded_checks=excluded)
    assert response.status_code < 500


def test_fuzz_left_the_builtin_index_alone(qa_builtin, fuzz_qa):
    """The fuzzer wrote to its own copy only (runs after the fuzz: tests run in file order)."""
    assert len(qa_builtin.documents()) == 1
    assert fuzz_qa.index_dir != qa_builtin.index_dir
