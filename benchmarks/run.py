"""Run the benchmarks: quality vs a LangChain peer, query latency, build cost, growth to 1M chunks,
and the app under load; print a table and write benchmarks/results/<name>.json and .png.

    python benchmarks/run.py            # full run (~30 min on 2 cores), writes latest.json/.png
    python benchmarks/run.py --quick    # under 3 minutes, stops growth at 100k, writes quick.json/.png
    python benchmarks/run.py --stages load   # re-run one stage, keeping the others' results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `qa` importable
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

STAGES = ("quality", "latency", "build", "choice", "growth", "load")
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev.jsonl"
RESULTS = ROOT / "benchmarks" / "results"

SETTINGS = {
    "quick": {"latency_rounds": 3, "article_repeats": 1, "generated_repeats": 1, "generated_sentences": 600,
              "choice": [(20_000, ("flat", "ivf"))], "growth": [1_000, 10_000, 100_000], "growth_rounds": 4,
              "load_requests": 80},
    "full": {"latency_rounds": 20, "article_repeats": 5, "generated_repeats": 5, "generated_sentences": 5000,
             "choice": [(50_000, ("flat", "ivf")), (100_000, ("flat", "ivf", "hnsw"))],
             "growth": [1_000, 10_000, 100_000, 1_000_000], "growth_rounds": 8, "load_requests": 200},
}


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        mem = 0
    import faiss
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem / 2**20, 1),
            "python": platform.python_version(), "faiss": faiss.__version__}


class Context:
    """Things several stages share, made on first use: the service, the peer, the questions."""

    def __init__(self, questions_path: Path, settings: dict, tmp: Path):
        self.questions_path = questions_path
        self.settings = settings
        self.tmp = tmp
        self._qa = self._peer = self._items = self._generated = None

    @property
    def items(self) -> list[dict]:
        if self._items is None:
            from qa.evaluate import load_questions
            self._items = load_questions(self.questions_path)
        return self._items

    @property
    def questions(self) -> list[str]:
        return [i["question"] for i in self.items]

    @property
    def qa(self):
        if self._qa is None:
            from qa import QA
            self._qa = QA(index_dir=self.tmp / "builtin-index")
        return self._qa

    @property
    def peer(self):
        if self._peer is None:
            from benchmarks.peer import Peer
            from qa.config import BUILTIN_CORPUS
            self._peer = Peer(self.qa.encoder, [BUILTIN_CORPUS])
        return self._peer

    def generated_folder(self) -> Path:
        folder = self.tmp / "generated"
        if not folder.exists():
            from benchmarks.corpus import write_generated_corpus
            write_generated_corpus(folder, self.settings["generated_sentences"])
        return folder

    def generated(self):
        """(QA over the generated corpus, its chunk vectors): from the build stage, or built here."""
        if self._generated is None:
            from benchmarks.build import run_build
            _, qa, vectors = run_build([self.generated_folder()], "generated", self.tmp / "generated-index")
            self._generated = (qa, vectors)
        return self._generated


def stage_quality(ctx: Context) -> dict:
    from benchmarks.quality import run_quality
    out = run_quality(ctx.qa, ctx.peer, ctx.items)
    out["questions"] = os.path.relpath(ctx.questions_path, ROOT)
    out["n"] = len(ctx.items)
    out["no_answer_method"] = ("threshold on each system's top score, chosen to maximise the mean of "
                               "answerable-accepted and out-of-domain-rejected on these questions, "
                               "identically for every system (an upper bound for all)")
    return out


def stage_latency(ctx: Context) -> dict:
    from benchmarks.latency import run_latency
    return run_latency(ctx.qa, ctx.peer, ctx.questions, ctx.settings["latency_rounds"])


def stage_build(ctx: Context) -> dict:
    from benchmarks.build import run_build
    from qa.config import BUILTIN_CORPUS
    article, _, _ = run_build([BUILTIN_CORPUS], "built-in article", ctx.tmp / "build-article",
                              repeats=ctx.settings["article_repeats"])
    generated, qa, vectors = run_build([ctx.generated_folder()],
                                       f"generated, {ctx.settings['generated_sentences']:,} sentences",
                                       ctx.tmp / "build-generated", repeats=ctx.settings["generated_repeats"])
    ctx._generated = (qa, vectors)
    runs = [article, generated]
    return {"runs": runs, "over_encode": min(r["over_encode"] for r in runs)}


def stage_choice(ctx: Context) -> list[dict]:
    import numpy as np

    from benchmarks.choice import compare_indexes
    _, base = ctx.generated()
    queries = np.stack([ctx.qa.encode_query(q) for q in ctx.questions]).astype(np.float32)
    rows = []
    for n, kinds in ctx.settings["choice"]:
        rows += compare_indexes(base, queries, n, kinds)
        print(f"    {rows[-len(kinds):]}", flush=True)
    return rows


def stage_growth(ctx: Context) -> list[dict]:
    from benchmarks.growth import run_growth, write_inputs
    qa, vectors = ctx.generated()
    data = write_inputs(ctx.tmp / "growth-inputs", qa, vectors, ctx.questions)
    return run_growth(data, ctx.settings["growth"], ctx.settings["growth_rounds"])


def stage_load(ctx: Context) -> dict:
    from benchmarks.load import run_load
    return run_load(ctx.questions, total=ctx.settings["load_requests"], clients=16)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run under 3 minutes (growth stops at 100k)")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS,
                        help="JSONL questions (question, expect, lang); default ../shared/eval/dev.jsonl")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated subset of {','.join(STAGES)}; the others are kept "
                             "from the last result file")
    parser.add_argument("--out", type=Path, default=None,
                        help="result path, no suffix (default: results/latest; results/quick with --quick)")
    parser.add_argument("--sizes", default=None,
                        help="growth sizes to (re)measure, e.g. 100000,1000000; rows of other sizes are kept")
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
    if "quality" in stages or "latency" in stages or "growth" in stages or "load" in stages:
        if not args.questions.exists():
            parser.error(f"question file {args.questions} not found (use --questions)")
    mode = "quick" if args.quick else "full"
    out = args.out or RESULTS / ("quick" if args.quick else "latest")
    json_path, png_path = out.with_suffix(".json"), out.with_suffix(".png")

    result = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else {}
    result.update({"mode": mode, "machine": machine(),
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "command": "python benchmarks/run.py" + (" --quick" if args.quick else "")})
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    settings = dict(SETTINGS[mode])
    if args.sizes:
        settings["growth"] = [int(x) for x in args.sizes.split(",")]
    ctx = Context(args.questions.absolute(), settings, tmp)
    functions = {"quality": stage_quality, "latency": stage_latency, "build": stage_build,
                 "choice": stage_choice, "growth": stage_growth, "load": stage_load}
    try:
        for stage in stages:
            start = time.perf_counter()
            print(f"[{stage}] ...", flush=True)
            value = functions[stage](ctx)
            if stage == "growth" and args.sizes:  # merge: new rows replace those of the same size
                kept = [r for r in result.get("growth", []) if r["chunks"] not in settings["growth"]]
                value = sorted(kept + value, key=lambda r: r["chunks"])
            result[stage] = value
            print(f"[{stage}] {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    from benchmarks.report import markdown, plot, targets
    result["targets"] = targets(result)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    plot(result, png_path)
    print()
    print(markdown(result))
    print(f"wrote {os.path.relpath(json_path)} and {os.path.relpath(png_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
