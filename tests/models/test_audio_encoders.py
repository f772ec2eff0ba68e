from __future__ import annotations

import numpy as np
import pytest
import torch

from audioseek.errors import ModelLoadError
from audioseek.models.registry import build_audio_encoder


def _covers_each_param_once(enc) -> list[str]:
    groups = enc.block_groups()
    ids = [id(p) for _, ps in groups for p in ps]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in enc.parameters()}
    return [name for name, _ in groups]


def _batch_invariant(enc, wave: np.ndarray, atol=1e-5) -> torch.Tensor:
    enc.eval()
    x = torch.from_numpy(wave)
    with torch.no_grad():
        batch = enc(x)
        single = torch.cat([enc(x[i : i + 1]) for i in range(len(x))])
        again = enc(x)
    torch.testing.assert_close(batch, single, atol=atol, rtol=1e-4)
    assert torch.equal(batch, again)  # deterministic
    return batch


def test_small_cnn(noise):
    enc = build_audio_encoder("small_cnn")
    assert enc.output_dim == 128 and enc.sample_rate == 16000
    assert isinstance(enc.augment, torch.nn.Identity)
    names = _covers_each_param_once(enc)
    assert names == ["bn0", "block1", "block2", "block3", "block4"]
    out = _batch_invariant(enc, noise(3, 1.0, 16000))
    assert out.shape == (3, 128)
    assert not torch.allclose(out[0], out[1])


def test_small_cnn_fixed_length_and_state_dict_file(tmp_path, noise):
    enc = build_audio_encoder("small_cnn", clip_seconds=0.5, channels=[4, 4, 8, 8])
    wave = torch.from_numpy(noise(1, 1.0, 16000))
    feats = enc.features(wave)
    assert feats.shape[0] == 1 and feats.shape[1] == 64
    assert feats.shape[-1] == enc.features(wave[:, :8000]).shape[-1]
    torch.save(enc.backbone.state_dict(), tmp_path / "cnn.pth")
    enc2 = build_audio_encoder(
        "small_cnn", clip_seconds=0.5, channels=[4, 4, 8, 8], weights_path=str(tmp_path / "cnn.pth")
    )
    sd1, sd2 = enc.backbone.state_dict(), enc2.backbone.state_dict()
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k])


@pytest.mark.slow
def test_resnet50_loads_torchvision_state_dict(tmp_path, noise):
    import torchvision

    torch.manual_seed(1)
    ref = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(ref.state_dict(), path)
    enc = build_audio_encoder("resnet50", weights_path=str(path), clip_seconds=1.0).eval()
    assert torch.equal(enc.backbone.net.fc.weight, ref.fc.weight)
    assert enc.output_dim == 1000  # Table 1: FC layer, 1000-d
    names = _covers_each_param_once(enc)
    assert names == ["stem", "layer1", "layer2", "layer3", "layer4", "fc"]
    wave = torch.from_numpy(noise(1, 1.0, enc.sample_rate))
    with torch.no_grad():
        out = enc(wave)
        # same computation by hand: spectrogram -> image adapter -> torchvision model
        from audioseek.audio.features import image_adapter, spectrogram

        expected = ref(image_adapter(spectrogram(wave, n_fft=1024, hop_length=512)))
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    # a state dict of another architecture is a clear load error naming the file
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelLoadError, match="bad.pth"):
        build_audio_encoder("resnet50", weights_path=str(tmp_path / "bad.pth"))
    with pytest.raises(ModelLoadError, match="missing.pth"):
        build_audio_encoder("resnet50", weights_path=str(tmp_path / "missing.pth"))


@pytest.mark.slow
def test_vit_b_16_embedding_is_layer11_mlp_class_token(tmp_path, noise):
    import torchvision

    torch.manual_seed(2)
    ref = torchvision.models.vit_b_16(weights=None).eval()
    path = tmp_path / "vit_b_16.pth"
    torch.save(ref.state_dict(), path)
    enc = build_audio_encoder("vit_b_16", weights_path=str(path), clip_seconds=1.0).eval()
    assert enc.output_dim == 768  # Table 1: encoder layer 11 MLP, 768-d
    names = _covers_each_param_once(enc)
    assert names == ["embed"] + [f"encoder_layer_{i}" for i in range(12)]
    wave = torch.from_numpy(noise(1, 1.0, enc.sample_rate))
    captured = {}
    mlp = ref.encoder.layers.encoder_layer_11.mlp
    handle = mlp.register_forward_hook(lambda m, i, o: captured.setdefault("mlp", o))
    from audioseek.audio.features import image_adapter, spectrogram

    with torch.no_grad():
        out = enc(wave)
        ref(image_adapter(spectrogram(wave, n_fft=1024, hop_length=512)))
    handle.remove()
    torch.testing.assert_close(out, captured["mlp"][:, 0], atol=1e-4, rtol=1e-4)
    from audioseek.models.audio_encoders import ViTLayer11MLP

    with torch.no_grad():  # pooling="mean" averages the same MLP output over all tokens
        img = image_adapter(spectrogram(wave, n_fft=1024, hop_length=512))
        mean_out = ViTLayer11MLP(ref, pooling="mean").eval()(img)
    torch.testing.assert_close(mean_out, captured["mlp"].mean(dim=1), atol=1e-4, rtol=1e-4)


OFFICIAL_CNN14_KEYS = {  # a sample of the names/shapes in Cnn14_mAP=0.431.pth["model"]
    "bn0.running_mean": (64,),
    "conv_block1.conv1.weight": (64, 1, 3, 3),
    "conv_block1.bn2.num_batches_tracked": (),
    "conv_block6.conv2.weight": (2048, 2048, 3, 3),
    "fc1.weight": (2048, 2048),
    "fc_audioset.weight": (527, 2048),
    "fc_audioset.bias": (527,),
}


