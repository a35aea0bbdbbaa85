"""Property-based fuzz of the REST API against its OpenAPI schema (schemathesis): no 500s, no schema drift."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(qa_builtin):
    import gradio as gr

    from qa.server import Settings, create_app

    # The app as served: a Gradio page mounted at "/" must not change how /api answers.
    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Textbox(label="问题")
    app = create_app(qa_builtin, demo, settings=Settings())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
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
    response = case.call_and_validate()
    assert response.status_code < 500
