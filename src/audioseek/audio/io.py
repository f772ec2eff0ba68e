"""Decode any audio file to mono float32 at a target sample rate.

Two decoders sit behind one function:

* **libsndfile** (``soundfile``) for WAV (any PCM width, float), FLAC, Ogg Vorbis, Ogg Opus,
  MP3 (libsndfile >= 1.1 via mpg123), AIFF, AU, CAF, W64, RF64. Seeking is sample-exact.
* **FFmpeg** (PyAV, ``av``) for everything else ffmpeg reads: M4A/AAC/ALAC, WMA, WebM/Matroska,
  AC-3, AMR, ... and as a fallback when libsndfile refuses a file whose extension it claims.

Resampling uses soxr in high-quality mode; channels are mixed down by averaging.

**Streaming.** :func:`iter_chunks` decodes block by block (raw libsndfile reads, PyAV frame by
frame), mixes each block down and resamples it with a streaming ``soxr.ResampleStream``;
:func:`iter_windows` cuts that stream into the windows of
:func:`audioseek.audio.windows.sliding_windows`. Peak memory is a few blocks and one window
whatever the file's duration, and nothing is allocated from what a header claims (a WAV whose
header says 4 GB costs what its data costs). soxr's streaming output does not depend on how the
input is chunked and equals its one-shot output bit for bit, and :func:`load_audio` of a whole
file is the concatenation of the same stream, so every window from :func:`iter_windows` equals
the slice of :func:`load_audio`'s full read exactly. ``max_seconds`` refuses a file with
:class:`audioseek.errors.AudioTooLongError` as soon as the decoded duration passes the limit,
without decoding the rest. :func:`probe_duration` and :func:`audio_info` read headers (or, for
containers without a duration, count demuxed packets) and never decode the audio.

Windowed reads (``start``/``end`` in seconds) seek instead of decoding the whole file.
The returned samples are *defined* as the slice ``[round(start * sr), round(end * sr))`` of the
full read at ``sr``: the read starts at a native frame on the common grid of both rates (a
multiple of ``1 / gcd(native_sr, sr)`` seconds), early enough for the resampling filter and the
codec's pre-roll (4096 frames, dropped), so for libsndfile formats (MP3 and Ogg included) the
result equals the slice of a full read up to float rounding (~1e-6). (libsndfile 1.2 misplaces
seeks into the last page of an Ogg Vorbis stream, so such windows are entered from 4 s before
the end.) With PyAV a seek is used only when the stream's time base pins down single samples
(MP4/M4A, ADTS); lossy codecs decoded from a seek point can differ slightly from a full decode
(AAC noise substitution is not reproducible across seek points). Other containers (Matroska/
WebM with millisecond timestamps, ASF) decode the window from the file start and drop the prefix.

Every failure raises :class:`audioseek.errors.AudioDecodeError` naming the file and the reason.
A truncated file decodes as far as the data goes (a warning is logged); a file with no decodable
audio at all is an error. Decoding is deterministic.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioseek.audio.windows import Window, stream_windows, window_bounds
from audioseek.errors import AudioDecodeError, AudioTooLongError, ConfigError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus",
        ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64",
        ".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wma", ".asf", ".webm", ".mka", ".mkv",
        ".ac3", ".eac3", ".amr", ".3gp", ".mp2", ".mpga", ".wv", ".ape", ".tta", ".mpc",
    }
)  # fmt: skip
"""Extensions the indexer treats as audio (lower case, with the dot)."""

# Extensions libsndfile is tried on first; everything else goes straight to FFmpeg (PyAV),
# which avoids mpg123's lenient resync turning non-MP3 data into noise.
_SNDFILE_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc",
     ".au", ".snd", ".caf", ".w64", ".rf64"}
)  # fmt: skip

_LARGE = 1 << 20  # frames per block of a normal read (bounds peak memory of long files)
_STREAM_BYTES = 1 << 20  # bytes of interleaved float32 per raw libsndfile block when streaming
_BLOCK = 4096  # frames per block when salvaging a damaged file (at most this much is lost)
# Native frames decoded before a window and dropped: a lossy decoder that starts at a seek point
# (MP3 bit reservoir, MDCT overlap) only matches a full decode after a frame or two.
_PREROLL = 4096
_VORBIS_TAIL_S = 4.0  # never seek into the last seconds of an Ogg Vorbis stream (see read)
_PYAV_PREROLL_S = 0.2  # decode this much before a seek target (codec warm-up, e.g. AAC/Opus)

_SF_CODECS = {
    "PCM_S8": "pcm_s8", "PCM_U8": "pcm_u8", "PCM_16": "pcm_s16", "PCM_24": "pcm_s24",
    "PCM_32": "pcm_s32", "FLOAT": "pcm_f32", "DOUBLE": "pcm_f64", "ULAW": "pcm_mulaw",
    "ALAW": "pcm_alaw", "VORBIS": "vorbis", "OPUS": "opus", "MPEG_LAYER_I": "mp1",
    "MPEG_LAYER_II": "mp2", "MPEG_LAYER_III": "mp3", "ALAC_16": "alac", "ALAC_20": "alac",
    "ALAC_24": "alac", "ALAC_32": "alac",
}  # fmt: skip
_TAG_KEYS = ("title", "artist", "album", "genre")


@dataclass(frozen=True)
class AudioInfo:
    """Header information of an audio file (no full decode).

    ``duration`` in seconds, ``sample_rate`` in Hz (the decoder's native rate), ``format`` the
    container (``"wav"``, ``"flac"``, ``"mp3"``, ``"ogg"``, ``"m4a"``, ``"webm"``, ...), ``codec``
    the coded stream (``"pcm_s16"``, ``"flac"``, ``"vorbis"``, ``"opus"``, ``"aac"``, ...),
    ``tags`` the subset of ``title``/``artist``/``album``/``genre`` present in the file.
    """

    duration: float
    sample_rate: int
    channels: int
    format: str
    codec: str
    tags: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# public API


def load_audio(
    path: str | os.PathLike,
    sr: int,
    *,
    start: float | None = None,
    end: float | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to a mono float32 array ``(samples,)`` at ``sr`` Hz.

    ``start``/``end`` (seconds, ``None`` = file start / file end) select the window
    ``[round(start * sr), round(end * sr))`` of the full read; an ``end`` past the end of the
    file is clipped, a ``start`` at or past the end gives an empty array. Raises
    :class:`AudioDecodeError` for any file that cannot be decoded. A whole-file read is the
    concatenation of :func:`iter_chunks` (``max_seconds`` as there; it does not apply to
    windowed reads, which are bounded by their window). To bound memory on long or untrusted
    files, use :func:`iter_windows` instead.
    """
    sr = _check_rate(sr)
    path = _check_path(path)
    s0, s1 = _check_window(path, start, end)
    limit = _check_limit(max_seconds)
    out_start = 0 if s0 is None else int(round(s0 * sr))
    out_stop = None if s1 is None else int(round(s1 * sr))
    if out_start == 0 and out_stop is None:  # the whole file: the stream, concatenated
        parts = list(_chunks(path, sr, limit))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    try:
        with _open(path) as dec:
            y = _read_window(dec, dec.sample_rate, sr, out_start, out_stop)
    except AudioDecodeError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # any decoder failure becomes one typed, one-line error
        raise AudioDecodeError(path, _reason(e)) from e
    if not np.all(np.isfinite(y)):
        raise AudioDecodeError(path, "contains non-finite samples (NaN or inf)")
    return np.ascontiguousarray(y, dtype=np.float32)


def iter_chunks(
    path: str | os.PathLike, sr: int, *, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Decode ``path`` as a stream of mono float32 chunks ``(n,)`` at ``sr`` Hz.

    The concatenation of the chunks is :func:`load_audio` ``(path, sr)`` exactly; chunk lengths
    are the decoder's (a few thousand to ~65 000 samples) and carry no meaning. Memory is a few
    blocks whatever the duration. ``max_seconds`` (decoded seconds, ``None`` = no limit) raises
    :class:`AudioTooLongError` as soon as more than that has been decoded. The path, rate and
    limit are checked when this is called; decoding errors (:class:`AudioDecodeError`) are
    raised while iterating. The file stays open until the iterator is exhausted or closed.
    """
    sr = _check_rate(sr)
    path = _check_path(path)
    return _chunks(path, sr, _check_limit(max_seconds))


def iter_windows(
    path: str | os.PathLike,
    sr: int,
    window_s: float,
    hop_s: float,
    *,
    max_seconds: float | None = None,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Decode ``path`` window by window: ``(Window, samples)`` for every window of
    :func:`audioseek.audio.windows.sliding_windows` over the file at ``sr`` Hz.

    ``samples`` is mono float32 and equals ``load_audio(path, sr)[w.start:w.stop]`` bit for
    bit; the last window is shorter (not padded: the caller pads, e.g. with
    :func:`audioseek.audio.windows.frame`'s convention) and its ``end_s`` is the decoded
    duration. Peak memory is about one window plus a few decoder blocks, whatever the
    duration; nothing is decoded before the caller asks for the next window.
    ``max_seconds`` as in :func:`iter_chunks`: the windows before the limit are yielded, then
    :class:`AudioTooLongError` is raised. Window/hop and path errors are raised when this is
    called (:class:`ConfigError`, :class:`AudioDecodeError`), decoding errors while iterating.
    """
    sr = _check_rate(sr)
    window_bounds(sr, window_s, hop_s)
    chunks = iter_chunks(path, sr, max_seconds=max_seconds)
    return stream_windows(chunks, sr, window_s, hop_s)


def probe_duration(path: str | os.PathLike) -> float:
    """The file's duration in seconds from its headers, without decoding any audio (containers
    that store none: the sum of the demuxed packets' durations). A header cannot make this
    allocate: libsndfile bounds a PCM length by the file's size. It is what the file *claims*;
    the decoded duration (the last window's ``end_s``) is authoritative. Raises
    :class:`AudioDecodeError`."""
    return _header_info(_check_path(path)).duration


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read duration, rate, channels, container, codec and tags from the file's headers.

    Never decodes the audio (containers that store no duration at all: the demuxed packets'
    durations are summed). Raises :class:`AudioDecodeError`.
    """
    path = _check_path(path)
    info = _header_info(path)
    tags = _read_tags(path)
    for k, v in info.tags.items():
        tags.setdefault(k, v)
    return AudioInfo(info.duration, info.sample_rate, info.channels, info.format, info.codec, tags)


def _header_info(path: Path) -> AudioInfo:
    try:
        info = _sf_info(path) if _use_sndfile_first(path) else None
        if info is None:
            info = _av_info(path)
    except AudioDecodeError:
        raise
    except MemoryError:
        raise
    except Exception as e:
        raise AudioDecodeError(path, _reason(e)) from e
    if not info.duration > 0:
        raise AudioDecodeError(path, "no audio frames (zero duration)")
    return info


def _chunks(path: Path, sr: int, limit: float | None) -> Iterator[np.ndarray]:
    """The stream behind :func:`iter_chunks` (arguments already checked)."""
    try:
        with _open(path) as dec:
            native = dec.sample_rate
            rs = None
            if native != sr:
                import soxr

                rs = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ")
            max_in = None if limit is None else limit * native
            n_in = 0
            for x in dec.stream():
                if not np.all(np.isfinite(x)):
                    raise AudioDecodeError(path, "contains non-finite samples (NaN or inf)")
                n_in += len(x)
                if max_in is not None and n_in > max_in:
                    raise AudioTooLongError(path, limit)
                y = x if rs is None else rs.resample_chunk(x, last=False)
                if len(y):
                    yield y
            if n_in == 0:
                raise AudioDecodeError(path, _no_audio(dec))
            if rs is not None:
                y = rs.resample_chunk(np.zeros(0, np.float32), last=True)
                if len(y):
                    yield y
    except AudioDecodeError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # any decoder failure becomes one typed, one-line error
        raise AudioDecodeError(path, _reason(e)) from e


# --------------------------------------------------------------------------------------------
# validation


def _check_limit(max_seconds) -> float | None:
    if max_seconds is None:
        return None
    ok = not isinstance(max_seconds, bool) and isinstance(max_seconds, int | float | np.number)
    if not ok or not math.isfinite(max_seconds) or max_seconds <= 0:
        raise ConfigError(f"invalid max_seconds={max_seconds!r}; expected seconds > 0 or None")
    return float(max_seconds)


def _check_rate(sr) -> int:
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ConfigError(f"invalid target sample rate {sr!r}; expected a positive integer (Hz)")
    return int(sr)


def _check_path(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioDecodeError(p, "file does not exist")
    if not p.is_file():
        raise AudioDecodeError(p, "not a regular file")
    try:
        size = p.stat().st_size
    except OSError as e:
        raise AudioDecodeError(p, f"cannot stat file: {e.strerror or e}") from e
    if size == 0:
        raise AudioDecodeError(p, "file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise AudioDecodeError(p, "file is not readable (permission denied)")
    return p


def _check_window(path, start, end) -> tuple[float | None, float | None]:
    def num(name, v):
        if v is None:
            return None
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise AudioDecodeError(path, f"invalid {name}={v!r}; expected seconds") from None
        if not math.isfinite(f) or f < 0:
            raise AudioDecodeError(path, f"invalid {name}={v!r}; expected seconds >= 0")
        return f

    s, e = num("start", start), num("end", end)
    if s is not None and e is not None and e <= s:
        raise AudioDecodeError(
            path, f"invalid window start={start!r} end={end!r}; need end > start"
        )
    if s == 0:
        s = None
    return s, e


def _no_audio(dec) -> str:
    return "no decodable audio frames" + (f" ({dec.error})" if dec.error else "")


def _reason(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= 300 else msg[:297] + "..."


def _use_sndfile_first(path: Path) -> bool:
    ext = path.suffix.lower()
    return ext in _SNDFILE_EXTENSIONS or ext not in AUDIO_EXTENSIONS


# --------------------------------------------------------------------------------------------
# resampling and windows


def _resample(x: np.ndarray, native: int, sr: int) -> np.ndarray:
    if native == sr or x.size == 0:
        return x.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(x, native, sr, quality="HQ").astype(np.float32, copy=False)


def _read_window(dec, native: int, sr: int, out_start: int, out_stop: int | None) -> np.ndarray:
    """Samples ``[out_start, out_stop)`` of the full read at ``sr`` (see module docstring)."""
    if native == sr:
        a = max(0, out_start - _PREROLL)
        y = dec.read(a, out_stop)
        if y.size == 0 and dec.is_empty():
            raise AudioDecodeError(dec.path, _no_audio(dec))
        return y[out_start - a :]
    g = math.gcd(native, sr)
    unit_in, unit_out = native // g, sr // g  # grid on which both rates have a sample
    # output samples of context on each side: resampling filter + codec pre-roll
    margin = 1024 + 64 * -(-sr // native) + -(-_PREROLL * sr // native)
    a_out = (max(0, out_start - margin) // unit_out) * unit_out
    a_in = a_out // unit_out * unit_in
    if out_stop is None:
        b_in = None
    else:
        b_out = -(-(out_stop + margin) // unit_out) * unit_out
        b_in = b_out // unit_out * unit_in
    x = dec.read(a_in, b_in)
    if x.size == 0:
        if dec.is_empty():
            raise AudioDecodeError(dec.path, _no_audio(dec))
        return np.zeros(0, np.float32)
    y = _resample(x, native, sr)
    lo = out_start - a_out
    hi = None if out_stop is None else out_stop - a_out
    return y[lo:hi]


# --------------------------------------------------------------------------------------------
# decoders


def _open(path: Path):
    """Return an open decoder (context manager) with ``sample_rate`` and ``read(a, b)``."""
    errors = []
    order = (_SndfileDecoder, _PyAVDecoder)
    if not _use_sndfile_first(path):
        order = (_PyAVDecoder, _SndfileDecoder)
    for cls in order:
        try:
            return cls(path)
        except _CannotOpen as e:
            errors.append(f"{cls.backend}: {e}")
    raise AudioDecodeError(path, "not a recognised audio format (" + "; ".join(errors) + ")")


class _CannotOpen(Exception):
    """This backend cannot open the file; try the next one."""


def _mixdown(x: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,) float32 channel average.

    A column-wise loop: numpy's ``mean(axis=1)`` over a 2-wide axis is ~10x slower.
    """
    if x.ndim == 2:
        ch = x.shape[1]
        if ch == 1:
            x = x[:, 0]
        else:
            acc = x[:, 0].astype(np.float32, copy=True)
            for c in range(1, ch):
                acc += x[:, c]
            acc *= np.float32(1.0 / ch)
            x = acc
    return np.ascontiguousarray(x, dtype=np.float32)


class _SndfileDecoder:
    backend = "libsndfile"

    def __init__(self, path: Path):
        import soundfile as sf

        self.path = path
        try:
            self._f = sf.SoundFile(str(path))
        except Exception as e:
            reason = _reason(e).replace(f"Error opening {str(path)!r}: ", "").rstrip(".")
            if "does not exist or is not a regular file" in reason:  # libsndfile's probe failed
                reason = "format not recognised"
            raise _CannotOpen(reason) from e
        self.sample_rate = int(self._f.samplerate)
        self.channels = int(self._f.channels)
        self.error: str | None = None
        self._fresh = True  # nothing read or sought yet

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def is_empty(self) -> bool:
        return self._f.frames == 0 or self.read(0, 1).size == 0

    def read(self, start: int, stop: int | None) -> np.ndarray:
        """Mono float32 native-rate frames ``[start, stop)``; short at a (truncated) end."""
        self._fresh = False
        f = self._f
        if stop is not None and stop <= start:
            return np.zeros(0, np.float32)
        if start > 0:
            if f.frames > 0 and start >= f.frames and f.format != "MP3":  # MP3 length is a guess
                return np.zeros(0, np.float32)
            if f.subtype == "VORBIS" and f.frames - start < _VORBIS_TAIL_S * self.sample_rate:
                # libsndfile 1.2 misplaces seeks inside the last Ogg page of a Vorbis stream
                # (off by the end-trim); seek before it and decode through instead.
                skip = start - max(0, f.frames - int(_VORBIS_TAIL_S * self.sample_rate))
            else:
                skip = 0
            try:
                f.seek(start - skip)
            except Exception:
                return self._read_by_skipping(start, stop)
        else:
            f.seek(0)
            skip = 0
        n = -1 if stop is None else stop - start + skip
        try:
            return self._read_large(n)[skip:]
        except Exception as e:  # damaged data: let FFmpeg decode what it can, else salvage
            log.debug("libsndfile failed on %s (%s); trying FFmpeg", self.path, e)
            alt = self._read_with_ffmpeg(start - skip, stop)
            if alt is not None:
                return alt[skip:]
            self._reopen()  # the handle is unusable after an error
            if start > 0:
                try:
                    self._f.seek(start - skip)
                except Exception:
                    return self._read_by_skipping(start, stop)
            return self._read_blocks(n)[skip:]

    def stream(self) -> Iterator[np.ndarray]:
        """Mono float32 native-rate blocks from the file's start to its end.

        Raw ``sf_readf_float`` calls into one reused buffer: soundfile's ``read`` asks for the
        position and re-seeks around every call (which restarts libsndfile 1.2's MP3 decoder
        without its bit reservoir, and can misplace Vorbis near the end) and allocates what
        the header claims; a raw read does neither. Its output equals one full read. If
        libsndfile reports an error part-way, FFmpeg continues from the same frame when it can
        read the file at the same rate; otherwise the audio before the error is kept (with a
        warning).
        """
        from soundfile import _ffi, _snd

        if not self._fresh:  # a fresh handle is at frame 0 (asking would seek: see above)
            self._reopen()
        self._fresh = False
        f = self._f
        block = max(1024, _STREAM_BYTES // (4 * self.channels))
        buf = np.empty((block, self.channels), np.float32)
        ptr = _ffi.cast("float *", buf.ctypes.data)
        pos = 0
        while True:
            n = int(_snd.sf_readf_float(f._file, ptr, block))
            if n > 0:
                yield _mixdown(buf[:n]) if self.channels > 1 else buf[:n, 0].copy()
                pos += n
            if n < block:
                code = _snd.sf_error(f._file)
                if code:
                    reason = _ffi.string(_snd.sf_error_number(code)).decode("utf-8", "replace")
                    yield from self._continue_with_ffmpeg(pos, reason)
                return

    def _continue_with_ffmpeg(self, pos: int, reason: str) -> Iterator[np.ndarray]:
        log.debug("libsndfile failed on %s at frame %d (%s); trying FFmpeg", self.path, pos, reason)
        got = 0
        try:
            with _PyAVDecoder(self.path) as dec:
                if dec.sample_rate == self.sample_rate:
                    at = 0
                    for x in dec.stream():
                        if at + len(x) > pos:
                            part = x[max(0, pos - at) :]
                            got += len(part)
                            yield part
                        at += len(x)
                    if dec.error:
                        reason = dec.error
        except _CannotOpen:
            pass
        if pos == 0 and got == 0:
            raise AudioDecodeError(self.path, reason)
        self.error = reason
        log.warning("%s is damaged or truncated (%s); keeping the audio before it",
                    self.path, reason)  # fmt: skip

    def _read_with_ffmpeg(self, start: int, stop: int | None) -> np.ndarray | None:
        """The same frames decoded by PyAV, or None if FFmpeg cannot do better."""
        try:
            with _PyAVDecoder(self.path) as dec:
                if dec.sample_rate != self.sample_rate:
                    return None
                x = dec.read(start, stop)
                if dec.error:
                    log.warning("%s is damaged or truncated (%s); keeping the audio FFmpeg "
                                "could decode", self.path, dec.error)  # fmt: skip
                    self.error = dec.error
        except Exception:
            return None
        return x if x.size else None

    def _read_large(self, n: int) -> np.ndarray:
        """``n`` frames (-1: to the end) from the current position, by raw reads of ``_LARGE``
        frames at most, mixing each down as it comes (see :meth:`stream` for why not
        soundfile's ``read``: MP3 re-seeks, and an allocation of what the header claims).
        Raises ``RuntimeError`` if libsndfile reports an error (the caller falls back)."""
        from soundfile import _ffi, _snd

        f = self._f
        block = max(1, min(_LARGE, _STREAM_BYTES * 16 // (4 * self.channels)))
        buf = np.empty((block, self.channels), np.float32)
        ptr = _ffi.cast("float *", buf.ctypes.data)
        parts, left = [], n
        while left != 0:
            want = block if left < 0 else min(block, left)
            got = int(_snd.sf_readf_float(f._file, ptr, want))
            if got > 0:
                parts.append(_mixdown(buf[:got]) if self.channels > 1 else buf[:got, 0].copy())
                if left > 0:
                    left -= got
            if got < want:
                code = _snd.sf_error(f._file)
                if code:
                    raise RuntimeError(
                        _ffi.string(_snd.sf_error_number(code)).decode("utf-8", "replace")
                    )
                break
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _reopen(self):
        import soundfile as sf

        self._f.close()
        self._f = sf.SoundFile(str(self.path))

    def _read_blocks(self, n: int) -> np.ndarray:
        """Last-resort salvage: small blocks until the decoder fails (MP3: raw reads, see
        :meth:`stream` for why)."""
        if self._f.format == "MP3":
            try:
                return self._read_large(n)
            except Exception as e:
                raise AudioDecodeError(self.path, _reason(e)) from e
        blocks, got = [], 0
        while n < 0 or got < n:
            want = _BLOCK if n < 0 else min(_BLOCK, n - got)
            try:
                b = self._f.read(want, dtype="float32", always_2d=True)
            except Exception as e:
                if got == 0:
                    raise AudioDecodeError(self.path, _reason(e)) from e
                self.error = _reason(e)
                log.warning("%s is damaged or truncated (%s); keeping the audio before it",
                            self.path, self.error)  # fmt: skip
                break
            if len(b) == 0:
                break
            blocks.append(_mixdown(b))
            got += len(b)
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def _read_by_skipping(self, start: int, stop: int | None) -> np.ndarray:
        self._reopen()
        head = self._read_blocks(-1 if stop is None else stop)
        return head[start:]

    def info(self) -> AudioInfo:
        f = self._f
        fmt = str(f.format).lower()
        codec = "flac" if fmt == "flac" else _SF_CODECS.get(str(f.subtype), str(f.subtype).lower())
        tags = {}
        try:
            meta = f.copy_metadata()
            tags = {k: str(meta[k]).strip() for k in _TAG_KEYS if meta.get(k)}
        except Exception:  # metadata is optional
            pass
        return AudioInfo(
            duration=f.frames / self.sample_rate if self.sample_rate else 0.0,
            sample_rate=self.sample_rate,
            channels=self.channels,
            format=fmt,
            codec=codec,
            tags=tags,
        )


class _PyAVDecoder:
    backend = "ffmpeg"

    def __init__(self, path: Path):
        self.path = path
        self.error: str | None = None
        self._fresh = True
        try:
            self._c = self._container()
        except Exception as e:
            raise _CannotOpen(_reason(e).replace(f": {str(path)!r}", "")) from e
        if not self._c.streams.audio:
            name = self._c.format.name
            self._c.close()
            raise _CannotOpen(f"no audio stream in {name!r} container")
        self._s = self._c.streams.audio[0]
        cc = self._s.codec_context
        self.sample_rate = int(cc.sample_rate or 0)
        self.channels = int(cc.channels or 0)
        if self.sample_rate <= 0:
            self._c.close()
            raise _CannotOpen("audio stream has no sample rate")
        tb = self._s.time_base
        # Seek only when a timestamp pins down a single sample (e.g. MP4: 1/sample_rate).
        self._exact_seek = tb is not None and (tb.denominator % self.sample_rate == 0)

    def _container(self):
        import av

        return av.open(str(self.path), metadata_errors="ignore")

    def _rewind(self):
        """Reopen the file: a seek to 0 could skip the codec's priming-sample handling."""
        if not self._fresh:
            self._c.close()
            self._c = self._container()
            self._s = self._c.streams.audio[0]
        self._fresh = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._c.close()

    def is_empty(self) -> bool:
        return self.read(0, 1).size == 0

    def stream(self) -> Iterator[np.ndarray]:
        """Mono float32 native-rate chunks (one per decoded frame) from the file's start."""
        self._rewind()
        for _pts, x in self._frames():
            yield x

    def _frames(self):
        """Yield ``(pts, mono float32 chunk)``; stops (with a warning) at damaged data."""
        try:
            for frame in self._c.decode(self._s):
                yield frame.pts, _frame_to_mono(frame, self.sample_rate)
        except Exception as e:
            self.error = _reason(e)
            log.warning("%s is damaged or truncated (%s); decoding stops there", self.path, e)

    def read(self, start: int, stop: int | None) -> np.ndarray:
        """Mono float32 native-rate frames ``[start, stop)``; short at a (truncated) end."""
        if stop is not None and stop <= start:
            return np.zeros(0, np.float32)
        self._rewind()
        it = None
        if start > 0 and self._exact_seek:
            it, pos = self._seek(start)
        if it is None:
            it, pos = self._frames(), 0
        chunks = []
        for _pts, x in it:
            n = len(x)
            lo, hi = max(start - pos, 0), n if stop is None else min(stop - pos, n)
            if hi > lo:
                chunks.append(x[lo:hi])
            pos += n
            if stop is not None and pos >= stop:
                break
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    def _seek(self, start: int):
        """Seek a little before native frame ``start``; return (frame iterator, its position)."""
        first = next(iter(self._frames()), None)
        if first is None or first[0] is None:
            return None, 0
        pts0 = first[0]
        tb = self._s.time_base
        target_s = max(0.0, start / self.sample_rate - _PYAV_PREROLL_S)
        try:
            self._c.seek(pts0 + int(target_s / tb), stream=self._s, backward=True)
            it = self._frames()
            landed = next(it, None)
        except Exception:
            landed = None
        pos = -1
        if landed is not None and landed[0] is not None:
            pos = int(round((landed[0] - pts0) * tb * self.sample_rate))
        if not 0 <= pos <= start:  # failed seek, overshoot or odd timestamps: decode from 0
            self._fresh = False
            self._rewind()
            return None, 0

        def chain():
            yield landed
            yield from it

        return chain(), pos

    def info(self) -> AudioInfo:
        c, s = self._c, self._s
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif c.duration is not None:
            duration = c.duration / 1_000_000  # AV_TIME_BASE
        if duration is None:  # count the packets' durations: demuxing only, no decoding
            log.info("%s stores no duration; counting its packets", self.path)
            ticks = 0
            for packet in c.demux(s):
                ticks += packet.duration or 0
            duration = float(ticks * s.time_base) if s.time_base is not None else 0.0
        names = c.format.name.split(",")
        ext = self.path.suffix.lower().lstrip(".")
        fmt = ext if ext in names else names[0]
        tags = {}
        for meta in (dict(c.metadata), dict(s.metadata)):
            for k, v in meta.items():
                if k.lower() in _TAG_KEYS and v and k.lower() not in tags:
                    tags[k.lower()] = str(v).strip()
        return AudioInfo(duration, self.sample_rate, self.channels, fmt, s.codec_context.name, tags)


_INT_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def _frame_to_mono(frame, sample_rate: int) -> np.ndarray:
    """An ``av.AudioFrame`` of any sample format -> mono float32 at ``sample_rate``."""
    a = frame.to_ndarray()
    fmt = frame.format
    name = fmt.name.rstrip("p")
    ch = len(frame.layout.channels) or 1
    if not fmt.is_planar and ch > 1:
        a = a.reshape(-1, ch).T
    if name == "u8":
        a = (a.astype(np.float32) - 128.0) / 128.0
    elif name in _INT_SCALE:
        a = a.astype(np.float32) / np.float32(_INT_SCALE[name])
    x = _mixdown(a.astype(np.float32, copy=False).T)
    if frame.sample_rate and frame.sample_rate != sample_rate:  # mid-stream rate change
        x = _resample(x, int(frame.sample_rate), sample_rate)
    return x


def _sf_info(path: Path) -> AudioInfo | None:
    try:
        dec = _SndfileDecoder(path)
    except _CannotOpen:
        return None
    with dec:
        return dec.info()


def _av_info(path: Path) -> AudioInfo:
    try:
        dec = _PyAVDecoder(path)
    except _CannotOpen as e:
        if _use_sndfile_first(path):
            raise AudioDecodeError(path, f"not a recognised audio format ({e})") from None
        info = _sf_info(path)
        if info is None:
            raise AudioDecodeError(path, f"not a recognised audio format ({e})") from None
        return info
    with dec:
        return dec.info()


def _read_tags(path: Path) -> dict[str, str]:
    """title/artist/album/genre via mutagen (ID3, MP4, Vorbis comments, ASF); {} if none."""
    try:
        import mutagen

        f = mutagen.File(str(path), easy=True)
    except Exception:  # tags are optional; a damaged tag block must not fail the file
        return {}
    if f is None or not getattr(f, "tags", None):
        return {}
    out = {}
    for k in _TAG_KEYS:
        try:
            v = f.tags.get(k)
        except Exception:
            v = None
        if isinstance(v, list):
            v = v[0] if v else None
        if v:
            out[k] = str(v).strip()
    return out
