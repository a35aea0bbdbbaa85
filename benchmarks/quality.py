"""Quality stage: hit@1, hit@3, MRR per language and no-answer, for the service, the LangChain peer,
BM25 alone and dense alone, all scored the same way on one question file."""

from __future__ import annotations

import numpy as np

from qa.index import faiss_index as vec
from qa.index.sparse import SparseIndex
from qa.terms import Tokenizer

K = 3


def _squash(text: str) -> str:
    return "".join(text.split())


def rank_of(texts: list[str], expect: str) -> int | None:
    """0-based rank of the first text containing `expect` (whitespace ignored), or None."""
    want = _squash(expect)
    return next((i for i, t in enumerate(texts) if want in _squash(t)), None)


def calibrate(scores_in: list[float], scores_out: list[float]) -> float:
    """The threshold on a top score that best separates answerable from out-of-domain questions.

    Maximises (share of answerable accepted + share of out-of-domain rejected) / 2 over all
    observed scores; ties go to the lowest threshold. Chosen on the same questions it is then
    judged on, so it is an upper bound: it is applied identically to every system.
    """
    best, best_t = -1.0, 0.0
    for t in sorted(set(scores_in) | set(scores_out)):
        accepted = np.mean([s >= t for s in scores_in]) if scores_in else 0.0
        rejected = np.mean([s < t for s in scores_out]) if scores_out else 0.0
        value = (accepted + rejected) / 2
        if value > best + 1e-12:
            best, best_t = value, t
    return float(best_t)


def score_runs(runs: list[dict], own_found: list[bool] | None = None) -> dict:
    """Metrics from per-question runs {lang, expect, texts, top_score}.

    Returns:
        {"zh"|"en"|"all": {"n", "hit@1", "hit@3", "mrr"}, "hit@1", "hit@3", "mrr" (all languages),
         "cross_lingual_hit@3", "no_answer": {"n", "threshold", "rejected", "answerable_accepted"}}
    """
    out: dict = {}
    answerable = [r for r in runs if r["expect"] is not None]
    ranks = [rank_of(r["texts"], r["expect"]) for r in answerable]
    for lang in sorted({r["lang"] for r in answerable}) + ["all"]:
        group = [rk for r, rk in zip(answerable, ranks, strict=True) if lang == "all" or r["lang"] == lang]
        if group:
            out[lang] = {"n": len(group),
                         "hit@1": round(sum(rk == 0 for rk in group) / len(group), 4),
                         "hit@3": round(sum(rk is not None and rk < K for rk in group) / len(group), 4),
                         "mrr": round(sum(1 / (rk + 1) for rk in group if rk is not None) / len(group), 4)}
    for key in ("hit@1", "hit@3", "mrr"):
        out[key] = out.get("all", {}).get(key, 0.0)
    cross = [rk for r, rk in zip(answerable, ranks, strict=True) if r["lang"] == "en"]
    out["cross_lingual_hit@3"] = round(sum(rk is not None for rk in cross) / len(cross), 4) if cross else None
    ood = [r for r in runs if r["expect"] is None]
    if ood:
        s_in = [r["top_score"] for r in answerable]
        s_out = [r["top_score"] for r in ood]
        t = calibrate(s_in, s_out)
        out["no_answer"] = {"n": len(ood), "threshold": round(t, 4),
                            "rejected": round(float(np.mean([s < t for s in s_out])), 4),
                            "answerable_accepted": round(float(np.mean([s >= t for s in s_in])), 4)}
        if own_found is not None:  # the service's own decision (Answer.found), not calibrated here
            found_in = [f for r, f in zip(runs, own_found, strict=True) if r["expect"] is not None]
            found_out = [f for r, f in zip(runs, own_found, strict=True) if r["expect"] is None]
            out["no_answer_builtin"] = {"rejected": round(float(np.mean([not f for f in found_out])), 4),
                                        "answerable_accepted": round(float(np.mean(found_in)), 4)}
    return out


class Baselines:
    """BM25 alone and dense alone, built from the engine's own pieces over the service's chunks."""

    def __init__(self, qa):
        self.qa = qa
        self.chunks = list(qa.chunks)
        self.tokenizer = Tokenizer(qa.manifest.get("terms", ()))
        tokens = [self.tokenizer.tokens(c.text if c.section is None else f"{c.section} {c.text}")
                  for c in self.chunks]
        self.sparse = SparseIndex(tokens, self.tokenizer)
        vectors = qa.encoder.encode([c.embed_text for c in self.chunks], batch_size=64,
                                    normalize_embeddings=True)
        self.index = vec.build_vector_index(np.asarray(vectors, dtype=np.float32),
                                            np.arange(len(self.chunks), dtype=np.int64))

    def _passages(self, order, k: int) -> list[str]:
        """Texts of the first k distinct chunks, from chunk positions best first.

        Unlike the service, overlapping windows are not joined: these are the bare retrievers.
        """
        return list(dict.fromkeys(self.chunks[int(i)].text for i in order))[:k]

    def bm25(self, question: str, k: int = K) -> tuple[list[str], float]:
        tokenize = getattr(self.tokenizer, "query_tokens", self.tokenizer.tokens)
        scores = self.sparse.scores(tokenize(question))
        order = np.argsort(-scores, kind="stable")[: 4 * k + 6]
        order = [i for i in order if scores[i] > 0]
        return self._passages(order, k), float(scores.max()) if len(scores) else 0.0

    def dense(self, question: str, k: int = K) -> tuple[list[str], float]:
        scores, ids = vec.search(self.index, self.qa.encode_query(question), 4 * k + 6)
        return self._passages(ids, k), float(scores[0]) if len(scores) else 0.0


def run_quality(qa, peer, items: list[dict]) -> dict:
    """Metrics for "ours", "peer", "bm25", "dense" on `items` (dicts: question, expect, lang)."""
    base = Baselines(qa)
    runs: dict[str, list[dict]] = {"ours": [], "peer": [], "bm25": [], "dense": []}
    found = []
    for item in items:
        row = {"lang": item["lang"], "expect": item["expect"]}
        answer = qa.ask(item["question"], k=K)
        found.append(bool(answer.found))
        texts = [h.text for h in answer.hits]
        runs["ours"].append(dict(row, texts=texts, top_score=float(answer.confidence)))
        for name, fn in (("peer", peer.search), ("bm25", base.bm25), ("dense", base.dense)):
            texts, top = fn(item["question"], K)
            runs[name].append(dict(row, texts=texts, top_score=top))
    report = {name: score_runs(r, found if name == "ours" else None) for name, r in runs.items()}
    report["ours"]["no_answer_score"] = "Answer.confidence"
    report["peer"]["no_answer_score"] = "best cosine (1 - squared L2 / 2)"
    report["bm25"]["no_answer_score"] = "best BM25 score"
    report["dense"]["no_answer_score"] = "best cosine"
    return report
