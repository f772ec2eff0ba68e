"""Decoding one corpus sound (a file, or a member held in memory) to mono float32.

Every reader's sounds go through :func:`decode_mono`: one error type naming the sound, and
a cap on the decoded length, so a small file that decodes to hours (a crafted or broken
header) costs at most :data:`MAX_DECODE_SECONDS` of memory instead of all of it.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

import numpy as np

from audioseek.errors import AudioDecodeError

logger = logging.getLogger(__name__)

#: the longest stretch of one sound that is decoded (the corpus keeps at most a few minutes
#: of any recording: 10-s clips, at most 12 pieces of a long ambience)
MAX_DECODE_SECONDS = 1800.0


def decode_mono(src: str | BinaryIO, sr: int, origin: object) -> np.ndarray:
    """``src`` (a path or a binary file object) decoded to mono float32 at ``sr``; only its
    first :data:`MAX_DECODE_SECONDS` (with a warning naming ``origin`` when there is more).
    Raises :class:`AudioDecodeError` naming ``origin``."""
    import soundfile as sf

    try:
        with sf.SoundFile(src) as f:
            file_sr = f.samplerate
            limit = max(1, int(MAX_DECODE_SECONDS * file_sr))
            data = f.read(frames=limit, dtype="float32", always_2d=True)
            more = data.shape[0] == limit and f.read(frames=1, always_2d=True).shape[0] > 0
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioDecodeError(origin, text) from None
    if data.size == 0:
        raise AudioDecodeError(origin, "no audio samples")
    if more:
        logger.warning(
            "%s decodes to more than %.0f min; only the first %.0f min are used",
            origin,
            MAX_DECODE_SECONDS / 60,
            MAX_DECODE_SECONDS / 60,
        )
    mono = data.mean(axis=1)
    if file_sr != sr:
        import soxr

        mono = soxr.resample(mono, file_sr, sr)
    return np.ascontiguousarray(mono, dtype=np.float32)
