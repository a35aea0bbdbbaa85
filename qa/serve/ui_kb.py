"""The 知识库 tab's behaviour: upload, remove and list documents; show and export feedback.

Writes only while the page is `writable` (no other machine can reach it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from ..errors import QAError, SourceError, UploadError  # noqa: E402
from ..ingest import DOCUMENT_SUFFIXES  # noqa: E402
from . import feedback as feedback_store  # noqa: E402
from .ui_render import (  # noqa: E402
    description,
    document_choices,
    document_table,
    documents_html,
    escape_markdown,
    feedback_views,
    refusal,
    skipped_table,
    upload_report,
)
from .upload_owners import OWNERS, UploadOwners, client_from_request  # noqa: E402
from .uploads import delete_document, save_upload  # noqa: E402

log = logging.getLogger("qa.app")

#: File types the 知识库 tab's file picker offers (qa.serve.uploads checks each upload's content as well).
UPLOAD_TYPES = list(DOCUMENT_SUFFIXES)
#: Why the page refuses writes when other machines can reach it (the REST API's token guards them there).
WRITES_CLOSED = ("这个服务对其他机器开放，网页上的上传和移除已关闭；"
                 "请在服务器上用 python -m qa add / remove 管理知识库。")
#: Why a read-only replica (QA(replica=True), QA_REPLICA=1) takes no uploads or removals.
REPLICA_NOTE = ("这是知识库的只读副本（replica），只能提问和查看文档，不能上传或移除；"
                "请在建立知识库的服务器上用 python -m qa add / remove 管理知识库。")


def is_received_upload(path, received: set, upload_cache: Path) -> bool:
    """Whether `path` is a file Gradio's upload route received (it records each in its upload
    set) and still lies in its upload folder as a regular file, not a link."""
    raw = str(path)
    if raw not in received:
        return False
    try:
        resolved = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return resolved.is_relative_to(upload_cache) and resolved.is_file() and not Path(raw).is_symlink()


class KnowledgeBaseTab:
    """What the 知识库 tab does, over one loaded QA.

    Args:
        writable: allow uploads and removals (False when other machines can reach the page).
        received: returns the set of files Gradio's upload route received (the demo's upload set).
        replica: the engine is a read-only replica (refusals say so).
        owners: who uploaded which file (qa.serve.upload_owners; the process's record by default).
    """

    def __init__(self, qa, writable: bool, received: Callable[[], set], replica: bool = False,
                 owners: UploadOwners | None = None):
        self.qa = qa
        self.owners = owners if owners is not None else OWNERS
        self.replica = replica
        self.writable = writable and not replica
        self.received = received
        self.upload_cache = Path(get_upload_folder()).resolve()

    def views(self) -> tuple:
        """Everything that shows what is indexed, on both tabs, re-read from the engine."""
        self.qa.refresh()  # another process (python -m qa add/remove) may have updated the index
        current = self.qa.documents()
        return (description(current), documents_html(current), document_table(current),
                skipped_table(self.qa.skipped()), gr.Dropdown(choices=document_choices(current), value=None))

    def refuse_writes(self) -> None:
        if self.replica:
            raise refusal(REPLICA_NOTE)
        if not self.writable:
            raise refusal(WRITES_CLOSED)

    def upload(self, files, request: gr.Request = None) -> tuple:
        """Add uploaded files to the knowledge base, each on its own: a refused file does not stop
        the others. Returns the per-file report, an emptied file picker and the refreshed views.

        Only files that this caller uploaded (its cookie, qa.serve.upload_owners) are taken."""
        self.refuse_writes()
        client = client_from_request(request)
        results = [self._add(upload, client) for upload in files or []]
        return (upload_report(results), None) + self.views()

    def _add(self, upload, client: str | None = None) -> tuple[str, str | None, dict | None]:
        """(file name, refusal or None, save_upload's result or None) for one uploaded file."""
        path = Path(upload).resolve()
        name = path.name  # Gradio keeps the browser's base name for the cached copy
        if not is_received_upload(upload, self.received(), self.upload_cache):
            # Only what this server's upload route received: a path named in the call
            # (/etc/…, ../..) would otherwise copy a server file into the knowledge base.
            log.warning("refused a file that was not uploaded: %r", str(upload)[:300])
            return name, "只接受通过本页上传的文件。", None
        if not self.owners.owns(client, str(upload)):
            # Received, but from another client (or its record is gone): not this caller's file.
            log.warning("refused a file that this client did not upload: %r", str(upload)[:300])
            return name, "只接受通过本页上传的文件。", None
        self.owners.forget(str(upload))
        try:
            return name, None, save_upload(self.qa, name, path)
        except UploadError as e:
            return name, str(e), None
        except QAError as e:
            return name, f"无法加入知识库：{e}", None
        except Exception:  # noqa: BLE001 - one broken file must not lose the others' results
            log.exception("upload of %r failed", name)
            return name, "服务器处理这个文件时出错，未加入。", None
        finally:
            # The knowledge base now has its own copy (or refused the file): Gradio's cached
            # upload would otherwise stay on disk outside the knowledge-base folder.
            if path.is_relative_to(self.upload_cache):
                with contextlib.suppress(OSError):
                    path.unlink()
                    path.parent.rmdir()  # Gradio's one-upload folder, if nothing else is in it

    def remove(self, path) -> tuple:
        """Take the selected document out of the knowledge base (an uploaded file is deleted too)."""
        self.refuse_writes()
        if not path:
            raise refusal("请先在列表里选择要移除的文档。")
        if not isinstance(path, str):
            raise refusal(f"要移除的文档必须是文件名或路径，收到的是 {type(path).__name__}。")
        known = {d["path"]: d for d in self.qa.documents()}
        document = known.get(path) or next((d for d in known.values() if Path(d["path"]).name == path), None)
        if document is None:
            raise refusal(f"知识库里没有这个文档：{path}")
        try:
            result = delete_document(self.qa, document["path"])
        except SourceError as e:
            raise refusal(f"知识库里没有这个文档：{path}") from e
        except QAError as e:
            raise refusal(f"无法移除这个文档：{e}") from e
        note = "上传的文件已一并删除。" if result["deleted_file"] else "源文件不在知识库文件夹里，没有删除。"
        message = (f"已从知识库移除《{escape_markdown(document['title'])}》"
                   f"（{escape_markdown(Path(document['path']).name)}）。{note}")
        return (message,) + self.views()

    def listing(self) -> dict:
        """What the knowledge base holds: {documents: [{title, file, source, format, passages,
        sections}], skipped: [{file, source, reason}]}; `source` is the full path on the server."""
        self.qa.refresh()
        # No "path" keys: gradio_client would take such dicts for files and try to download them.
        return {"documents": [{"title": d["title"], "file": Path(d["path"]).name, "source": d["path"],
                               "format": d["format"], "passages": d["passages"],
                               "sections": d.get("sections", [])} for d in self.qa.documents()],
                "skipped": [{"file": Path(s["path"]).name, "source": s["path"], "reason": s["reason"]}
                            for s in self.qa.skipped()]}

    def feedback_views(self) -> tuple:
        return feedback_views(self.qa.index_dir)

    def feedback_export(self):
        """The confirmed answers as an eval file (JSON lines) to download."""
        entries = feedback_store.read(self.qa.index_dir)
        folder = Path(tempfile.mkdtemp(prefix="feedback-", dir=self.upload_cache))
        path = folder / "feedback-eval.jsonl"
        count = feedback_store.export_eval(entries, path)
        if not count:
            raise refusal("还没有点了赞的回答，没有可导出的问题。")
        return gr.File(value=str(path), visible=True, label=f"评测文件（{count} 个问题）")
