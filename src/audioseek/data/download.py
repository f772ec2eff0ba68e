"""Download Clotho from Zenodo: resumable, MD5-verified, 7z-extracted.

``download_clotho(root)`` fetches the captions CSVs and audio archives of the chosen
version into ``root`` and extracts each ``clotho_audio_<split>.7z`` (it contains the
``<split>/`` folder) so :func:`audioseek.data.clotho.load_clotho` can read ``root``.

* Resumable: bytes go to ``<file>.part``; a rerun continues from its size with an HTTP
  ``Range`` request (a server that ignores ``Range`` makes it start over).
* Verified: every file is checked against the MD5 published with the Zenodo record; a
  mismatch raises :class:`ChecksumError` naming the file, the expected and the actual
  MD5, and removes the bad download so the next run starts clean. A complete file that
  already verifies is not downloaded again; an extracted archive leaves a marker
  ``.<archive>.extracted`` so a rerun skips it even after the archive was deleted.
* ``base_url`` points at a mirror holding the same file names; ``checksums`` overrides
  the MD5 table (tests use both with a loopback server).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from audioseek.errors import ChecksumError, DatasetError

log = logging.getLogger(__name__)

ZENODO_URL = "https://zenodo.org/record/{record}/files/{name}?download=1"
CHUNK = 1 << 20
RETRY_BACKOFF_S = 2.0  # first wait between attempts; doubles each retry
USER_AGENT = "audioseek-downloader/0.1 (+https://zenodo.org)"


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its Zenodo record, name, MD5 and which split it belongs to."""

    record: str
    name: str
    md5: str
    split: str
    kind: str  # "audio" (7z archive), "captions" or "metadata" (CSV)


def _v21(split: str, audio: str, captions: str, metadata: str) -> tuple[RemoteFile, ...]:
    r = "4783391"
    return (
        RemoteFile(r, f"clotho_captions_{split}.csv", captions, split, "captions"),
        RemoteFile(r, f"clotho_metadata_{split}.csv", metadata, split, "metadata"),
        RemoteFile(r, f"clotho_audio_{split}.7z", audio, split, "audio"),
    )


#: The Zenodo records' files and MD5 sums (see /work/shared/reference/clotho.md).
CLOTHO_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "v2.1": (
        *_v21(
            "development",
            audio="c8b05bc7acdb13895bb3c6a29608667e",
            captions="d4090b39ce9f2491908eebf4d5b09bae",
            metadata="170d20935ecfdf161ce1bb154118cda5",
        ),
        *_v21(
            "validation",
            audio="7dba730be08bada48bd15dc4e668df59",
            captions="5879e023032b22a2c930aaa0528bead4",
            metadata="2e010427c56b1ce6008b0f03f41048ce",
        ),
        *_v21(
            "evaluation",
            audio="4569624ccadf96223f19cb59fe4f849f",
            captions="1b16b9e57cf7bdb7f13a13802aeb57e2",
            metadata="13946f054d4e1bf48079813aac61bf77",
        ),
    ),
    "v1": (
        RemoteFile(
            "3490684",
            "clotho_captions_development.csv",
            "dd568352389f413d832add5cf604529f",
            "development",
            "captions",
        ),
        RemoteFile(
            "3490684",
            "clotho_audio_development.7z",
            "e3ce88561b317cc3825e8c861cae1ec6",
            "development",
            "audio",
        ),
        RemoteFile(
            "3490684",
            "clotho_captions_evaluation.csv",
            "1b16b9e57cf7bdb7f13a13802aeb57e2",
            "evaluation",
            "captions",
        ),
        RemoteFile(
            "3490684",
            "clotho_audio_evaluation.7z",
            "4569624ccadf96223f19cb59fe4f849f",
            "evaluation",
            "audio",
        ),
    ),
}


