"""info_nce: hand-computed values, duplicate-id masking, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audioseek.train.losses import info_nce, info_nce_rows

# query rows q_i, key rows k_j (already unit length); logits = q @ k.T:
# [[1.0, 0.0, 0.8],
#  [0.0, 1.0, 0.6],
#  [0.6, 0.8, 0.96]]
Q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
K = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])


def _lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


def test_one_directional_matches_hand_computed_value():
    rows = [
        -(1.0 - _lse(1.0, 0.0, 0.8)),
        -(1.0 - _lse(0.0, 1.0, 0.6)),
        -(0.96 - _lse(0.6, 0.8, 0.96)),
    ]
    expected = sum(rows) / 3
    got = info_nce(Q, K, 1.0, symmetric=False)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_symmetric_matches_hand_computed_value_with_scale():
    s = 2.0
    q_to_k = [
        -(s * 1.0 - _lse(s * 1.0, 0.0, s * 0.8)),
        -(s * 1.0 - _lse(0.0, s * 1.0, s * 0.6)),
        -(s * 0.96 - _lse(s * 0.6, s * 0.8, s * 0.96)),
    ]
    # columns of the logit matrix
    k_to_q = [
        -(s * 1.0 - _lse(s * 1.0, 0.0, s * 0.6)),
        -(s * 1.0 - _lse(0.0, s * 1.0, s * 0.8)),
        -(s * 0.96 - _lse(s * 0.8, s * 0.6, s * 0.96)),
    ]
    expected = 0.5 * (sum(q_to_k) / 3 + sum(k_to_q) / 3)
    got = info_nce(Q, K, torch.tensor(s), symmetric=True)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def _logit_leaf(values):
    """query = I and key = L.T give logits == L exactly, as a leaf we can differentiate."""
    logits = torch.tensor(values, requires_grad=True)
    return logits, torch.eye(logits.shape[0]), logits.t()


def test_duplicate_ids_are_not_negatives():
    # items 0 and 1 share an id (two captions of one clip); item 2 has its own
    values = [[4.0, 3.5, 0.0], [3.5, 4.0, 0.0], [0.0, 0.0, 4.0]]
    ids = torch.tensor([0, 0, 1])
    logits, q, k = _logit_leaf(values)
    info_nce(q, k, 1.0, symmetric=False).backward()
    unmasked_grad = logits.grad.clone()
    logits, q, k = _logit_leaf(values)
    masked = info_nce(q, k, 1.0, query_ids=ids, key_ids=ids, symmetric=False)
    masked.backward()
    # without ids, the other caption of the same clip is pushed away (positive gradient on
    # its logit); with ids it is a positive and is pulled closer
    assert unmasked_grad[0, 1] > 0 and unmasked_grad[1, 0] > 0
    assert logits.grad[0, 1] < 0 and logits.grad[1, 0] < 0
    # genuine negatives are still pushed away
    assert logits.grad[0, 2] > 0 and logits.grad[2, 0] > 0
    # soft targets, by hand: rows 0/1 put 1/2 on each of their two positives
    lse01 = _lse(4.0, 3.5, 0.0)
    row0 = -0.5 * ((4.0 - lse01) + (3.5 - lse01))
    row2 = -(4.0 - _lse(0.0, 0.0, 4.0))
    assert masked.item() == pytest.approx((2 * row0 + row2) / 3, abs=1e-6)


def test_caption_to_clip_ids_with_unequal_batches():
    # 4 captions (queries) of 2 clips (keys): perfectly aligned embeddings -> small loss
    audio = torch.eye(2)
    text = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    ids = torch.tensor([0, 0, 1, 1])
    aligned = info_nce(text, audio, 20.0, query_ids=ids, key_ids=torch.arange(2))
    swapped = info_nce(text, audio.flip(0), 20.0, query_ids=ids, key_ids=torch.arange(2))
    assert aligned.item() < 1e-3 + math.log(2) * 0.5  # key->text spread over two positives
    assert swapped.item() > 10.0
    with pytest.raises(ValueError, match="pass ids"):
        info_nce(text, audio, 1.0)


def test_gradients_flow_to_embeddings_and_scale():
    torch.manual_seed(0)
    q = torch.randn(5, 8, requires_grad=True)
    k = torch.randn(5, 8, requires_grad=True)
    log_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss = info_nce(F.normalize(q, dim=1), F.normalize(k, dim=1), log_scale.exp())
    loss.backward()
    for t in (q, k, log_scale):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="same D"):
        info_nce(torch.zeros(3, 4), torch.zeros(3, 5), 1.0)


def test_rows_are_the_per_query_terms_of_the_one_directional_loss():
    ids = torch.tensor([0, 0, 1])
    rows = info_nce_rows(Q, K, 1.0, ids, ids)
    assert rows.shape == (3,)
    assert rows.mean().item() == pytest.approx(
        info_nce(Q, K, 1.0, query_ids=ids, key_ids=ids, symmetric=False).item(), abs=1e-7
    )
    # row 2 has one positive (key 2): its term is the plain cross-entropy of that row
    assert rows[2].item() == pytest.approx(-(0.96 - _lse(0.6, 0.8, 0.96)), abs=1e-6)
    with pytest.raises(ValueError, match="at least one positive"):
        info_nce_rows(Q, K, 1.0, torch.tensor([0, 1, 2]), torch.tensor([5, 6, 7]))
