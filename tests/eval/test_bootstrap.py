"""Per-query metric values and bootstrap intervals: the sampling error of a test set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audioseek.eval.metrics import (
    MetricInputError,
    bootstrap_interval,
    per_query_metrics,
    retrieval_metrics,
)


def test_per_query_values_average_to_the_metrics():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(37, 20, generator=g)
    relevance = [[q % 20] if q % 3 else [q % 20, (q + 7) % 20] for q in range(37)]
    per = per_query_metrics(scores, relevance, chunk_size=8)  # several chunks
    means = retrieval_metrics(scores, relevance)
    assert list(per) == list(means)
    for key, v in per.items():
        assert v.shape == (37,) and v.dtype == torch.float64
        assert float(v.mean()) == pytest.approx(means[key], abs=1e-12)
    # hand-checked query: the relevant item is scored highest -> rank 1 everywhere
    top = torch.zeros(1, 5)
    top[0, 2] = 1.0
    one = per_query_metrics(top, [[2]])
    assert one["mrr"].tolist() == [1.0] and one["map@10"].tolist() == [1.0]
    assert one["r@1"].tolist() == [1.0]
    # second of five -> reciprocal rank 0.5, no hit at 1
    top[0, 4] = 2.0
    two = per_query_metrics(top, [[2]])
    assert two["mrr"].tolist() == [0.5] and two["r@1"].tolist() == [0.0]
    assert two["r@5"].tolist() == [1.0]


def test_interval_of_a_constant_is_that_constant():
    lo, hi = bootstrap_interval(torch.full((50,), 0.25))
    assert lo == pytest.approx(0.25) and hi == pytest.approx(0.25)


def test_interval_covers_the_mean_with_the_textbook_width():
    # 400 coin flips with p = 0.3: the 95 % interval is about +-1.96 * sqrt(p(1-p)/n) = +-0.045
    rng = np.random.default_rng(0)
    values = (rng.random(400) < 0.3).astype(float)
    lo, hi = bootstrap_interval(values, n_resamples=4000)
    assert lo < values.mean() < hi
    assert 0.07 < hi - lo < 0.11
    assert bootstrap_interval(values, n_resamples=4000) == (lo, hi)  # same seed, same interval
    smooth = rng.random(400)  # continuous values: another seed moves the bounds
    assert bootstrap_interval(smooth, seed=1) != bootstrap_interval(smooth, seed=0)
    assert bootstrap_interval(values, n_resamples=4000, level=0.5)[1] - bootstrap_interval(
        values, n_resamples=4000, level=0.5
    )[0] < (hi - lo)


def test_groups_are_resampled_whole():
    # 40 clips x 5 captions, each clip's captions all hit or all miss: as 200 independent
    # queries the interval is too narrow; resampled by clip it is as wide as 40 flips'
    rng = np.random.default_rng(1)
    per_clip = (rng.random(40) < 0.5).astype(float)
    values = np.repeat(per_clip, 5)
    groups = np.repeat(np.arange(40), 5).tolist()
    naive = bootstrap_interval(values)
    clustered = bootstrap_interval(values, groups=groups)
    clips = bootstrap_interval(per_clip)
    assert (clustered[1] - clustered[0]) > 1.8 * (naive[1] - naive[0])
    assert clustered[1] - clustered[0] == pytest.approx(clips[1] - clips[0], rel=0.15)
    # unequal group sizes: the statistic is the mean over values, not over group means. Two
    # groups, a = (1, 1, 1) and b = (0,): half the resamples are {a, b}, whose mean over
    # values is 3/4 (the mean of group means would be 1/2), so the median resample is 0.75
    lo, hi = bootstrap_interval([1.0, 1.0, 1.0, 0.0], groups=["a", "a", "a", "b"], level=0.01)
    assert lo == pytest.approx(0.75) and hi == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": []}, "at least one value"),
        ({"values": [0.1, float("nan")]}, "NaN"),
        ({"values": [0.1, 0.2], "level": 1.0}, "level"),
        ({"values": [0.1, 0.2], "n_resamples": 0}, "n_resamples"),
        ({"values": [0.1, 0.2], "groups": ["a"]}, "1 group ids for 2 values"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(MetricInputError, match=message):
        bootstrap_interval(**kwargs)


def test_bidirectional_intervals_resample_clips():
    from audioseek.eval.metrics import bidirectional_intervals, bidirectional_metrics

    g = torch.Generator().manual_seed(0)
    audio = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=1)
    owner = [i // 3 for i in range(90)]  # 3 captions per clip
    text = torch.nn.functional.normalize(
        audio[owner] + 0.8 * torch.randn(90, 8, generator=g), dim=1
    )
    means = bidirectional_metrics(audio, text, owner)
    ci = bidirectional_intervals(audio, text, owner)
    assert set(ci) == {"text_to_audio", "audio_to_text"}
    for direction in ci:
        assert set(ci[direction]) == set(means[direction])
        for key, (lo, hi) in ci[direction].items():
            assert lo - 1e-9 <= means[direction][key] <= hi + 1e-9
    assert ci["text_to_audio"]["r@10"][1] - ci["text_to_audio"]["r@10"][0] > 0.05
    with pytest.raises(MetricInputError, match="caption 0 points to clip 30"):
        bidirectional_intervals(audio, text, [30] + owner[1:])


def test_many_clips_are_resampled_in_bounded_memory():
    # 50,000 units: the resamples are drawn a few hundred at a time (a 2,000 x 50,000 index
    # matrix would be 800 MB); the interval still has the textbook width 2 x 1.96 x 0.5/sqrt(n)
    rng = np.random.default_rng(2)
    values = (rng.random(50_000) < 0.5).astype(float)
    lo, hi = bootstrap_interval(values)
    assert lo < values.mean() < hi and 0.007 < hi - lo < 0.011
