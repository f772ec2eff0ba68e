"""Downloader against a loopback HTTP server serving archives the test builds with py7zr."""

from __future__ import annotations

import csv
import hashlib
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import py7zr
import pytest

from audioseek import cli
from audioseek.data import download
from audioseek.data.clotho import load_clotho
from audioseek.data.download import RemoteFile, download_clotho, download_file
from audioseek.data.synthetic import write_clotho_layout
from audioseek.errors import ChecksumError, DatasetError

pytestmark = pytest.mark.network

COUNTS = {"development": 6, "validation": 3, "evaluation": 3}
METADATA = ["file_name", "keywords", "sound_id", "sound_link", "start_end_samples",
            "manufacturer", "license"]  # fmt: skip


def mirror_stage(folder: Path) -> Path:
    return Path((folder / "STAGE").read_text())


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder laid out like the Zenodo record: CSVs + one 7z per split; and its MD5s."""
    stage = write_clotho_layout(
        tmp_path_factory.mktemp("stage"), COUNTS, seed=5, sr=8000, duration=0.3
    )
    out = tmp_path_factory.mktemp("mirror")
    for split in COUNTS:
        shutil.copy(stage / f"clotho_captions_{split}.csv", out)
        with open(out / f"clotho_metadata_{split}.csv", "w", newline="", encoding="latin-1") as f:
            w = csv.writer(f)
            w.writerow(METADATA)
            for p in sorted((stage / split).iterdir()):
                w.writerow([p.name, "synthetic", "0", "", "", "audioseek", "CC0"])
        with py7zr.SevenZipFile(out / f"clotho_audio_{split}.7z", "w") as z:
            z.writeall(stage / split, arcname=split)
    sums = {p.name: _md5(p) for p in out.iterdir()}
    (out / "STAGE").write_text(str(stage))  # where the archives' content came from
    return out, sums


class Server:
    """Loopback file server with HTTP Range support; records requests; can corrupt files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests: list[tuple[str, str | None]] = []
        self.corrupt: set[str] = set()
        self.honour_range = True
        self.drop_after: int | None = None  # send only this many bytes, then hang up
        self.drops_left = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/").split("?")[0]
                server.requests.append((name, self.headers.get("Range")))
                path = server.folder / name
                if not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = path.read_bytes()
                if name in server.corrupt:
                    mid = len(data) // 2
                    data = (
                        data[:mid]
                        + bytes(b ^ 0xFF for b in data[mid : mid + 64])
                        + data[mid + 64 :]
                    )
                rng = self.headers.get("Range")
                start = 0
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if server.drop_after is not None and server.drops_left > 0:
                    server.drops_left -= 1
                    self.wfile.write(data[start : start + server.drop_after])
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def names(self) -> list[str]:
        return [n for n, _ in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(mirror):
    s = Server(mirror[0])
    yield s
    s.close()


def test_fetch_verify_extract_and_skip(tmp_path, mirror, server):
    folder, sums = mirror
    root = download_clotho(tmp_path, base_url=server.url, checksums=sums, progress=False)
    for split, n in COUNTS.items():
        items = load_clotho(root, split)
        assert len(items) == n
        assert (root / f"clotho_metadata_{split}.csv").is_file()
        assert not (root / f"clotho_audio_{split}.7z").exists()  # removed after extraction
        assert (root / f".clotho_audio_{split}.7z.extracted").read_text().strip() == sums[
            f"clotho_audio_{split}.7z"
        ]
    # extracted audio is byte-identical to what the archive was built from
    stage = mirror_stage(folder)
    src = sorted((stage / "development").iterdir())
    assert sorted(p.name for p in (root / "development").iterdir()) == [p.name for p in src]
    assert all((root / "development" / p.name).read_bytes() == p.read_bytes() for p in src)
    assert len(server.requests) == 9
    server.requests.clear()
    download_clotho(tmp_path, base_url=server.url, checksums=sums, progress=False)
    assert server.requests == []  # everything verified or extracted already


def test_keep_archives_and_split_selection(tmp_path, mirror, server):
    _, sums = mirror
    download_clotho(
        tmp_path, splits=["evaluation"], base_url=server.url, checksums=sums,
        keep_archives=True, progress=True,
    )  # fmt: skip
    assert sorted(server.names()) == sorted(
        ["clotho_captions_evaluation.csv", "clotho_metadata_evaluation.csv",
         "clotho_audio_evaluation.7z"]
    )  # fmt: skip
    assert _md5(tmp_path / "clotho_audio_evaluation.7z") == sums["clotho_audio_evaluation.7z"]
    assert len(load_clotho(tmp_path, "evaluation")) == COUNTS["evaluation"]
    with pytest.raises(DatasetError, match=r"unknown Clotho split 'test' for v2.1"):
        download_clotho(tmp_path, splits=["test"], base_url=server.url)


@pytest.mark.parametrize("honour_range", [True, False])
def test_resume_from_partial_file(tmp_path, mirror, server, honour_range):
    folder, sums = mirror
    name = "clotho_audio_development.7z"
    data = (folder / name).read_bytes()
    keep = len(data) // 3
    (tmp_path / (name + ".part")).write_bytes(data[:keep])
    server.honour_range = honour_range
    out = download_file(f"{server.url}/{name}", tmp_path / name, sums[name], progress=False)
    assert out.read_bytes() == data
    assert not (tmp_path / (name + ".part")).exists()
    assert server.requests == [(name, f"bytes={keep}-")]  # asked only for the rest


def test_dropped_connection_retries_and_resumes(tmp_path, mirror, server, monkeypatch):
    folder, sums = mirror
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    name = "clotho_audio_development.7z"
    data = (folder / name).read_bytes()
    server.drop_after, server.drops_left = 1000, 2
    out = download_file(f"{server.url}/{name}", tmp_path / name, sums[name], progress=False)
    assert out.read_bytes() == data
    assert server.requests == [(name, None), (name, "bytes=1000-"), (name, "bytes=2000-")]


def test_gives_up_keeping_the_part_file_then_resumes(tmp_path, mirror, server, monkeypatch):
    folder, sums = mirror
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    name = "clotho_audio_evaluation.7z"
    server.drop_after, server.drops_left = 500, 2
    with pytest.raises(DatasetError) as e:
        download_file(
            f"{server.url}/{name}", tmp_path / name, sums[name], retries=2, progress=False
        )
    assert "1000 bytes kept in" in str(e.value) and "run again to resume" in str(e.value)
    assert (tmp_path / (name + ".part")).stat().st_size == 1000
    server.requests.clear()
    download_file(f"{server.url}/{name}", tmp_path / name, sums[name], progress=False)
    assert _md5(tmp_path / name) == sums[name]
    assert server.requests == [(name, "bytes=1000-")]


def test_complete_part_file_is_verified_not_refetched(tmp_path, mirror, server):
    folder, sums = mirror
    name = "clotho_captions_validation.csv"
    shutil.copy(folder / name, tmp_path / (name + ".part"))
    download_file(f"{server.url}/{name}", tmp_path / name, sums[name], progress=False)
    assert _md5(tmp_path / name) == sums[name]


def test_corrupted_archive_rejected(tmp_path, mirror, server):
    _, sums = mirror
    name = "clotho_audio_validation.7z"
    server.corrupt.add(name)
    with pytest.raises(ChecksumError) as e:
        download_clotho(
            tmp_path, splits=["validation"], base_url=server.url, checksums=sums, progress=False
        )
    msg = str(e.value)
    assert repr(name) in msg and sums[name] in msg
    actual = msg.split("got ")[1].split()[0]
    assert len(actual) == 32 and actual != sums[name]
    assert not (tmp_path / name).exists() and not (tmp_path / (name + ".part")).exists()
    assert not (tmp_path / "validation").exists()  # nothing extracted
    # the CSVs fetched before the archive are kept and verified
    assert (
        _md5(tmp_path / "clotho_captions_validation.csv") == sums["clotho_captions_validation.csv"]
    )


def test_not_a_7z_archive(tmp_path, mirror, server):
    folder, sums = mirror
    name = "clotho_audio_evaluation.7z"
    bogus = dict(sums, **{name: sums["clotho_captions_evaluation.csv"]})
    server.folder = tmp_path / "srv"
    shutil.copytree(folder, server.folder)
    shutil.copy(folder / "clotho_captions_evaluation.csv", server.folder / name)
    with pytest.raises(DatasetError, match=r"is not a valid 7z archive"):
        download_clotho(
            tmp_path / "root", splits=["evaluation"], base_url=server.url, checksums=bogus,
            progress=False,
        )  # fmt: skip


def test_http_error_is_one_line(tmp_path, server):
    with pytest.raises(DatasetError, match=r"HTTP 404") as e:
        download_file(f"{server.url}/nothing.7z", tmp_path / "nothing.7z", "0" * 32, progress=False)
    assert "\n" not in str(e.value)


def test_default_table_is_zenodo():
    files = download.clotho_files("v2.1")
    assert len(files) == 9 and {f.split for f in files} == set(COUNTS)
    audio = next(f for f in files if f.name == "clotho_audio_development.7z")
    assert audio.md5 == "c8b05bc7acdb13895bb3c6a29608667e"
    assert download.file_url(audio) == (
        "https://zenodo.org/record/4783391/files/clotho_audio_development.7z?download=1"
    )
    assert [f.split for f in download.clotho_files("v1") if f.kind == "audio"] == [
        "development",
        "evaluation",
    ]


def test_cli_bad_checksum_exit_1_one_line(tmp_path, server, capsys):
    # the CLI uses the published MD5s, which the test archives cannot match
    code = cli.main(
        ["data", "download", "clotho", "--root", str(tmp_path), "--splits", "evaluation",
         "--base-url", server.url]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error: checksum mismatch for 'clotho_captions_evaluation.csv'")
    assert "1b16b9e57cf7bdb7f13a13802aeb57e2" in err and len(err.splitlines()) == 1


def test_cli_success(tmp_path, mirror, server, monkeypatch, capsys):
    _, sums = mirror
    table = tuple(
        RemoteFile(f.record, f.name, sums[f.name], f.split, f.kind)
        for f in download.CLOTHO_FILES["v2.1"]
    )
    monkeypatch.setitem(download.CLOTHO_FILES, "v2.1", table)
    code = cli.main(
        ["data", "download", "clotho", "--root", str(tmp_path), "--base-url", server.url]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "development 6 clips, validation 3 clips, evaluation 3 clips" in out


def test_cli_bad_split_exit_1_before_touching_disk(tmp_path, capsys):
    root = tmp_path / "not-created"
    code = cli.main(["data", "download", "clotho", "--root", str(root), "--splits", "test"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err == (
        "error: unknown Clotho split 'test' for v2.1; "
        "expected one of ('development', 'validation', 'evaluation')"
    )
    assert not root.exists()