def clotho_files(version: str = "v2.1", splits: Sequence[str] | None = None) -> list[RemoteFile]:
    """The files to fetch for ``version`` and ``splits`` (default: all of the version's)."""
    if version not in CLOTHO_FILES:
        raise DatasetError(
            f"unknown Clotho version {version!r}; expected one of {tuple(CLOTHO_FILES)}"
        )
    files = CLOTHO_FILES[version]
    available = tuple(dict.fromkeys(f.split for f in files))
    if splits is None:
        splits = available
    for s in splits:
        if s not in available:
            raise DatasetError(
                f"unknown Clotho split {s!r} for {version}; expected one of {available}"
            )
    return [f for f in files if f.split in splits]


def file_url(f: RemoteFile, base_url: str | None = None) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{f.name}"
    return ZENODO_URL.format(record=f.record, name=f.name)


def md5sum(path: str | Path, chunk_size: int = CHUNK) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def _progress(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=None if enabled else True,  # None: only on a terminal
        leave=False,
    )


class _RunningMD5:
    """MD5 of a ``.part`` file, updated while it is written, so a download is not read
    back from disk to verify it (only the bytes kept from an earlier run are re-read)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.md5, self.size = hashlib.md5(), 0

    def update(self, block: bytes) -> None:
        self.md5.update(block)
        self.size += len(block)

    def sync(self, part: Path) -> int:
        """Make the hash cover exactly the file's bytes; return their count."""
        size = part.stat().st_size if part.exists() else 0
        if size != self.size:
            self.reset()
            if size:
                with open(part, "rb") as fh:
                    while block := fh.read(CHUNK):
                        self.update(block)
        return size

    def hexdigest(self) -> str:
        return self.md5.hexdigest()


def _fetch(url: str, part: Path, timeout: float, progress: bool, digest: _RunningMD5) -> None:
    """Append the rest of ``url`` to ``part`` (HTTP Range from its current size)."""
    offset = digest.sync(part)
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to send: the .part is complete
            log.info("%s: server has no bytes after %d; verifying", part.name, offset)
            return
        raise
    with resp:
        status = getattr(resp, "status", 200)
        if offset and status != 206:
            log.info("%s: server ignored the Range request; starting over", part.name)
            offset = 0
            digest.reset()
        elif offset and not (resp.headers.get("Content-Range") or "").startswith(
            f"bytes {offset}-"
        ):
            raise ConnectionError(
                f"server answered Range bytes={offset}- with Content-Range "
                f"{resp.headers.get('Content-Range')!r}"
            )
        length = resp.headers.get("Content-Length")
        total = int(length) + offset if length is not None else None
        mode = "ab" if offset else "wb"
        with open(part, mode) as out, _progress(total, offset, part.name[:-5], progress) as bar:
            while block := resp.read(CHUNK):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise ConnectionError(f"connection closed at {part.stat().st_size} of {total} bytes")


def download_file(
    url: str,
    dest: str | Path,
    md5: str,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming, and verify its MD5.

    Returns ``dest`` (skipping the download when it already exists and verifies).
    Raises :class:`ChecksumError` on a mismatch (the bad file is removed) and
    :class:`DatasetError` when the server cannot be reached after ``retries`` attempts
    (the ``.part`` is kept, so the next call resumes).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        actual = md5sum(dest)
        if actual == md5:
            log.info("%s already downloaded and verified", dest.name)
            return dest
        log.warning("%s exists but its MD5 is %s, not %s; downloading again", dest, actual, md5)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    digest = _RunningMD5()
    retries = max(1, int(retries))
    for attempt in range(1, retries + 1):
        try:
            _fetch(url, part, timeout, progress, digest)
            break
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == retries:
                raise DatasetError(f"cannot download {url!r}: HTTP {e.code} {e.reason}") from None
            reason = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = str(getattr(e, "reason", None) or e) or type(e).__name__
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                kept = f" ({have} bytes kept in {str(part)!r}; run again to resume)" if have else ""
                raise DatasetError(f"cannot download {url!r}: {reason}{kept}") from None
        log.warning("download of %s failed (%s); retry %d/%d", url, reason, attempt, retries)
        time.sleep(min(RETRY_BACKOFF_S * 2 ** (attempt - 1), 30.0))
    digest.sync(part)  # no-op unless the file changed behind our back
    actual = digest.hexdigest()
    if actual != md5:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {dest.name!r} from {url!r}: expected MD5 {md5}, got {actual} "
            "(the download was removed; run again to fetch it anew)"
        )
    part.replace(dest)
    return dest


