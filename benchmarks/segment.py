"""Segmentation: qa.segment.Segmenter (jieba-rs where it cuts as jieba does) against jieba's own
cut_for_search and against the Segmenter's plain loops alone, on the same texts in one process.

    python -m benchmarks.segment FILE [FILE ...]   # SQuAD-format JSON (CMRC, DRCD) or text files

Each text is normalised as the index normalises it (Traditional folded to Simplified); every
tokenizer gets the same corpus term added, as a knowledge base's tokenizer has. Prints the best
of --repeats timings of each, characters per second, and the ratios; checks the three cut every
text alike first (a text that differs is counted and reported, not timed differently).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jieba

from qa.segment import Segmenter
from qa.terms import normalize, with_base_dictionary


def read_texts(paths: list[Path]) -> list[str]:
    """Contexts of SQuAD-format files, lines of anything else; normalised."""
    texts: list[str] = []
    for path in paths:
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            texts += [p["context"] for a in json.loads(raw)["data"] for p in a["paragraphs"]]
        else:
            texts += [line for line in raw.splitlines() if line.strip()]
    return [normalize(t) for t in texts]


def segmenters(term: str = "青枫里"):
    """(jieba's Tokenizer, the Segmenter with its loops only, the Segmenter), one term added."""
    theirs, loops, ours = (with_base_dictionary(t) for t in (jieba.Tokenizer(), Segmenter(), Segmenter()))
    for t in (theirs, loops, ours):
        t.add_word(term, freq=50000)
    loops._rust = lambda: None  # the plain loops, as before jieba-rs
    ours.rust_after = 0  # jieba-rs from the first text (its dictionary loads before the timing)
    return theirs, loops, ours


def run(texts: list[str], repeats: int = 3) -> dict:
    theirs, loops, ours = segmenters()
    ways = {"jieba": lambda x: list(theirs.cut_for_search(x)), "loops": loops.search_list,
            "segmenter": ours.search_list}
    ours.search_list("预热")  # jieba-rs's dictionary loads once per set of terms, not timed
    differ = sum(ways["jieba"](x) != ways["segmenter"](x) for x in texts)
    best = {}
    for _ in range(repeats):
        for name, cut in ways.items():
            start = time.perf_counter()
            for x in texts:
                cut(x)
            spent = time.perf_counter() - start
            best[name] = min(best.get(name, spent), spent)
    chars = sum(map(len, texts))
    return {"texts": len(texts), "chars": chars, "differ": differ,
            **{f"{k}_s": round(v, 3) for k, v in best.items()},
            **{f"{k}_chars_per_s": round(chars / v) for k, v in best.items()},
            "segmenter_over_jieba": round(best["jieba"] / best["segmenter"], 2),
            "segmenter_over_loops": round(best["loops"] / best["segmenter"], 2)}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(run(read_texts(args.files), args.repeats), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
