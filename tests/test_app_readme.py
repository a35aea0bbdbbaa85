"""The README's examples print what it says they print.

Each expression line of a README code block that ends in `# <value>` is evaluated in order and
its value compared with the comment: a Python literal must be equal; anything else must match the
value's repr (or, for print(), the printed line), where "…"/"……" in the comment stand for any text
left out. Prose after a literal ("False (the closest …)") or after two spaces in brackets is an
explanation, not output.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def code_block(heading: str, language: str) -> str:
    """The first ```language block under the README heading `heading`."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def statements(block: str) -> list[tuple[str, str | None]]:
    """(code, expected comment or None) per line; a comment continued on the next lines (a line
    holding only `#`) is joined to it."""
    out: list[tuple[str, str | None]] = []
    for line in block.splitlines():
        code, _, comment = line.partition("  # ")
        if not code.strip() and line.strip().startswith("#") and out and out[-1][1] is not None:
            out[-1] = (out[-1][0], out[-1][1] + line.strip()[1:].strip())
            continue
        if code.strip():
            out.append((code.rstrip(), comment.strip() if comment else None))
    return out


def expected_literal(comment: str):
    """The comment as a Python literal, or its first word as one when prose follows it."""
    for candidate in (comment, comment.split(" ", 1)[0]):
        try:
            return True, ast.literal_eval(candidate)
        except (ValueError, SyntaxError):
            continue
    return False, None


def matches_elided(comment: str, shown: str) -> bool:
    pieces = [re.escape(p) for p in re.split(r"\s*…+\s*", comment)]
    return re.fullmatch(".*?".join(pieces), shown, re.S) is not None


def check(code: str, comment: str | None, namespace: dict) -> None:
    tree = ast.parse(code)
    is_expression = len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if is_expression:
            value = eval(compile(ast.Expression(tree.body[0].value), "<README>", "eval"), namespace)
        else:
            exec(compile(tree, "<README>", "exec"), namespace)
    if comment is None or not is_expression:
        return
    printed = out.getvalue().rstrip("\n")
    comment = re.sub(r"\s{2,}\(.*\)$", "", comment)  # "   (an explanation)" after the output
    if printed:  # print(...): the comment shows the printed line
        assert matches_elided(comment, printed), f"{code}\n  README: {comment}\n  prints: {printed}"
        return
    literal, expected = expected_literal(comment)
    if literal and not matches_elided(comment, repr(value)):
        assert value == expected, f"{code}\n  README: {comment}\n  gives:  {value!r}"
    else:
        assert matches_elided(comment, repr(value)), f"{code}\n  README: {comment}\n  gives:  {value!r}"


def test_the_python_example_prints_what_the_readme_says(qa_builtin, builtin_index_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_INDEX_DIR", str(builtin_index_dir))  # the index the fixture built: no rebuild
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_docs").mkdir()
    notice = "停车通知\n\n小区东门下周一起禁止停车。\n"
    (tmp_path / "my_docs" / "通知.txt").write_text(notice, encoding="utf-8")
    namespace: dict = {}
    lines = statements(code_block("## Python", "python"))
    assert sum(comment is not None for _, comment in lines) >= 5
    for code, comment in lines:
        check(code, comment, namespace)


def test_the_api_example_prints_what_the_readme_says(qa_builtin, launch_local):
    pytest.importorskip("gradio_client")
    from qa.serve import ui

    demo = ui.build_demo(qa_builtin, warm=False)
    url = launch_local(demo)
    try:
        block = code_block("### API", "python").replace("http://127.0.0.1:7860/", url)
        lines = statements(block)
        assert sum(comment is not None for _, comment in lines) >= 3
        namespace: dict = {}
        for code, comment in lines:
            check(code, comment, namespace)
    finally:
        demo.close()


def test_the_checker_catches_a_wrong_comment():
    namespace: dict = {}
    check("x = [(45, 45), (47, 47)]", None, namespace)
    with pytest.raises(AssertionError):
        check("x", "[(43, 43), (45, 45), (47, 47)]", namespace)
    check("x", "[(45, 45), (47, 47)]", namespace)
    check("'雍景苑小区的停车状况得到极大改善'", "'雍景苑……改善'", namespace)
    with pytest.raises(AssertionError):
        check("print('True 第41行')", "True 第43…行", namespace)
    check("False", "False (the closest passages are still in .hits)", namespace)
    check("print(5, [[45, 45]])", "5 [[45, 45]]   (each hit: text, lines)", namespace)
