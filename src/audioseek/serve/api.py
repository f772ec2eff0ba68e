"""The JSON API: routing and input validation only.

Every call into the index goes through ``request.app.state.worker`` (one thread owns the
``Searcher``: model calls never overlap). Audio files are served by id, only when the
file's real path is the indexed file inside the indexed library.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from audioseek.errors import AudioDecodeError, QueryError
from audioseek.serve.schemas import (
    DuplicatesOut,
    ErrorOut,
    SearchBatchOut,
    SearchIn,
    SearchOut,
    SimilarIn,
    SimilarOut,
    duplicate_group_out,
    hit_out,
)

log = logging.getLogger(__name__)

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input"},
    404: {"model": ErrorOut, "description": "unknown file id"},
}

AUDIO_MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".webm": "audio/webm",
    ".wma": "audio/x-ms-wma",
}
_AGG_RE = re.compile(r"^(max|top[1-9][0-9]*-mean)$")
_RANGE_RE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(HTTPException):
    """416 with ``Content-Range: bytes */size``, as RFC 9110 asks."""

    def __init__(self, header: str, size: int):
        super().__init__(
            status_code=416,
            detail=f"range {header!r} cannot be satisfied for a file of {size} bytes",
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
        )


# ---- validation -------------------------------------------------------------------------


def _settings(request: Request):
    return request.app.state.settings


def check_query(q: str | None, max_chars: int) -> str:
    if q is None or not q.strip():
        raise QueryError("empty query: describe the sound to look for, e.g. 'rain on a tin roof'")
    q = q.strip()
    if len(q) > max_chars:
        raise QueryError(f"query too long: {len(q)} characters (the limit is {max_chars})")
    return q


def check_k(k: Any, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise QueryError(f"invalid k {k!r}: expected an integer from 1 to {max_k}")
    if not 1 <= k <= max_k:
        raise QueryError(f"invalid k {k!r}: expected an integer from 1 to {max_k}")
    return k


def check_agg(agg: str) -> str:
    if not _AGG_RE.match(agg or ""):
        raise QueryError(f"invalid agg {agg!r}: expected 'max' or 'topN-mean', e.g. 'top3-mean'")
    return agg


def parse_file_id(raw: Any) -> int | str:
    """A file id from a URL segment or a JSON/form value; ids are non-negative integers."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 2**63:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    raise HTTPException(status_code=404, detail=f"unknown file id {raw!r}")


async def _lookup(request: Request, file_id: int | str):
    def get(searcher):
        try:
            return searcher.store.get_file(file_id)
        except (KeyError, ValueError, TypeError, OverflowError):
            return None

    record = await request.app.state.worker.call(get)
    if record is None:
        raise HTTPException(status_code=404, detail=f"unknown file id {file_id!r}")
    return record


# ---- search -------------------------------------------------------------------------------


@router.get("/api/search", response_model=SearchOut, responses=ERRORS, tags=["search"])
async def search_get(
    request: Request,
    q: str = Query("", description="what to look for, in plain language"),
    k: int = Query(10, description="number of results"),
    agg: str = Query("max", description="file score: 'max' or 'topN-mean'"),
) -> SearchOut:
    """Search the index by text."""
    s = _settings(request)
    q = check_query(q, s.max_query_chars)
    k = check_k(k, s.max_k)
    agg = check_agg(agg)
    hits = await request.app.state.worker.search(q, k, agg)  # batched with concurrent queries
    return SearchOut(query=q, k=k, agg=agg, hits=[hit_out(h) for h in hits])


@router.post("/api/search", response_model=SearchBatchOut, responses=ERRORS, tags=["search"])
async def search_post(request: Request, body: SearchIn) -> SearchBatchOut:
    """Search the index with a batch of text queries (one model call for the batch)."""
    s = _settings(request)
    if not body.queries:
        raise QueryError("empty batch: 'queries' must hold at least one query")
    if len(body.queries) > s.max_batch:
        raise QueryError(f"too many queries: {len(body.queries)} (the limit is {s.max_batch})")
    queries = [check_query(q, s.max_query_chars) for q in body.queries]
    k = check_k(body.k, s.max_k)
    agg = check_agg(body.agg)
    results = await request.app.state.worker.call(lambda sr: sr.search(queries, k=k, agg=agg))
    return SearchBatchOut(
        results=[
            SearchOut(query=q, k=k, agg=agg, hits=[hit_out(h) for h in hits])
            for q, hits in zip(queries, results, strict=True)
        ]
    )