@pytest.mark.slow
def test_cnn14_loads_official_checkpoint_format(tmp_path, noise):
    from audioseek.models.pann import Cnn14

    torch.manual_seed(3)
    ref = Cnn14().eval()
    sd = ref.state_dict()
    for k, shape in OFFICIAL_CNN14_KEYS.items():
        assert tuple(sd[k].shape) == shape
    # the official file also holds torchlibrosa's front-end buffers; they must be ignored
    sd["spectrogram_extractor.stft.conv_real.weight"] = torch.randn(513, 1, 1024)
    sd["spectrogram_extractor.stft.conv_imag.weight"] = torch.randn(513, 1, 1024)
    sd["logmel_extractor.melW"] = torch.randn(513, 64)
    path = tmp_path / "Cnn14_mAP=0.431.pth"
    torch.save({"iteration": 0, "model": sd}, path)
    enc = build_audio_encoder("cnn14", weights_path=str(path)).eval()
    assert enc.output_dim == 2048 and enc.sample_rate == 32000  # Table 1: fc1, 2048-d
    assert torch.equal(enc.backbone.fc1.weight, ref.fc1.weight)
    assert enc.backbone.fc_audioset is None  # classifier is not part of the embedding
    names = _covers_each_param_once(enc)
    assert names == [f"conv_block{i}" for i in range(1, 7)] + ["fc1"]
    wave = torch.from_numpy(noise(2, 1.0, 32000))
    with torch.no_grad():
        out = enc(wave)
    assert out.shape == (2, 2048) and bool((out >= 0).all())  # relu(fc1)
    # not the official format: no "model" key / truncated file
    torch.save(ref.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(ModelLoadError, match="'model'"):
        build_audio_encoder("cnn14", weights_path=str(tmp_path / "plain.pth"))
    (tmp_path / "trunc.pth").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="trunc.pth"):
        build_audio_encoder("cnn14", weights_path=str(tmp_path / "trunc.pth"))


def test_cnn14_cached_checkpoint_is_not_downloaded_again(tmp_path):
    from audioseek.models.pann import CNN14_FILENAME, CNN14_URL, fetch_cnn14_checkpoint

    assert CNN14_URL.startswith("https://zenodo.org/record/3987831/")
    (tmp_path / CNN14_FILENAME).write_bytes(b"x")
    assert fetch_cnn14_checkpoint(tmp_path) == tmp_path / CNN14_FILENAME


# ---- aisfx: real weights from the wheel, parity with aisfx's own inference code ----------


def _aisfx_reference(wave: np.ndarray, tmp_path) -> torch.Tensor:
    """aisfx's pipeline: librosa spectrogram -> normalise -> blocks -> CrossNet embedding."""
    pytest.importorskip("librosa")
    import soundfile as sf
    from aisfx import inference, preprocessing
    from aisfx.spectrogram import spectrogram_librosa

    path = tmp_path / "clip.wav"
    sf.write(path, wave, 44100, subtype="FLOAT")
    spec = spectrogram_librosa.compute_spectrogram(
        str(path),
        inference.SAMPLE_RATE,
        inference.SPEC_BLOCK_LENGTH,
        inference.SPEC_HOP_LENGTH,
        inference.MEL_BINS,
        inference.F_MIN,
        inference.F_MAX,
    )
    spec = preprocessing.spectrogram_normalize(spec.T)  # librosa gives (mels, frames)
    # aisfx.inference.load_weights uses torch.load's old default; same file, explicit flag
    weights, ds_dict = torch.load(
        inference.get_path_modelWeights(), map_location="cpu", weights_only=False
    )
    model = inference.load_bestModel(weights, ds_dict, "cpu")
    return inference.model_get_embedding(spec, 0.5, True, model, "cpu")


@pytest.mark.parametrize("n_samples", [99 * 1024, 60000])  # one full block; a short clip
def test_aisfx_matches_its_own_inference(tmp_path, noise, n_samples):
    enc = build_audio_encoder("aisfx").eval()
    assert enc.output_dim == 512 and enc.sample_rate == 44100
    wave = noise(1, n_samples / 44100, 44100)[0]
    expected = _aisfx_reference(wave, tmp_path)
    assert expected.shape == (1, 512)
    with torch.no_grad():
        out = enc(torch.from_numpy(wave)[None])
    torch.testing.assert_close(out, expected, atol=2e-4, rtol=1e-4)


def test_aisfx_block_pooling_matches_aisfx_blocks(tmp_path, noise):
    wave = noise(1, 5.0, 44100, seed=4)[0]  # 216 frames -> 3 full aisfx blocks
    expected = _aisfx_reference(wave, tmp_path)
    assert expected.shape == (3, 512)
    x = torch.from_numpy(wave)[None]
    with torch.no_grad():
        mean = build_audio_encoder("aisfx", pooling="block_mean").eval()(x)
        mx = build_audio_encoder("aisfx", pooling="block_max").eval()(x)
    torch.testing.assert_close(mean, expected.mean(0, keepdim=True), atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(mx, expected.amax(0, keepdim=True), atol=2e-4, rtol=1e-4)


def test_aisfx_groups_and_batch_invariance(noise):
    enc = build_audio_encoder("aisfx")
    assert _covers_each_param_once(enc) == [f"conv_block{i}" for i in range(1, 5)]
    out = _batch_invariant(enc, noise(3, 2.5, 44100))
    assert out.shape == (3, 512)
    assert not torch.allclose(out[0], out[1])
