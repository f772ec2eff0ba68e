"""The JSON API: routing and input validation only.

Every call into the index goes through ``request.app.state.worker`` (a ``ServiceWorker``
around a ``SearchService``: the protocol of :mod:`audioseek.index.types` is all the API
uses). Responses are built from the service's dataclasses (:mod:`audioseek.serve.schemas`).
Audio files are served by id from a descriptor opened once and checked
(:mod:`audioseek.serve.files`).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from audioseek.errors import AudioDecodeError, AudioTooLongError, QueryError
from audioseek.index.query import (
    check_k,
    check_queries,
    check_query,
    check_threshold,
    parse_agg,
)
from audioseek.serve.files import DescriptorResponse, open_indexed, parse_range
from audioseek.serve.schemas import (
    DuplicateGroupOut,
    DuplicatesOut,
    ErrorOut,
    HitOut,
    IndexedFileOut,
    IndexInfoOut,
    MapOut,
    MapPointOut,
    PeaksOut,
    SearchBatchOut,
    SearchIn,
    SearchOut,
    SimilarIn,
    SimilarOut,
    TagOut,
    TagsOut,
)

log = logging.getLogger(__name__)

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input"},
    404: {"model": ErrorOut, "description": "unknown file id"},
    503: {"model": ErrorOut, "description": "busy or too slow: try again"},
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
ROOTS_TTL_S = 5.0


def hits_out(hits) -> list[HitOut]:
    return [HitOut.of(h) for h in hits]


# ---- validation -------------------------------------------------------------------------


def _settings(request: Request):
    return request.app.state.settings


def check_agg(agg: str) -> str:
    parse_agg(agg)
    return agg


def check_mode(mode: str) -> str:
    from audioseek.index.hybrid import MODES

    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def check_filters(values: dict[str, Any]) -> dict[str, Any]:
    """The filters given (empty values dropped), checked: a bad one is a one-line 400. The
    result is what the service takes (``format`` as a tuple of extensions) and hashable
    values only, so equal filters batch together."""
    from audioseek.index.filters import Filters

    given = {k: v for k, v in values.items() if v is not None and v != ""}
    return Filters.from_mapping(given).to_dict()


def _filter_query(request: Request) -> dict[str, Any]:
    """Filters from the URL's query parameters (``/api/similar``)."""
    from audioseek.index.filters import FILTER_NAMES

    return {name: request.query_params.get(name) for name in FILTER_NAMES}