# ---- similar ------------------------------------------------------------------------------

_SIMILAR_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "file_id": {"type": "integer"},
                        "k": {"type": "integer", "default": 10},
                    },
                }
            },
            "application/json": {"schema": SimilarIn.model_json_schema()},
        },
    }
}


@router.post(
    "/api/similar",
    response_model=SimilarOut,
    responses={
        **ERRORS,
        413: {"model": ErrorOut, "description": "upload too large"},
        422: {"model": ErrorOut, "description": "upload is not decodable audio"},
    },
    openapi_extra=_SIMILAR_BODY,
    tags=["search"],
)
async def similar(request: Request) -> SimilarOut:
    """Search by example: upload an audio file (multipart field ``file``), or name an
    indexed one (``file_id`` as JSON or a form field)."""
    s = _settings(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = await request.body()
        try:
            data = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise QueryError(f"request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise QueryError('expected a JSON object like {"file_id": 3, "k": 10}')
        k = check_k(data.get("k", 10), s.max_k)
        if "file_id" not in data:
            raise QueryError("missing 'file_id': name an indexed file, or upload one")
        return await _similar_by_id(request, data["file_id"], k)
    if ctype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(
            status_code=415,
            detail=f"unsupported content type {ctype or None!r}: send multipart/form-data "
            "(upload) or application/json (file_id)",
        )
    async with request.form(max_files=1, max_fields=8) as form:
        k = _form_int(form.get("k"), "k", default=10)
        k = check_k(k, s.max_k)
        upload = form.get("file")
        if upload is not None and not isinstance(upload, str):
            return await _similar_by_upload(request, upload, k)
        if form.get("file_id") not in (None, ""):
            return await _similar_by_id(request, form.get("file_id"), k)
    raise QueryError("missing input: upload an audio file as 'file' or name an indexed 'file_id'")


def _form_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        raise QueryError(f"invalid {name} {value!r}: expected an integer") from None


async def _similar_by_id(request: Request, raw_id: Any, k: int) -> SimilarOut:
    file_id = parse_file_id(raw_id)
    await _lookup(request, file_id)
    hits = await request.app.state.worker.call(lambda sr: sr.similar(file_id=file_id, k=k))
    return SimilarOut(source={"file_id": file_id}, k=k, hits=[hit_out(h) for h in hits])


async def _similar_by_upload(request: Request, upload, k: int) -> SimilarOut:
    filename = os.path.basename(upload.filename or "upload")
    suffix = Path(filename).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
        suffix = ""
    tmpdir = tempfile.mkdtemp(prefix="audioseek-upload-")
    try:
        tmp = Path(tmpdir) / f"upload{suffix}"
        limit = _settings(request).max_upload_bytes
        size = 0
        with open(tmp, "wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(
                        status_code=413,
                        detail=f"uploaded file {filename!r} is larger than {limit} bytes",
                    )
                out.write(chunk)
        if size == 0:
            raise QueryError(f"uploaded file {filename!r} is empty")
        try:
            hits = await request.app.state.worker.call(lambda sr: sr.similar(path=tmp, k=k))
        except AudioDecodeError as e:
            reason = str(e.reason).replace(str(tmp), filename).replace(tmpdir, "")
            raise AudioDecodeError(filename, reason) from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return SimilarOut(
        source={"upload": filename, "bytes": size}, k=k, hits=[hit_out(h) for h in hits]
    )


# ---- duplicates / info / health -----------------------------------------------------------


@router.get("/api/duplicates", response_model=DuplicatesOut, responses=ERRORS, tags=["library"])
async def duplicates(
    request: Request,
    threshold: float | None = Query(
        None, description="cosine similarity above which files count as the same audio"
    ),
) -> DuplicatesOut:
    """Groups of files that hold the same audio (re-encodes, copies, trims)."""
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise QueryError(f"invalid threshold {threshold!r}: expected a similarity from -1 to 1")

    def run(searcher):
        groups = searcher.duplicates(threshold=threshold)
        return [duplicate_group_out(g, lambda x: _get_member(searcher, x)) for g in groups]

    groups = await request.app.state.worker.call(run)
    return DuplicatesOut(threshold=threshold, groups=groups)


def _get_member(searcher, member):
    if isinstance(member, int):
        return searcher.store.get_file(member)
    path = os.path.realpath(str(member))
    for record in searcher.store.files():
        if os.path.realpath(str(record.path)) == path:
            return record
    return None


@router.get("/api/info", tags=["library"])
async def info(request: Request) -> dict[str, Any]:
    """What the index holds: file and window counts, model, roots."""
    from audioseek.serve.schemas import jsonable

    return jsonable(await request.app.state.worker.call(lambda sr: sr.info()))


@router.get("/healthz", tags=["library"])
async def healthz(request: Request) -> dict[str, str]:
    """Liveness: the process answers and the searcher is loaded."""
    return {"status": "ok"}


# ---- audio --------------------------------------------------------------------------------


def library_roots(searcher) -> list[str] | None:
    """Real paths of the folders the index was built from, when the store names them."""
    roots = getattr(searcher.store, "roots", None)
    if callable(roots):
        roots = roots()
    if not roots:  # an index from before roots were recorded: rely on path_allowed
        return None
    return [os.path.realpath(str(r)) for r in roots]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def servable_path(searcher, record) -> Path:
    """The real path of an indexed file, if serving it cannot leak anything else.

    The index stores each file's resolved absolute path. Refused with 403: a record whose
    path is relative; whose real path now differs from it (the file was replaced by a
    symlink); that the store does not list as an indexed file (``Store.path_allowed``);
    outside the library roots (when the store names them); or that is not a regular file.
    A file that has disappeared is 404.
    """
    listed = str(record.path)
    if not os.path.isabs(listed):
        raise HTTPException(status_code=403, detail=f"indexed path {listed!r} is not absolute")
    real = os.path.realpath(listed)
    allowed = real == os.path.normpath(listed)
    roots = library_roots(searcher)
    if allowed and roots is not None:
        allowed = any(_inside(real, root) for root in roots)
    path_allowed = getattr(searcher.store, "path_allowed", None)
    if allowed and callable(path_allowed):
        allowed = bool(path_allowed(real))
    if not allowed:
        raise HTTPException(
            status_code=403,
            detail=f"indexed file {listed!r} resolves outside the indexed library",
        )
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise HTTPException(
            status_code=404, detail=f"indexed file {listed!r} no longer exists"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise HTTPException(status_code=403, detail=f"indexed path {listed!r} is not a file")
    return Path(real)


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """``bytes=a-b[, ...]`` -> [(start, end_inclusive)]; raises 416 when unsatisfiable."""
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or not spec.strip():
        raise RangeNotSatisfiable(header, size)
    ranges = []
    for part in spec.split(","):
        m = _RANGE_RE.match(part)
        if not m or (not m.group(1) and not m.group(2)):
            raise RangeNotSatisfiable(header, size)
        first, last = m.group(1), m.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if last and int(last) < start:
                raise RangeNotSatisfiable(header, size)
        else:  # suffix: the last N bytes
            n = int(last)
            if n == 0:
                raise RangeNotSatisfiable(header, size)
            start, end = max(size - n, 0), size - 1
        if start >= size:
            raise RangeNotSatisfiable(header, size)
        ranges.append((start, end))
    return ranges


@router.head("/api/audio/{file_id}", include_in_schema=False)
@router.get(
    "/api/audio/{file_id}",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/*": {}}, "description": "the whole file"},
        206: {"description": "the requested byte range"},
        403: {"model": ErrorOut, "description": "file resolves outside the library"},
        404: {"model": ErrorOut, "description": "unknown file id"},
        416: {"model": ErrorOut, "description": "range cannot be satisfied"},
    },
    tags=["library"],
)
async def audio(request: Request, file_id: str):
    """Stream an indexed file. Supports ``Range: bytes=...`` (206) so players can seek."""
    fid = parse_file_id(file_id)
    record = await _lookup(request, fid)
    real = await request.app.state.worker.call(lambda sr: servable_path(sr, record))
    size = real.stat().st_size
    header = request.headers.get("range")
    if header is not None:
        parse_range(header, size)  # 416 for anything FileResponse would not satisfy
    media_type = (
        AUDIO_MEDIA_TYPES.get(real.suffix.lower())
        or mimetypes.guess_type(real.name)[0]
        or "application/octet-stream"
    )
    return FileResponse(real, media_type=media_type, headers={"Cache-Control": "no-cache"})


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
