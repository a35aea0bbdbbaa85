"""`python -m qa ask` with a running service, and a reader that stops early (`| head`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qa import cli

ROOT = Path(__file__).resolve().parents[1]


def test_ask_json_into_head_ends_without_a_traceback(builtin_index_dir, qa_builtin):
    env = dict(os.environ, QA_SERVICE_URL="http://127.0.0.1:9")  # nothing listens there: in-process
    command = (f"{sys.executable} -m qa ask --json --index-dir {builtin_index_dir} "
               f"'雍景苑小区的停车管理条例是怎么制定的？' | head -n 2")
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.splitlines()[0] == "{"
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_ask_uses_a_running_service_for_the_same_index(qa_builtin, builtin_index_dir, serve_app, capsys):
    from qa.serve.rest import Settings, create_app

    base = serve_app(create_app(qa_builtin, None, Settings(port=0)))
    question = "雍景苑小区的停车管理条例是怎么制定的？"
    answer = cli.ask_service(base, question, 2, index_dir=builtin_index_dir)
    assert answer == json.loads(json.dumps(qa_builtin.ask(question, k=2).to_dict()))
    assert cli.main(["ask", "--service", base, "--json", "-k", "2", question]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["text"] == answer["hits"][0]["text"]


def test_ask_falls_back_when_the_service_serves_another_index(qa_builtin, serve_app, tmp_path):
    import pytest

    from qa.serve.rest import Settings, create_app

    base = serve_app(create_app(qa_builtin, None, Settings(port=0)))
    (tmp_path / "manifest.json").write_text('{"created": "another build"}', encoding="utf-8")
    with pytest.raises(cli.ServiceUnavailable):
        cli.ask_service(base, "林路是谁？", 1, index_dir=tmp_path)
    with pytest.raises(cli.ServiceUnavailable):
        cli.ask_service("http://127.0.0.1:9", "林路是谁？", 1, index_dir=tmp_path, timeout=0.5)
