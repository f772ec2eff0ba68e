"""Audio layer throughput: decode, resample and feature extraction, in audio seconds per second.

One run generates ``--files`` stereo 44.1 kHz clips of ``--seconds`` s (tones, chirps, noise
bursts) and writes them as WAV (PCM-16), FLAC, MP3 (libsndfile) and M4A/AAC (PyAV), then
measures, per format and interleaved round-robin over ``--repeats`` rounds (median reported):

* ``decode_only``: the reference, ``soundfile.read`` / a bare PyAV decode loop at the native
  rate (what the decoder library alone costs);
* ``load_native``: ``load_audio(path, 44100)`` (decode + mono mixdown, no resampling);
* ``load_resample``: ``load_audio(path, 32000)`` (+ soxr HQ resampling to PANN's rate);
* ``load_resample_logmel``: + PANN's log-mel front end (``LogMel(**PANN_LOGMEL)``);
* ``load_resample_spectrogram``: + the paper's linear log-magnitude spectrogram (1024 / 512);
* ``window_10s``: ``load_audio(path, 32000, start=mid, end=mid + 10)``, a seeked window, with
  its throughput counted in *window* seconds, beside ``load_resample`` of the whole file.

Throughput is audio seconds / wall seconds, and also / CPU seconds of this process (more stable
on a shared machine). Features run on the CPU with ``--threads`` torch threads (default 1).
Result: ``benchmarks/results/bench_audio_io.json``. Usage:
``python benchmarks/bench_audio_io.py [--files 10] [--seconds 30] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_audio_io")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_audio_io.json"
NATIVE_SR = 44100
TARGET_SR = 32000


def make_clip(seconds: float, seed: int) -> np.ndarray:
    """Stereo float32 (samples, 2): a chord, a chirp and noise bursts, different per seed."""
    rng = np.random.default_rng(seed)
    n = int(seconds * NATIVE_SR)
    t = np.arange(n) / NATIVE_SR
    base = rng.uniform(110, 440)
    chord = sum(0.15 * np.sin(2 * np.pi * base * r * t) for r in (1.0, 1.25, 1.5))
    chirp = 0.1 * np.sin(2 * np.pi * (200 * t + rng.uniform(50, 300) * t**2 / seconds))
    env = (np.sin(2 * np.pi * rng.uniform(0.5, 3) * t) > 0.6).astype(np.float64)
    noise = 0.05 * rng.standard_normal(n) * env
    left = chord + chirp + noise
    right = 0.8 * chord - chirp + noise
    return np.stack([left, right], 1).astype(np.float32)


def write_library(root: Path, files: int, seconds: float) -> dict[str, list[Path]]:
    import soundfile as sf

    out: dict[str, list[Path]] = {"wav": [], "flac": [], "mp3": [], "m4a": []}
    for i in range(files):
        x = make_clip(seconds, i)
        for fmt, kw in (("wav", {"subtype": "PCM_16"}), ("flac", {}), ("mp3", {})):
            p = root / f"clip{i:02d}.{fmt}"
            sf.write(p, x, NATIVE_SR, **kw)
            out[fmt].append(p)
        p = root / f"clip{i:02d}.m4a"
        write_m4a(p, x)
        out["m4a"].append(p)
    return out


def write_m4a(path: Path, x: np.ndarray) -> None:
    import fractions

    import av

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=NATIVE_SR, layout="stereo")
        res = av.AudioResampler(format=s.codec_context.format.name, layout="stereo", rate=NATIVE_SR)
        for i in range(0, len(x), 8192):
            fr = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(x[i : i + 8192].T), format="fltp", layout="stereo"
            )
            fr.sample_rate, fr.pts, fr.time_base = NATIVE_SR, i, fractions.Fraction(1, NATIVE_SR)
            for r in res.resample(fr):
                for pkt in s.encode(r):
                    c.mux(pkt)
        for r in res.resample(None):
            for pkt in s.encode(r):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def decode_only(path: Path) -> int:
    """The decoder library alone, native rate, no mixdown: returns frames decoded."""
    if path.suffix == ".m4a":
        import av

        n = 0
        with av.open(str(path)) as c:
            for frame in c.decode(audio=0):
                frame.to_ndarray()
                n += frame.samples
        return n
    import soundfile as sf

    return len(sf.read(str(path), dtype="float32")[0])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    from audioseek.audio.features import PANN_LOGMEL, LogMel, Spectrogram
    from audioseek.audio.io import load_audio

    torch.set_num_threads(args.threads)
    logmel = LogMel(**PANN_LOGMEL)
    linspec = Spectrogram(n_fft=1024, hop_length=512)

    def feat(module, y):
        with torch.inference_mode():
            return module(torch.from_numpy(y)[None])

    mid = max(0.0, args.seconds / 2 - 5.0)
    win_s = min(10.0, args.seconds)
    pipelines = {
        "decode_only": (decode_only, args.seconds),
        "load_native": (lambda p: load_audio(p, NATIVE_SR), args.seconds),
        "load_resample": (lambda p: load_audio(p, TARGET_SR), args.seconds),
        "load_resample_logmel": (lambda p: feat(logmel, load_audio(p, TARGET_SR)), args.seconds),
        "load_resample_spectrogram": (
            lambda p: feat(linspec, load_audio(p, TARGET_SR)),
            args.seconds,
        ),
        "window_10s": (lambda p: load_audio(p, TARGET_SR, start=mid, end=mid + win_s), win_s),
    }

    with tempfile.TemporaryDirectory(prefix="bench_audio_io_") as tmp:
        log.info("writing %d x %.0f s clips as wav/flac/mp3/m4a", args.files, args.seconds)
        lib = write_library(Path(tmp), args.files, args.seconds)
        sizes = {fmt: sum(p.stat().st_size for p in ps) for fmt, ps in lib.items()}
        wall: dict = {f: {k: [] for k in pipelines} for f in lib}
        cpu: dict = {f: {k: [] for k in pipelines} for f in lib}
        for fn, _ in pipelines.values():  # warm-up: imports, soxr/torch first-call costs
            fn(lib["wav"][0])
        for r in range(args.repeats):
            log.info("round %d/%d", r + 1, args.repeats)
            for fmt, paths in lib.items():
                for name, (fn, _) in pipelines.items():
                    w0, c0 = time.perf_counter(), time.process_time()
                    for p in paths:
                        fn(p)
                    wall[fmt][name].append(time.perf_counter() - w0)
                    cpu[fmt][name].append(time.process_time() - c0)

    results: dict = {}
    for fmt in lib:
        results[fmt] = {"bytes_per_audio_second": sizes[fmt] / (args.files * args.seconds)}
        for name, (_, secs) in pipelines.items():
            audio = args.files * secs
            w, c = statistics.median(wall[fmt][name]), statistics.median(cpu[fmt][name])
            results[fmt][name] = {
                "audio_s_per_wall_s": round(audio / w, 1),
                "audio_s_per_cpu_s": round(audio / c, 1) if c > 0 else None,
                "wall_s": round(w, 4),
                "cpu_s": round(c, 4),
            }
        ref = results[fmt]["decode_only"]["audio_s_per_cpu_s"]
        results[fmt]["relative_to_decode_only_cpu"] = {
            k: round(v["audio_s_per_cpu_s"] / ref, 3)
            for k, v in results[fmt].items()
            if isinstance(v, dict) and "audio_s_per_cpu_s" in v
        }
        full = wall[fmt]["load_resample"]
        window = wall[fmt]["window_10s"]
        results[fmt]["window_speedup_vs_full_read_wall"] = round(
            statistics.median(full) / statistics.median(window), 2
        )

    out = {
        "benchmark": "bench_audio_io",
        "reference": "decode_only (soundfile.read / bare PyAV decode, native rate) in the same run",
        "files": args.files,
        "seconds_per_file": args.seconds,
        "native_rate": NATIVE_SR,
        "channels": 2,
        "target_rate": TARGET_SR,
        "features": {"logmel": "PANN_LOGMEL", "spectrogram": "n_fft=1024 hop=512 log-magnitude"},
        "window": {"start_s": mid, "seconds": win_s},
        "repeats": args.repeats,
        "statistic": "median over repeats",
        "torch_threads": args.threads,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m_at_end": os.getloadavg()[0],
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for fmt, r in results.items():
        line = ", ".join(f"{k}={r[k]['audio_s_per_wall_s']:.0f}" for k in pipelines if k in r)  # noqa: E501
        print(f"{fmt}: audio s / wall s: {line}")
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
