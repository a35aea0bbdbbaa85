"""Incremental knowledge base: time to add, change, remove one file of a 300-file KB vs a full build."""

# Usage: python benchmarks/kb_incremental.py [--files 300] [--out benchmarks/results/kb_incremental.json]
# The files are the built-in article's sentences recombined, each paragraph tagged with a unique
# sentence so that no passage repeats across files (repeats would be embedded once and flatter
# the full build).
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa import QA  # noqa: E402
from qa.chunk import chunk_documents, split_sentences  # noqa: E402
from qa.config import BUILTIN_CORPUS  # noqa: E402
from qa.index import embed  # noqa: E402
from qa.ingest import read_document  # noqa: E402


def sentences() -> list[str]:
    text = BUILTIN_CORPUS.read_text(encoding="utf-8")
    out = []
    for para in text.split("\n\n"):
        out.extend(s for s in split_sentences("".join(para.split())) if len(s) >= 8)
    return out


def write_file(path: Path, n: int, pool: list[str], rng: random.Random) -> None:
    paragraphs = []
    for p in range(3):
        picked = rng.sample(pool, 2)
        paragraphs.append(f"这是第{n}号材料第{p + 1}段的编号说明。" + "".join(picked))
    path.write_text(f"第{n}号材料\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "kb_incremental.json"))
    args = ap.parse_args()
    rng = random.Random(0)
    pool = sentences()
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    docs = tmp / "docs"
    docs.mkdir()
    for n in range(args.files):
        write_file(docs / f"doc{n:04d}.txt", n, pool, rng)
    embed.encode(embed.load_encoder(), ["预热"])  # model load is not part of any figure

    qa = QA(sources=[docs], index_dir=tmp / "index")
    full = qa.last_update
    new = tmp / "new.txt"
    write_file(new, 99999, pool, rng)
    # what embedding that one file costs on its own
    doc = read_document(new)
    texts = [c.embed_text for c in chunk_documents([doc], qa.config.block_chars)]
    start = time.perf_counter()
    embed.encode(qa.encoder, texts, prompt=qa.passage_prompt)
    embed_one = time.perf_counter() - start

    add = qa.add([new])
    with open(new, "a", encoding="utf-8") as f:
        f.write("\n补充说明：本材料最后一段为新增内容。\n")
    change = qa.add([new])
    remove = qa.remove([new])
    start = time.perf_counter()
    reopened = QA(index_dir=tmp / "index")
    reopen = time.perf_counter() - start
    result = {
        "files": args.files, "passages": len(qa.chunks),
        "full_build_s": full["seconds"], "full_build_embedded": full["embedded"],
        "embed_one_file_s": round(embed_one, 3), "one_file_passages": len(texts),
        "add_one_s": add["seconds"], "add_one_embedded": add["embedded"],
        "change_one_s": change["seconds"], "change_one_embedded": change["embedded"],
        "remove_one_s": remove["seconds"], "remove_one_embedded": remove["embedded"],
        "reopen_unchanged_s": round(reopen, 3), "reopen_embedded": reopened.last_update["embedded"],
        "add_vs_full_ratio": round(add["seconds"] / full["seconds"], 4),
        "add_vs_embed_one_ratio": round(add["seconds"] / max(embed_one, 1e-9), 2),
    }
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