def extract_7z(archive: str | Path, dest: str | Path) -> list[str]:
    """Extract a 7z archive into ``dest``; return its top-level names."""
    import py7zr
    from py7zr.callbacks import ExtractCallback
    from tqdm.auto import tqdm

    class Progress(ExtractCallback):
        def __init__(self, bar):
            self.bar = bar

        def report_end(self, processing_file_path, wrote_bytes):
            self.bar.update(1)

        def report_start_preparation(self):
            pass

        def report_start(self, processing_file_path, processing_bytes):
            pass

        def report_update(self, decompressed_bytes):
            pass

        def report_warning(self, message):
            log.warning("%s: %s", archive.name, message)

        def report_postprocess(self):
            pass

    archive = Path(archive)
    try:
        with py7zr.SevenZipFile(archive, mode="r") as z:
            names = z.getnames()
            desc = f"extracting {archive.name}"
            with tqdm(total=len(names), desc=desc, unit="file", disable=None, leave=False) as bar:
                z.extractall(path=dest, callback=Progress(bar))
    except (py7zr.exceptions.Bad7zFile, EOFError) as e:
        raise DatasetError(f"{str(archive)!r} is not a valid 7z archive: {e}") from None
    except (
        py7zr.exceptions.ArchiveError,
        py7zr.exceptions.CrcError,
        py7zr.exceptions.DecompressionError,
        py7zr.exceptions.UnsupportedCompressionMethodError,
        py7zr.exceptions.AbsolutePathError,
    ) as e:
        raise DatasetError(f"cannot extract {str(archive)!r}: {type(e).__name__}: {e}") from None
    return sorted({n.split("/")[0] for n in names})


def download_clotho(
    root: str | Path,
    version: str = "v2.1",
    splits: Sequence[str] | None = None,
    base_url: str | None = None,
    *,
    checksums: Mapping[str, str] | None = None,
    keep_archives: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download and extract Clotho ``version`` into ``root``; return ``root``.

    ``splits`` defaults to all of the version's splits. ``base_url`` replaces Zenodo
    with a mirror serving ``<base_url>/<file name>``; ``checksums`` maps file names to
    MD5 sums that replace the published ones. Archives are removed after a verified
    extraction unless ``keep_archives``.
    """
    files = clotho_files(version, splits)  # validates version and splits first
    root = Path(root).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot create folder {str(root)!r}: {e.strerror or e}") from None
    checksums = dict(checksums or {})
    for f in files:
        md5 = checksums.get(f.name, f.md5)
        url = file_url(f, base_url)
        dest = root / f.name
        if f.kind != "audio":
            download_file(url, dest, md5, timeout=timeout, progress=progress)
            continue
        marker = root / f".{f.name}.extracted"
        if marker.exists() and marker.read_text().strip() == md5 and (root / f.split).is_dir():
            log.info("%s already extracted", f.name)
            continue
        log.info("downloading %s", url)
        download_file(url, dest, md5, timeout=timeout, progress=progress)
        log.info("extracting %s", dest.name)
        top = extract_7z(dest, root)
        if f.split not in top:
            raise DatasetError(
                f"{str(dest)!r} does not contain the folder {f.split!r} (found {top})"
            )
        marker.write_text(md5 + "\n")
        if not keep_archives:
            dest.unlink()
    return root
