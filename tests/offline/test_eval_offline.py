"""scripts/eval_offline.py's measures for choosing between offline models without the test
set (the validation split, macro-averaged over sources) and scripts/offline_heads.py's
development set of unseen sources (``--dev-sources``)."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn


@pytest.fixture(scope="module")
def scripts(import_script):
    return import_script("eval_offline"), import_script("offline_heads")


def _rows(n, source, split, category="animal"):
    return [
        {
            "path": f"{source}/{i}.flac",
            "source": source,
            "split": split,
            "label": f"thing {i}",
            "category": category,
            **{f"caption_{j}": f"{source} sound {i} take {j}" for j in range(1, 4)},
        }
        for i in range(n)
    ]


def _held(ev, rows, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    captions, owner = [], []
    for i, r in enumerate(rows):
        caps = [r[f"caption_{j}"] for j in range(1, 4)]
        captions += caps
        owner += [i] * len(caps)
    sets = ev.label_sets(rows, min_per_class=5)
    prompts = [p for ls in sets.values() for p in ls.prompts()]
    return ev.HeldOut(
        paths=[r["path"] for r in rows],
        sources=[r["source"] for r in rows],
        audio=torch.randn(len(rows), dim, generator=g),
        captions=captions,
        caption_clip=owner,
        text=torch.randn(len(captions), dim, generator=g),
        label_sets=sets,
        prompt_text={p: torch.randn(dim, generator=g) for p in prompts},
    )


def test_source_macro_weighs_every_source_alike(scripts):
    ev, _ = scripts
    ret = {
        "big": {"clips": 300, "captions": 900, "map@10": 0.1, "r@10": 0.2, "mrr": 0.1},
        "small": {"clips": 10, "captions": 30, "map@10": 0.9, "r@10": 1.0, "mrr": 0.9},
        "tiny": {"clips": 3, "captions": 9, "map@10": 0.0, "r@10": 0.0, "mrr": 0.0},
        "all held-out": {"clips": 313, "captions": 939, "map@10": 0.12, "r@10": 0.2, "mrr": 0.1},
    }
    m = ev.source_macro(ret, min_clips=10)
    assert m["sources"] == ["big", "small"]  # tiny has too few clips, "all" is not a source
    assert m["map@10"] == pytest.approx(0.5) and m["r@10"] == pytest.approx(0.6)
    assert ev.source_macro({"all held-out": ret["all held-out"]}) == {"sources": []}


def test_evaluate_heads_on_validation_clips(scripts):
    # validation clips are in no labelled set: the report has retrieval, the macro mean and
    # the category zero-shot, and no labelled zero-shot (which would be a mean of nothing)
    ev, _ = scripts
    rows = _rows(12, "a", "val") + _rows(10, "b", "val", category="water")
    held = _held(ev, rows)
    out = ev.evaluate_heads(held, nn.Identity(), nn.Identity())
    assert "zero_shot" not in out and out["zero_shot_category"]["n_clips"] == 22
    assert set(out["retrieval"]) == {"a", "b", "all held-out"}
    per = [out["retrieval"][s]["map@10"] for s in ("a", "b")]
    assert out["source_macro"]["map@10"] == pytest.approx(sum(per) / 2)
    # sampling intervals around the over-all numbers, clips resampled
    for key in ("r@1", "r@10", "map@10", "mrr"):
        lo, hi = out["ci95"][key]
        assert lo <= out["retrieval"]["all held-out"][key] <= hi and lo < hi
    z = out["zero_shot_category"]["results"]["ensemble"]
    assert z["accuracy_ci95"][0] <= z["accuracy"] <= z["accuracy_ci95"][1]
    # a perfect model: every caption's vector is its clip's vector; no sampling spread
    perfect = ev.HeldOut(**{**held.__dict__, "text": held.audio[held.caption_clip]})
    best = ev.evaluate_heads(perfect, nn.Identity(), nn.Identity())
    assert best["source_macro"]["map@10"] == pytest.approx(1.0)
    assert best["ci95"]["map@10"] == pytest.approx([1.0, 1.0])


def _manifest(tmp_path, rows):
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_load_heldout_names_what_matched_nothing(scripts, tmp_path):
    ev, _ = scripts
    m = _manifest(tmp_path, _rows(3, "a", "train") + _rows(2, "h", "heldout"))
    with pytest.raises(SystemExit, match="'val'.*manifest.csv"):
        ev.load_heldout(m, tmp_path, split="val")
    with pytest.raises(SystemExit, match="zz"):
        ev.load_heldout(m, tmp_path, split=None, sources={"zz"})


@pytest.mark.parametrize(
    ("dev", "message"),
    [("a,nope", r"no such source.*\['nope'\]"), ("h", "held-out source cannot")],
)
def test_dev_sources_are_checked_before_any_work(scripts, tmp_path, dev, message):
    _, oh = scripts
    m = _manifest(tmp_path, _rows(3, "a", "train") + _rows(2, "h", "heldout"))
    with pytest.raises(SystemExit, match=message):
        oh.main(["--manifest", str(m), "--features", str(tmp_path / "f"), "--dev-sources", dev])
    assert not (tmp_path / "f").exists()


def _zero_shot_only(ev, rows, sets, audio, prompt_text):
    """Held-out clips with given audio vectors and prompt vectors, and no captions."""
    return ev.HeldOut(
        paths=[r["path"] for r in rows],
        sources=[r["source"] for r in rows],
        audio=audio,
        captions=[],
        caption_clip=[],
        text=torch.zeros(0, audio.shape[1]),
        label_sets=sets,
        prompt_text=prompt_text,
    )


def test_zero_shot_uses_the_given_templates(scripts):
    # two classes; the audio of each class sits on its class's "{} noise" prompt vector, and
    # the default templates' vectors point elsewhere: "{} noise" alone is right on every clip
    # and the ensemble over ("{} noise", "{}") follows it, since "{}" is set orthogonal
    ev, _ = scripts
    rows = _rows(5, "a", "heldout", category="water") + _rows(5, "b", "heldout", category="fire")
    templates = ("{} noise", "{}")
    sets = ev.label_sets(rows, min_per_class=5, templates=templates)
    ls = sets["category"]
    assert ls.prompts() == ["fire noise", "fire", "water noise", "water"]
    basis = torch.eye(4)
    prompt_text = {"fire noise": basis[0], "water noise": basis[1], "fire": basis[2]}
    prompt_text["water"] = basis[2]  # the bare names cannot tell the classes apart
    audio = torch.stack([basis[1]] * 5 + [basis[0]] * 5)
    held = _zero_shot_only(ev, rows, sets, audio, prompt_text)
    z = ev.zero_shot(held, audio, nn.Identity(), "category")
    assert set(z["results"]) == {"{} noise", "{}", "ensemble"}
    assert z["results"]["{} noise"]["accuracy"] == 1.0
    assert z["results"]["ensemble"]["accuracy"] == 1.0
    assert z["results"]["{}"]["balanced"] == pytest.approx(0.5)  # one class for every clip


@pytest.mark.parametrize("template", ["no slot", "a {} {}", "{x} sound"])
def test_bad_prompt_templates_are_usage_errors(scripts, tmp_path, template, capsys):
    ev, _ = scripts
    with pytest.raises(SystemExit) as e:
        ev.main(["--manifest", str(tmp_path / "m.csv"), "--prompts", "{} sound", template])
    assert e.value.code == 2
    assert repr(template) in capsys.readouterr().err


def test_calibrated_zero_shot_removes_a_class_prior(scripts):
    # every clip leans towards "fire" (its prompt vector shares the direction all the audio
    # has): uncalibrated, the water clips are called fire; with each class's mean score over
    # unlabelled reference clips subtracted, both classes are right
    ev, _ = scripts
    rows = _rows(5, "a", "heldout", category="water") + _rows(5, "b", "heldout", category="fire")
    sets = ev.label_sets(rows, min_per_class=5, templates=("{}",))
    prompt_text = {"fire": torch.tensor([1.0, 0.0]), "water": torch.tensor([0.0, 1.0])}
    audio = torch.tensor([[0.7, 0.5]] * 5 + [[0.9, 0.1]] * 5)
    held = _zero_shot_only(ev, rows, sets, audio, prompt_text)
    plain = ev.zero_shot(held, audio, nn.Identity(), "category")
    assert "ensemble, calibrated" not in plain["results"]
    assert plain["results"]["ensemble"]["per_class"] == {"fire": 1.0, "water": 0.0}
    reference = torch.tensor([[0.8, 0.3]] * 4)
    z = ev.zero_shot(held, audio, nn.Identity(), "category", reference)
    assert z["results"]["ensemble"] == plain["results"]["ensemble"]
    assert z["results"]["ensemble, calibrated"]["accuracy"] == 1.0


def test_paired_differences_between_two_models(scripts):
    ev, _ = scripts
    rows = _rows(12, "a", "heldout") + _rows(10, "b", "heldout", category="water")
    held = _held(ev, rows)
    noisy = ev.evaluate_heads(held, nn.Identity(), nn.Identity(), keep_per_query=True)
    assert noisy["per_query"]["map@10"].shape == (len(held.captions),)
    same = ev.paired(held, noisy, noisy)
    assert same["map@10"] == {"difference": 0.0, "ci95": [0.0, 0.0]}
    assert same["zero_shot_category"]["difference"] == 0.0
    # the perfect model (captions on their clips) against the random one: every retrieval
    # difference is positive and its interval excludes zero
    perfect_held = ev.HeldOut(**{**held.__dict__, "text": held.audio[held.caption_clip]})
    perfect = ev.evaluate_heads(perfect_held, nn.Identity(), nn.Identity(), keep_per_query=True)
    diff = ev.paired(held, noisy, perfect)
    for key in ("r@1", "r@10", "map@10", "mrr"):
        assert diff[key]["difference"] == pytest.approx(
            1.0 - noisy["retrieval"]["all held-out"][key]
        )
        assert diff[key]["ci95"][0] > 0
    # zero-shot: per-clip correctness is kept, so the paired difference is exact
    a = noisy["zero_shot_category"]["results"]["ensemble"]
    assert len(a["correct"]) == 22 and sum(a["correct"]) / 22 == pytest.approx(a["accuracy"])
    assert "per_query" not in ev.evaluate_heads(held, nn.Identity(), nn.Identity())


def test_a_group_averages_its_models_per_caption_and_clip(scripts):
    ev, _ = scripts
    rows = _rows(12, "a", "heldout") + _rows(10, "b", "heldout", category="water")
    held = _held(ev, rows)
    noisy = ev.evaluate_heads(held, nn.Identity(), nn.Identity(), keep_per_query=True)
    perfect_held = ev.HeldOut(**{**held.__dict__, "text": held.audio[held.caption_clip]})
    perfect = ev.evaluate_heads(perfect_held, nn.Identity(), nn.Identity(), keep_per_query=True)
    alone = ev.group_result(held, [noisy])
    assert alone["mean"]["map@10"] == pytest.approx(noisy["retrieval"]["all held-out"]["map@10"])
    assert alone["ci95"]["map@10"] == pytest.approx(noisy["ci95"]["map@10"])
    both = ev.group_result(held, [noisy, perfect])
    for key in ("r@1", "map@10", "mrr"):
        assert both["mean"][key] == pytest.approx(
            (noisy["retrieval"]["all held-out"][key] + 1.0) / 2
        )
    zs = [m["zero_shot_category"]["results"]["ensemble"]["accuracy"] for m in (noisy, perfect)]
    assert both["mean"]["zero_shot_category"] == pytest.approx(sum(zs) / 2)
    diff = ev.paired(held, alone, both)  # groups compare like models
    assert diff["map@10"]["difference"] == pytest.approx(
        both["mean"]["map@10"] - alone["mean"]["map@10"]
    )
    assert diff["map@10"]["ci95"][0] > 0


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([["onlyname"]], "give a name and at least one model"),
        ([["a", "offline"], ["a", "offline"]], "twice"),
        ([["a", "offline", "runs/no_such_model"]], "'runs/no_such_model' is neither"),
    ],
)
def test_bad_groups_are_usage_errors(scripts, tmp_path, capsys, groups, message):
    ev, _ = scripts
    argv = ["--manifest", str(tmp_path / "m.csv")]
    for g in groups:
        argv += ["--group", *g]
    with pytest.raises(SystemExit) as e:
        ev.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
