"""OCR: character accuracy against the rendered text, and seconds per page, on generated A4 pages.

# Usage: python benchmarks/ocr_pages.py [--pages 3] [--out benchmarks/results/ocr.json]
Each kind of page is rendered from the built-in article's sentences with the Noto CJK font
(A4 at 150 dpi, 24 px type, paragraphs indented two characters) and read back through the same
reader the knowledge base uses: an image-only PDF (rendered again by pdfium at 200 dpi, long side
capped at 2,000 px), a phone photo (rotated 3°, uneven light, noise, JPEG) and a two-column page.
Accuracy is 1 - edit distance / characters over the page's text in reading order, so layout
mistakes (paragraphs out of order) count as errors too. Times include rendering and layout; CPU
seconds (all threads) are given too, as wall time depends on what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pages import char_accuracy, image_pdf, page_image, photo  # noqa: E402

from qa.chunk import split_sentences  # noqa: E402
from qa.config import BUILTIN_CORPUS  # noqa: E402
from qa.ingest import ocr  # noqa: E402
from qa.ingest.read import read_bytes  # noqa: E402


def paragraphs(start: int, count: int) -> list[str]:
    text = BUILTIN_CORPUS.read_text(encoding="utf-8")
    sentences = [s for p in text.split("\n\n") for s in split_sentences("".join(p.split())) if len(s) >= 12]
    return ["".join(sentences[start + 3 * i:start + 3 * i + 3]) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=3, help="pages of each kind")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ocr.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    ocr.engine()
    load = time.perf_counter() - start
    a4 = dict(width=1240, height=1754, size=24, margin=100)
    results = {}
    for kind in ("scanned PDF", "phone photo", "two columns"):
        times, cpu, accuracies = [], [], []
        for n in range(args.pages):
            columns = 2 if kind == "two columns" else 1
            image, drawn = page_image(paragraphs(40 * n + 7 * len(results), 6 if columns == 1 else 8),
                                      columns=columns, **a4)
            if kind == "scanned PDF":
                data, name, fmt = image_pdf([image], dpi=150), "page.pdf", "pdf"
            elif kind == "phone photo":
                data, name, fmt = photo(image, angle=3.0, seed=n), "page.jpg", "image"
            else:
                data, name, fmt = image_pdf([image], dpi=150), "page.pdf", "pdf"
            t, c = time.perf_counter(), time.process_time()
            doc = read_bytes(data, name, fmt)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            accuracies.append(char_accuracy("".join(p.text for p in doc.paragraphs), "".join(drawn)))
        results[kind] = {"pages": args.pages, "seconds_per_page": round(sum(times) / len(times), 2),
                         "cpu_seconds_per_page": round(sum(cpu) / len(cpu), 2),
                         "char_accuracy": round(sum(accuracies) / len(accuracies), 4),
                         "worst_page_accuracy": round(min(accuracies), 4)}
        print(kind, results[kind], flush=True)
    out = {"model_load_seconds": round(load, 2), "cores": os.cpu_count(),
           "load_average": [round(x, 1) for x in os.getloadavg()], "kinds": results}
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
