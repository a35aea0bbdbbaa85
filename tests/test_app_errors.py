"""Input the caller can fix gets a message, and the server log no traceback."""

from __future__ import annotations

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402


def test_expected_refusals_leave_no_traceback_in_the_log(small_kb, launch_local, capfd):
    from qa.serve import ui

    qa = small_kb("灯塔.txt", "白鹭岛灯塔\n\n白鹭岛灯塔建成于一八九二年，塔身用花岗岩砌成。\n")
    demo = ui.build_demo(qa, examples=(), warm=False)
    url = launch_local(demo)
    try:
        client = gradio_client.Client(url, verbose=False)
        capfd.readouterr()
        with pytest.raises(AppError, match="知识库里没有这个文档"):
            client.predict("不存在.txt", api_name="/kb_remove")
        with pytest.raises(AppError, match="k 必须是"):
            client.predict("灯塔", 0, api_name="/ask")
        err = capfd.readouterr().err
        assert "Traceback" not in err
    finally:
        demo.close()