def parse_file_id(raw: Any) -> int:
    """A file id from a URL segment or a JSON/form value; ids are non-negative integers."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 2**63:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    raise HTTPException(status_code=404, detail=f"unknown file id {raw!r}")


async def _lookup(request: Request, file_id: int):
    record = await request.app.state.worker.call(lambda service: service.file(file_id))
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
    mode: str = Query("hybrid", description="'hybrid' (audio + names/metadata), 'audio', 'text'"),
    min_duration: float | None = Query(None, description="shortest file, seconds"),
    max_duration: float | None = Query(None, description="longest file, seconds"),
    format: str | None = Query(None, description="extensions, comma separated: 'wav,flac'"),
    sample_rate: int | None = Query(None, description="sample rate in Hz"),
    channels: int | None = Query(None, description="number of channels"),
    folder: str | None = Query(None, description="folder prefix (absolute or below a root)"),
    tag: str | None = Query(None, description="category label or label group"),
) -> SearchOut:
    """Search the index by text; every hit says why it matched (audio score, matched
    terms) and whether it is weak."""
    q, k, agg, mode = check_query(q), check_k(k), check_agg(agg), check_mode(mode)
    filters = check_filters(
        {
            "min_duration": min_duration,
            "max_duration": max_duration,
            "format": format,
            "sample_rate": sample_rate,
            "channels": channels,
            "folder": folder,
            "tag": tag,
        }
    )
    # batched with concurrent queries of the same k, agg, mode and filters
    hits = await request.app.state.worker.search(q, k, agg, mode=mode, filters=filters)
    return SearchOut(query=q, k=k, agg=agg, mode=mode, filters=filters, hits=hits_out(hits))


@router.post("/api/search", response_model=SearchBatchOut, responses=ERRORS, tags=["search"])
async def search_post(request: Request, body: SearchIn) -> SearchBatchOut:
    """Search the index with a batch of text queries (one model call for the batch)."""
    s = _settings(request)
    if not body.queries:
        raise QueryError("empty batch: 'queries' must hold at least one query")
    if len(body.queries) > s.max_batch:
        raise QueryError(f"too many queries: {len(body.queries)} (the limit is {s.max_batch})")
    queries, k, agg = check_queries(body.queries), check_k(body.k), check_agg(body.agg)
    mode, filters = check_mode(body.mode), check_filters(body.filters())
    options = _search_options(mode, filters)
    results = await request.app.state.worker.call(
        lambda service: service.search(queries, k=k, agg=agg, **options)
    )
    return SearchBatchOut(
        results=[
            SearchOut(query=q, k=k, agg=agg, mode=mode, filters=filters, hits=hits_out(hits))
            for q, hits in zip(queries, results, strict=True)
        ]
    )


def _search_options(mode: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``service.search``: only what differs from the defaults (a
    service from before modes and filters still answers plain searches)."""
    return {**({} if mode == "hybrid" else {"mode": mode}), **filters}


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
                    "description": "filters go in the query string, as on /api/search",
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
        413: {"model": ErrorOut, "description": "upload too large or too long"},
        422: {"model": ErrorOut, "description": "upload is not decodable audio"},
    },
    openapi_extra=_SIMILAR_BODY,
    tags=["search"],
)
async def similar(request: Request) -> SimilarOut:
    """Search by example: upload an audio file (multipart field ``file``), or name an
    indexed one (``file_id`` as JSON or a form field). Filters (``min_duration``,
    ``max_duration``, ``format``, ``sample_rate``, ``channels``, ``folder``, ``tag``) go in
    the query string (or, with JSON, in the body)."""
    from audioseek.index.filters import FILTER_NAMES

    filters = check_filters(_filter_query(request))
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = await request.body()
        try:
            data = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise QueryError(f"request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise QueryError('expected a JSON object like {"file_id": 3, "k": 10}')
        k = check_k(data.get("k", 10))
        if "file_id" not in data:
            raise QueryError("missing 'file_id': name an indexed file, or upload one")
        in_body = {name: data[name] for name in FILTER_NAMES if name in data}
        if in_body:
            filters = check_filters({**_filter_query(request), **in_body})
        return await _similar_by_id(request, data["file_id"], k, filters)
    if ctype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(
            status_code=415,
            detail=f"unsupported content type {ctype or None!r}: send multipart/form-data "
            "(upload) or application/json (file_id)",
        )
    async with request.form(max_files=1, max_fields=8) as form:
        k = _form_int(form.get("k"), "k", default=10)
        k = check_k(k)
        upload = form.get("file")
        if upload is not None and not isinstance(upload, str):
            return await _similar_by_upload(request, upload, k, filters)
        if form.get("file_id") not in (None, ""):
            return await _similar_by_id(request, form.get("file_id"), k, filters)
    raise QueryError("missing input: upload an audio file as 'file' or name an indexed 'file_id'")


def _form_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        raise QueryError(f"invalid {name} {value!r}: expected an integer") from None


async def _similar_by_id(
    request: Request, raw_id: Any, k: int, filters: dict[str, Any]
) -> SimilarOut:
    file_id = parse_file_id(raw_id)
    await _lookup(request, file_id)
    hits = await request.app.state.worker.call(
        lambda service: service.similar(file_id, k=k, **filters)
    )
    return SimilarOut(source={"file_id": file_id}, k=k, filters=filters, hits=hits_out(hits))


class UploadGivenUp(Exception):
    """An upload's request timed out: its work stops at the next opportunity."""


PLAUSIBLE_SECONDS = 1e9  # a header claiming more means "unknown length" (e.g. a streamed FLAC)


def check_upload_duration(path: Path, limit: float, deadline: float | None = None) -> None:
    """:class:`AudioTooLongError` when the upload holds more than ``limit`` seconds of audio,
    found with memory bounded by a few decoder blocks, whatever the file claims: a header
    that claims too much is refused at once; otherwise the file is decoded as a stream at
    its own rate (no resampling) and refused as soon as the limit is passed. So the
    service's decode afterwards never sees more than ``limit`` seconds. A file that cannot
    be decoded raises :class:`AudioDecodeError` here. Past ``deadline`` (``time.monotonic``)
    it stops: the request has been answered 503 already."""
    from audioseek.audio.io import audio_info, iter_chunks

    info = audio_info(path)
    if limit < info.duration < PLAUSIBLE_SECONDS:
        raise AudioTooLongError(path, limit)
    for _ in iter_chunks(path, info.sample_rate, max_seconds=limit):
        if deadline is not None and time.monotonic() > deadline:
            raise UploadGivenUp()


async def _similar_by_upload(
    request: Request, upload, k: int, filters: dict[str, Any]
) -> SimilarOut:
    filename = os.path.basename(upload.filename or "upload")
    suffix = Path(filename).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
        suffix = ""
    settings = _settings(request)
    tmpdir = tempfile.mkdtemp(prefix="audioseek-upload-")
    try:
        tmp = Path(tmpdir) / f"upload{suffix}"
        limit = settings.max_upload_bytes
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

        deadline = time.monotonic() + settings.upload_timeout_s

        def run(service):  # on the upload thread: the event loop and searches go on
            if time.monotonic() > deadline:  # its request timed out while it was queued
                raise UploadGivenUp()
            check_upload_duration(tmp, settings.max_upload_seconds, deadline)
            return service.similar(str(tmp), k=k, **filters)

        try:
            hits = await request.app.state.worker.call_upload(run)
        except UploadGivenUp:
            raise HTTPException(
                status_code=503,
                detail=f"the request took longer than {settings.upload_timeout_s:g} s "
                "and was given up",
            ) from None
        except AudioTooLongError as e:
            raise AudioTooLongError(filename, e.max_seconds) from None
        except AudioDecodeError as e:
            reason = str(e.reason).replace(str(tmp), filename).replace(tmpdir, "")
            raise AudioDecodeError(filename, reason) from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return SimilarOut(
        source={"upload": filename, "bytes": size}, k=k, filters=filters, hits=hits_out(hits)
    )


# ---- duplicates / info / files / health ----------------------------------------------------


@router.get("/api/duplicates", response_model=DuplicatesOut, responses=ERRORS, tags=["library"])
async def duplicates(
    request: Request,
    threshold: float | None = Query(
        None, description="cosine similarity above which files count as the same audio"
    ),
) -> DuplicatesOut:
    """Groups of files that hold the same audio (re-encodes, copies, trims)."""
    threshold = check_threshold(threshold)
    groups = await request.app.state.worker.call(
        lambda service: service.duplicates(threshold=threshold)
    )
    return DuplicatesOut(threshold=threshold, groups=[DuplicateGroupOut.of(g) for g in groups])


@router.get("/api/info", response_model=IndexInfoOut, responses=ERRORS, tags=["library"])
async def info(request: Request) -> IndexInfoOut:
    """What the index holds: file and window counts, model, roots."""
    return IndexInfoOut.of(await request.app.state.worker.call(lambda service: service.info()))


@router.get(
    "/api/files/{file_id}", response_model=IndexedFileOut, responses=ERRORS, tags=["library"]
)
async def file(request: Request, file_id: str) -> IndexedFileOut:
    """One indexed file by id."""
    return IndexedFileOut.of(await _lookup(request, parse_file_id(file_id)))


@router.get(
    "/api/files/{file_id}/peaks", response_model=PeaksOut, responses=ERRORS, tags=["library"]
)
async def file_peaks(request: Request, file_id: str) -> PeaksOut:
    """The file's waveform envelope (``[min, max]`` of equal slices, stored at index time),
    for drawing; ``null`` when the index holds none for it."""
    fid = parse_file_id(file_id)
    await _lookup(request, fid)
    peaks = await request.app.state.worker.call(lambda service: service.peaks(fid))
    return PeaksOut(file_id=fid, peaks=peaks)


@router.get("/api/files/{file_id}/tags", response_model=TagsOut, responses=ERRORS, tags=["library"])
async def file_tags(request: Request, file_id: str) -> TagsOut:
    """The file's category tags (``audioseek tag``), best first."""
    fid = parse_file_id(file_id)
    await _lookup(request, fid)
    tags = await request.app.state.worker.call(lambda service: service.tags(fid))
    return TagsOut(file_id=fid, tags=[TagOut.of(t) for t in tags])


@router.get("/api/map", response_model=MapOut, responses=ERRORS, tags=["library"])
async def library_map(request: Request) -> MapOut:
    """Every file on a 2-D map of the library (coordinates in [0, 1], similar sounds close
    together), with the group that colours it (its best tag's group, else its folder)."""
    points = await request.app.state.worker.call(lambda service: service.map())
    return MapOut(points=[MapPointOut.of(p) for p in points])


@router.get("/healthz", tags=["library"])
async def healthz(request: Request) -> dict[str, str]:
    """Liveness: the process answers and the index is loaded."""
    return {"status": "ok"}


# ---- audio --------------------------------------------------------------------------------


async def library_roots(request: Request) -> list[str]:
    """The folders the index was built from (``IndexInfo.roots``), refreshed every few
    seconds; empty for an index from before roots were recorded."""
    state = request.app.state
    cached = getattr(state, "roots_cache", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > ROOTS_TTL_S:
        roots = await state.worker.call(lambda service: list(service.info().roots))
        cached = state.roots_cache = (now, roots)
    return cached[1]


@router.head("/api/audio/{file_id}", include_in_schema=False)
@router.get(
    "/api/audio/{file_id}",
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
    roots = await library_roots(request)
    fd, st = await anyio.to_thread.run_sync(open_indexed, str(record.path), roots)
    try:
        header = request.headers.get("range")
        ranges = parse_range(header, st.st_size) if header is not None else None
        name = os.path.basename(str(record.path))
        media_type = (
            AUDIO_MEDIA_TYPES.get(Path(name).suffix.lower())
            or mimetypes.guess_type(name)[0]
            or "application/octet-stream"
        )
    except BaseException:
        os.close(fd)
        raise
    return DescriptorResponse(
        fd, st.st_size, media_type, ranges, headers={"Cache-Control": "no-cache"}
    )


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
