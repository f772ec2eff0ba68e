"""Retrieval metrics: hand-worked examples, a naive reference, torchmetrics, chunking,
tie-breaking and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audioseek.eval.metrics import (
    MetricInputError,
    bidirectional_metrics,
    embedding_retrieval_metrics,
    metric_names,
    retrieval_metrics,
)


def naive_metrics(scores, relevance, ks=(1, 5, 10), map_k=10):
    """Plain-Python reference: explicit sort with the documented pessimistic tie rule."""
    scores = np.asarray(scores, dtype=np.float64)
    rr, ap, hit, recall = [], [], {k: [] for k in ks}, {k: [] for k in ks}
    for q, rel in enumerate(relevance):
        rel = set(rel)
        row = scores[q]
        # key: score desc, then non-relevant before relevant, then index asc
        order = sorted(range(len(row)), key=lambda g: (-row[g], g in rel, g))
        ranks = [r + 1 for r, g in enumerate(order) if g in rel]
        rr.append(1.0 / ranks[0])
        for k in ks:
            hit[k].append(1.0 if ranks[0] <= k else 0.0)
            recall[k].append(sum(1 for r in ranks if r <= k) / len(rel))
        s = sum((i + 1) / r for i, r in enumerate(ranks) if r <= map_k)
        ap.append(s / min(len(rel), map_k))
    out = {"mrr": float(np.mean(rr)), f"map@{map_k}": float(np.mean(ap))}
    out.update({f"r@{k}": float(np.mean(hit[k])) for k in ks})
    out.update({f"recall@{k}": float(np.mean(recall[k])) for k in ks})
    return out


def random_case(seed, n_q=37, n_g=53, max_rel=6, ties=False):
    g = np.random.default_rng(seed)
    scores = g.random((n_q, n_g))
    if ties:
        scores = np.round(scores * 4) / 4  # only 5 distinct values: many ties
    relevance = [
        set(g.choice(n_g, size=int(g.integers(1, max_rel + 1)), replace=False).tolist())
        for _ in range(n_q)
    ]
    return scores, relevance


def assert_close(a, b, tol=1e-9):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=tol), (k, a[k], b[k])


def test_hand_worked_single_relevant():
    # query 0: relevant item 2 ranked 2nd; query 1: relevant item 0 ranked 3rd of 3
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.5, 0.3]])
    m = retrieval_metrics(scores, [{2}, {0}], ks=(1, 2, 3), map_k=2)
    hits = {"r@1": 0, "r@2": 0.5, "r@3": 1}
    assert m == pytest.approx(
        {
            "mrr": (1 / 2 + 1 / 3) / 2,
            "map@2": (1 / 2 + 0) / 2,
            **hits,
            **{k.replace("r@", "recall@"): v for k, v in hits.items()},  # one relevant: equal
        }
    )
    assert list(m) == metric_names((1, 2, 3), 2)


def test_hand_worked_five_relevant_dcase_normalisation():
    # one clip, 12 captions; its 5 captions (relevant) land at ranks 1, 3, 6, 11, 12
    order = [0, 7, 1, 8, 9, 2, 10, 11, 5, 6, 3, 4]  # gallery ids in ranked order
    rel = {0, 1, 2, 3, 4}
    scores = torch.zeros(1, 12)
    for rank, g in enumerate(order):
        scores[0, g] = 1.0 - rank / 100
    m = retrieval_metrics(scores, [rel])
    # precisions at the relevant ranks within the top 10: 1/1, 2/3, 3/6; divided by |R| = 5
    assert m["map@10"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 5)
    assert m["mrr"] == 1.0 and m["r@1"] == 1.0
    # the two recalls differ: one relevant in the top 1 is a hit, but 1 of 5 relevant found;
    # top 5 holds ranks 1, 3 (2 of 5); top 10 holds ranks 1, 3, 6 (3 of 5)
    assert m["recall@1"] == pytest.approx(1 / 5)
    assert m["r@5"] == 1.0 and m["recall@5"] == pytest.approx(2 / 5)
    assert m["r@10"] == 1.0 and m["recall@10"] == pytest.approx(3 / 5)
    # |R| > K: normalised by K, so a perfect ranking scores exactly 1
    perfect = torch.arange(30, 0, -1, dtype=torch.float32)[None]
    assert retrieval_metrics(perfect, [set(range(20))])["map@10"] == pytest.approx(1.0)


def test_ties_are_pessimistic_and_deterministic():
    flat = torch.zeros(3, 4)
    m = retrieval_metrics(flat, [{0}, {1, 2}, {3}], ks=(1, 4), map_k=4)
    # all equal: non-relevant items first -> ranks 4; {1,2} -> ranks 3 and 4
    assert m["mrr"] == pytest.approx((1 / 4 + 1 / 3 + 1 / 4) / 3)
    assert m["r@1"] == 0.0 and m["r@4"] == 1.0
    assert m["recall@1"] == 0.0 and m["recall@4"] == 1.0
    assert m["map@4"] == pytest.approx((1 / 4 + (1 / 3 + 2 / 4) / 2 + 1 / 4) / 3)
    # a tie among relevant items only: both ranked before lower-scored items
    s = torch.tensor([[0.5, 0.9, 0.9, 0.1]])
    assert retrieval_metrics(s, [{1, 2}], map_k=2)["map@2"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_matches_naive_reference(seed, ties):
    scores, rel = random_case(seed, ties=ties)
    ks = (1, 3, 5, 10)
    for map_k in (1, 4, 10):
        want = naive_metrics(scores, rel, ks, map_k)
        for chunk in (1, 7, 1024):
            assert_close(retrieval_metrics(scores, rel, ks, map_k, chunk_size=chunk), want)
            assert_close(
                retrieval_metrics(torch.from_numpy(scores).float(), rel, ks, map_k, chunk), want
            )


def test_large_relevance_sets_use_the_sort_path_identically():
    scores, _ = random_case(3, n_q=9, n_g=200, ties=True)
    g = np.random.default_rng(1)
    rel = [
        set(g.choice(200, size=int(g.integers(30, 90)), replace=False).tolist()) for _ in range(9)
    ]
    assert max(len(r) for r in rel) > 32
    for map_k in (10, 50):
        assert_close(
            retrieval_metrics(scores, rel, (1, 10, 100), map_k),
            naive_metrics(scores, rel, (1, 10, 100), map_k),
        )


def _torchmetrics_per_query(scores, rel, k):
    from torchmetrics.functional.retrieval import (
        retrieval_average_precision,
        retrieval_hit_rate,
        retrieval_recall,
        retrieval_reciprocal_rank,
    )

    out = []
    for q, r in enumerate(rel):
        target = torch.zeros(scores.shape[1], dtype=torch.bool)
        target[list(r)] = True
        p = scores[q]
        out.append(
            {
                "rr": float(retrieval_reciprocal_rank(p, target)),
                "ap": float(retrieval_average_precision(p, target, top_k=k)),
                "recall": float(retrieval_recall(p, target, top_k=k)),
                "hit": float(retrieval_hit_rate(p, target, top_k=k)),
            }
        )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_matches_torchmetrics_single_relevant(seed):
    """|R| = 1 (text->audio): MRR, mAP@10 and R@K agree exactly with torchmetrics.

    Scores are kept positive: torchmetrics treats items with score <= 0 as non-relevant."""
    from torchmetrics.retrieval import RetrievalMAP, RetrievalMRR, RetrievalRecall

    g = torch.Generator().manual_seed(seed)
    n_q, n_g = 40, 30
    scores = torch.rand(n_q, n_g, generator=g, dtype=torch.float64) + 0.01
    rel = [{int(i)} for i in torch.randint(0, n_g, (n_q,), generator=g)]
    target = torch.zeros(n_q, n_g, dtype=torch.bool)
    for q, r in enumerate(rel):
        target[q, list(r)] = True
    indexes = torch.arange(n_q)[:, None].expand(n_q, n_g)
    ours = retrieval_metrics(scores, rel, ks=(1, 5, 10), map_k=10)
    assert ours["mrr"] == pytest.approx(float(RetrievalMRR()(scores, target, indexes)), abs=1e-6)
    assert ours["map@10"] == pytest.approx(
        float(RetrievalMAP(top_k=10)(scores, target, indexes)), abs=1e-6
    )
    for k in (1, 5, 10):
        tm = float(RetrievalRecall(top_k=k)(scores, target, indexes))
        assert ours[f"r@{k}"] == pytest.approx(tm, abs=1e-6)
        assert ours[f"recall@{k}"] == pytest.approx(tm, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_matches_torchmetrics_multi_relevant_up_to_documented_normalisation(seed):
    """|R| > 1: MRR and hit rate agree exactly; torchmetrics' AP@K divides by the number
    of relevant items found in the top K, ours (DCASE) by min(|R|, K): convert per query."""
    scores, rel = random_case(seed, n_q=30, n_g=40, max_rel=8)
    scores = torch.from_numpy(scores) + 0.01
    per_q = _torchmetrics_per_query(scores, rel, k=10)
    ours = retrieval_metrics(scores, rel, ks=(1, 5, 10), map_k=10)
    assert ours["mrr"] == pytest.approx(np.mean([x["rr"] for x in per_q]), abs=1e-6)
    expected_ap = []
    for q, r in enumerate(rel):
        ranks = (scores[q][None, :] > scores[q][list(r)][:, None]).sum(1) + 1
        n_found = int((ranks <= 10).sum())
        expected_ap.append(per_q[q]["ap"] * n_found / min(len(r), 10))
    assert ours["map@10"] == pytest.approx(float(np.mean(expected_ap)), abs=1e-6)
    # differ from torchmetrics' own mean whenever some relevant item is missed
    assert ours["map@10"] < np.mean([x["ap"] for x in per_q])
    from torchmetrics.functional.retrieval import retrieval_hit_rate

    for k in (1, 5, 10):
        hits = []
        for q, r in enumerate(rel):
            t = torch.zeros(scores.shape[1], dtype=torch.bool)
            t[list(r)] = True
            hits.append(float(retrieval_hit_rate(scores[q], t, top_k=k)))
        assert ours[f"r@{k}"] == pytest.approx(np.mean(hits), abs=1e-6)
    # the paper's recall (share of the relevant found) is torchmetrics' RetrievalRecall
    for k in (1, 5, 10):
        tm_recall = np.mean([x["recall"] for x in _torchmetrics_per_query(scores, rel, k=k)])
        assert ours[f"recall@{k}"] == pytest.approx(tm_recall, abs=1e-6)
        assert ours[f"recall@{k}"] <= ours[f"r@{k}"]
    assert ours["recall@1"] < ours["r@1"]  # several relevant per query: they differ


def test_numpy_memmap_and_embeddings_agree(tmp_path):
    g = np.random.default_rng(0)
    q = g.standard_normal((50, 8)).astype(np.float32)
    gal = g.standard_normal((20, 8)).astype(np.float32)
    rel = [{int(i) % 20, (int(i) + 3) % 20} for i in range(50)]
    scores = q @ gal.T
    mm = np.lib.format.open_memmap(tmp_path / "s.npy", mode="w+", dtype=np.float32, shape=(50, 20))
    mm[:] = scores
    want = naive_metrics(scores, rel)
    assert_close(retrieval_metrics(mm, rel, chunk_size=16), want, 1e-6)
    assert_close(embedding_retrieval_metrics(q, gal, rel, chunk_size=16), want, 1e-6)


def test_bidirectional_relevance_from_caption_to_audio():
    # 3 clips, 2 captions each; caption embeddings equal their clip's embedding -> perfect
    audio = torch.nn.functional.normalize(
        torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), dim=1
    )
    c2a = [0, 0, 1, 1, 2, 2]
    text = audio[c2a]
    m = bidirectional_metrics(audio, text, c2a)
    assert set(m) == {"text_to_audio", "audio_to_text"}
    for d in m.values():
        assert d["mrr"] == 1.0 and d["map@10"] == pytest.approx(1.0)
        assert all(d[f"r@{k}"] == 1.0 for k in (1, 5, 10))
    assert all(m["text_to_audio"][f"recall@{k}"] == 1.0 for k in (1, 5, 10))
    # audio->text, 2 captions per clip both ranked first: recall@1 finds 1 of 2
    assert m["audio_to_text"]["recall@1"] == pytest.approx(0.5)
    assert m["audio_to_text"]["recall@5"] == 1.0
    # reversed text -> audio: caption of clip 0 most similar to clip 2 etc.
    m2 = bidirectional_metrics(audio, -text, c2a)
    assert m2["text_to_audio"]["r@1"] == 0.0
    assert m2["audio_to_text"]["mrr"] == pytest.approx(1 / 5)


def test_random_embeddings_give_chance_level():
    g = torch.Generator().manual_seed(0)
    audio = torch.nn.functional.normalize(torch.randn(200, 16, generator=g), dim=1)
    text = torch.nn.functional.normalize(torch.randn(1000, 16, generator=g), dim=1)
    c2a = [i // 5 for i in range(1000)]
    m = bidirectional_metrics(audio, text, c2a)
    assert m["text_to_audio"]["r@10"] == pytest.approx(10 / 200, abs=0.02)
    assert m["audio_to_text"]["r@10"] == pytest.approx(1 - (995 / 1000) ** 10, abs=0.04)
    # recall@10 at chance: each of the 5 relevant captions is in the top 10 w.p. 10 / 1000
    assert m["audio_to_text"]["recall@10"] == pytest.approx(10 / 1000, abs=0.008)
    assert m["text_to_audio"]["recall@10"] == m["text_to_audio"]["r@10"]


@pytest.mark.parametrize(
    ("scores", "rel", "match"),
    [
        (np.zeros((2, 3)), [{0}], "2 queries"),
        (np.zeros((2, 3)), [{0}, set()], "query 1 has an empty relevance set"),
        (np.zeros((2, 3)), [{0}, {3}], "gallery index 3"),
        (np.zeros((2, 3)), [{0}, {-1}], "gallery index -1"),
        (np.array([[0.0, np.nan, 1.0], [0, 0, 0]]), [{0}, {1}], "query 0 contain NaN"),
        (np.zeros(3), [{0}], "2-D"),
        (np.zeros((2, 3)), [{0}, {"a"}], "query 1 must hold gallery indices"),
    ],
)
def test_bad_input_is_a_clear_error(scores, rel, match):
    with pytest.raises(MetricInputError, match=match):
        retrieval_metrics(scores, rel)


def test_nan_embeddings_are_named():
    q = torch.ones(3, 2)
    q[2, 1] = float("nan")
    with pytest.raises(MetricInputError, match="query embedding 2 contains NaN"):
        embedding_retrieval_metrics(q, torch.ones(2, 2), [{0}, {1}, {0}])


def test_bad_parameters_and_caption_mapping():
    with pytest.raises(MetricInputError, match="ks"):
        retrieval_metrics(np.zeros((1, 2)), [{0}], ks=(0,))
    with pytest.raises(MetricInputError, match="clip 2 has no caption"):
        bidirectional_metrics(torch.zeros(3, 2), torch.zeros(2, 2), [0, 1])
    with pytest.raises(MetricInputError, match="caption 1 points to clip 7"):
        bidirectional_metrics(torch.zeros(3, 2), torch.zeros(2, 2), [0, 7])


@pytest.mark.slow
def test_100k_by_20k_chunked_in_bounded_memory():
    """100,000 text queries x 20,000 clips (5 captions per clip) from embeddings: the
    full score matrix (8 GB in float32) is never built; peak extra memory stays small."""
    import resource

    g = torch.Generator().manual_seed(0)
    n_audio, n_text, dim = 20_000, 100_000, 16
    audio = torch.nn.functional.normalize(torch.randn(n_audio, dim, generator=g), dim=1)
    c2a = torch.arange(n_text) // 5
    text = torch.nn.functional.normalize(
        audio[c2a] + 0.5 * torch.randn(n_text, dim, generator=g), dim=1
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    m = embedding_retrieval_metrics(text, audio, [(int(a),) for a in c2a], chunk_size=512)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 1024, grown_mib
    assert 0.0 < m["r@1"] <= m["r@5"] <= m["r@10"] <= 1.0
    assert all(m[f"recall@{k}"] == m[f"r@{k}"] for k in (1, 5, 10))  # one relevant each
    assert m["map@10"] <= m["mrr"]
    # cross-check a slice of queries against the dense computation
    sub = slice(0, 2000)
    dense = retrieval_metrics(text[sub] @ audio.T, [(int(a),) for a in c2a[sub]])
    sub_chunked = embedding_retrieval_metrics(
        text[sub], audio, [(int(a),) for a in c2a[sub]], chunk_size=300
    )
    assert_close(sub_chunked, dense, 1e-9)


def test_recall_when_k_exceeds_the_gallery():
    # 3 items, 2 relevant, k = 10 > 3: every relevant item is found, never more than all
    scores = torch.tensor([[0.1, 0.9, 0.5]])
    m = retrieval_metrics(scores, [{0, 2}], ks=(1, 2, 10), map_k=10)
    assert m["recall@1"] == 0.0 and m["r@1"] == 0.0
    assert m["recall@2"] == pytest.approx(0.5) and m["r@2"] == 1.0
    assert m["recall@10"] == 1.0


def test_every_metric_key_has_a_definition():
    from audioseek.eval.metrics import metric_definition, metric_definitions

    keys = metric_names((1, 10), 10)
    defs = metric_definitions({"text_to_audio": dict.fromkeys(keys, 0.5)})
    assert list(defs) == keys
    assert "at least one relevant" in defs["r@10"] and "top 10" in defs["r@10"]
    assert "share of each query's relevant items" in defs["recall@10"]
    assert metric_definition("recall@1") != metric_definition("r@1")
    with pytest.raises(MetricInputError, match="unknown metric 'p@3'"):
        metric_definition("p@3")
