"""The MiniLM-tail candidate of scripts/offline_heads.py (docs/offline_model.md): hidden
states cached before the last layers, then those layers run again, must give the frozen
encoder's own output at initialisation, whatever the padding of the batch; and the tail
must be trainable (its layers receive gradients)."""

from __future__ import annotations

import pytest
import torch

TEXTS = ["rain", "a dog barking loudly", "the sound of a helicopter taking off over the sea"]


@pytest.fixture(scope="module")
def scripts(import_script):
    return import_script("offline_features"), import_script("offline_heads")


@pytest.mark.parametrize("layers", [1, 2])
def test_tail_reproduces_the_frozen_encoder(scripts, tmp_path, layers):
    features, heads = scripts
    encoder = features._encoders()
    states = features.text_states(TEXTS, tmp_path / "states.pt", layers, model=encoder)
    assert [len(states[t]) for t in TEXTS] == sorted(len(states[t]) for t in TEXTS)
    assert all(states[t].dtype == torch.float16 for t in TEXTS)
    tail = heads.TextTail.from_minilm(layers).eval()
    got = tail.encode([states[t] for t in TEXTS])
    # one at a time (no padding at all) gives the same vectors as the padded batch
    alone = torch.cat([tail.encode([states[t]]) for t in TEXTS])
    torch.testing.assert_close(got, alone, atol=1e-5, rtol=0)
    from audioseek.models.text_encoders import minilm

    wheel = minilm().eval()  # the frozen encoder, not the shipped model's trained layer
    with torch.inference_mode():
        tok = wheel.tokenize(TEXTS)
        want = wheel(tok["input_ids"], tok["attention_mask"]).float()
    # the cached states are float16: the vectors agree to that precision
    assert (got - want).abs().max() < 5e-3
    cos = torch.nn.functional.cosine_similarity(got, want)
    assert cos.min() > 0.9999
    # cached: a second call encodes nothing (the file answers)
    again = features.text_states(TEXTS, tmp_path / "states.pt", layers, model=object())
    assert all(torch.equal(again[t], states[t]) for t in TEXTS)


def test_tail_trains(scripts, tmp_path):
    features, heads = scripts
    states = features.text_states(TEXTS, tmp_path / "s.pt", 1)
    tail = heads.TextTail.from_minilm(1).train()
    out = tail([states[t] for t in TEXTS])
    out[:, 0].sum().backward()
    grads = [p.grad for p in tail.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
