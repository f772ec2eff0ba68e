"""``audioseek.Client``: the HTTP API of ``audioseek serve`` with the methods and return types
of :class:`audioseek.Index` (the ``SearchService`` protocol of :mod:`audioseek.index.types`).

>>> import audioseek                                                   # doctest: +SKIP
>>> with audioseek.Client("http://127.0.0.1:8000") as client:         # doctest: +SKIP
...     for hit in client.search("rain on a tin roof", k=5):
...         print(f"{hit.score:.3f} {hit.path}")
...     like = client.similar("~/clips/rain.wav")                     # uploads the file

Answers are turned back into the same dataclasses (``Hit``, ``IndexedFile``,
``DuplicateGroup``, ``IndexInfo``) through the server's own response models. A refusal by the
server is raised as the matching :mod:`audioseek.errors` type carrying the server's one-line
message: 400/404 :class:`QueryError`, 413 on an upload :class:`AudioTooLongError` (too long)
or :class:`QueryError` (too large), 422 :class:`AudioDecodeError`, 503
:class:`SearchIndexError`; anything else (no answer, 401 wrong token, 5xx) an
:class:`AudioseekError`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from audioseek.errors import (
    AudioDecodeError,
    AudioseekError,
    AudioTooLongError,
    QueryError,
    SearchIndexError,
    first_line,
)
from audioseek.index.types import DuplicateGroup, Hit, IndexedFile, IndexInfo

BATCH = 64  # queries per POST /api/search (the server's default limit)


def _with_message(cls: type[AudioDecodeError], message: str, path: str) -> AudioDecodeError:
    """An ``AudioDecodeError`` (or subclass) whose message is exactly the server's."""
    err = cls.__new__(cls)
    AudioseekError.__init__(err, message)
    err.path = path
    err.reason = message.split(": ", 1)[1] if ": " in message else message
    if cls is AudioTooLongError:
        m = re.search(r"limit of ([0-9.eE+-]+) s", message)
        err.max_seconds = float(m.group(1)) if m else float("nan")
    return err


class Client:
    """A ``SearchService`` over HTTP: ``Client(url, token=None)``.

    ``token`` is sent as ``Authorization: Bearer`` (a server bound beyond loopback needs
    it). ``timeout`` (seconds) applies to each request; ``transport`` is an ``httpx``
    transport for tests. Usable as a context manager; :meth:`close` ends the connection pool.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 120.0,
        transport: Any = None,
    ):
        import httpx

        if not isinstance(url, str) or not re.match(r"^https?://[^/]", url):
            raise QueryError(f"invalid server URL {url!r}: expected http://host:port")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        self._http.close()

    # ---- HTTP ----------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, upload: str | None = None, missing_ok=False, **kwargs
    ):
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise AudioseekError(
                f"no answer from the audioseek server at {self.url!r}: {first_line(e)}"
            ) from None
        if response.status_code < 400 or (missing_ok and response.status_code == 404):
            return response
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code} from {self.url}{path}"
        message = str(message)
        status = response.status_code
        if upload is not None and status == 413 and "longer than the limit" in message:
            raise _with_message(AudioTooLongError, message, upload)
        if upload is not None and status == 422:
            raise _with_message(AudioDecodeError, message, upload)
        if status in (400, 404, 413, 415):
            raise QueryError(message)
        if status == 503 and not message.startswith(("busy", "the request took longer")):
            raise SearchIndexError(message)
        raise AudioseekError(message)

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self._request(method, path, **kwargs).json()

    # ---- SearchService -------------------------------------------------------------------
    def search(
        self,
        queries: str | list[str],
        k: int = 10,
        agg: str = "max",
        mode: str = "hybrid",
        **filters,
    ) -> list[Hit] | list[list[Hit]]:
        """Ranked files for a text query (a ``str``: one list of hits) or for each of a list
        of queries (a list of hit lists, sent in batches). ``mode`` and ``filters`` as
        :meth:`audioseek.Index.search` (checked here first, with the same messages)."""
        from audioseek.serve.schemas import SearchBatchOut, SearchOut

        options = {"mode": mode, **_filters(filters)}
        if isinstance(queries, str):
            params = {"q": queries, "k": k, "agg": agg, **options}
            body = self._json("GET", "/api/search", params=params)
            return [h.to_hit() for h in SearchOut.model_validate(body).hits]
        if not isinstance(queries, list | tuple):
            raise QueryError(f"queries must be a string or a list of strings, got {queries!r}")
        if not queries:
            raise QueryError("no queries given")
        out: list[list[Hit]] = []
        for lo in range(0, len(queries), BATCH):
            payload = {"queries": list(queries[lo : lo + BATCH]), "k": k, "agg": agg, **options}
            body = SearchBatchOut.model_validate(self._json("POST", "/api/search", json=payload))
            out += [[h.to_hit() for h in r.hits] for r in body.results]
        return out

    def similar(self, query: int | str | os.PathLike, k: int = 10, **filters) -> list[Hit]:
        """Files like an indexed file (an ``int`` file id) or like a local audio file (a
        path: the file is uploaded). The query file itself is excluded; ``filters`` as
        :meth:`audioseek.Index.similar`."""
        from audioseek.serve.schemas import SimilarOut

        if isinstance(query, bool) or not isinstance(query, int | str | os.PathLike):
            raise QueryError(f"similar needs a file id or an audio file path, got {query!r}")
        params = _filters(filters)
        if isinstance(query, int):
            body = self._json(
                "POST", "/api/similar", json={"file_id": query, "k": k}, params=params
            )
        else:
            path = Path(query).expanduser()
            if not path.is_file():
                raise QueryError(f"no such audio file {str(query)!r}")
            if isinstance(k, bool) or not isinstance(k, int):
                raise QueryError(f"invalid k {k!r}: expected an integer")
            with open(path, "rb") as f:
                body = self._json(
                    "POST",
                    "/api/similar",
                    files={"file": (path.name, f, "application/octet-stream")},
                    data={"k": str(k)},
                    params=params,
                    upload=str(query),
                )
        return [h.to_hit() for h in SimilarOut.model_validate(body).hits]

    def duplicates(self, threshold: float | None = None) -> list[DuplicateGroup]:
        """Groups of files that hold the same recording."""
        from audioseek.serve.schemas import DuplicatesOut

        params = {} if threshold is None else {"threshold": threshold}
        body = DuplicatesOut.model_validate(self._json("GET", "/api/duplicates", params=params))
        return [g.to_type() for g in body.groups]

    def info(self) -> IndexInfo:
        """What the served index holds."""
        from audioseek.serve.schemas import IndexInfoOut

        return IndexInfoOut.model_validate(self._json("GET", "/api/info")).to_type()

    def file(self, file_id: int) -> IndexedFile | None:
        """The indexed file with this id, or ``None``."""
        from audioseek.serve.schemas import IndexedFileOut

        if isinstance(file_id, bool) or not isinstance(file_id, int) or file_id < 0:
            return None
        response = self._request("GET", f"/api/files/{file_id}", missing_ok=True)
        if response.status_code == 404:
            return None
        return IndexedFileOut.model_validate(response.json()).to_type()

    def tags(self, file_id: int) -> list:
        """The category tags (``audioseek.index.tagging.Tag``) of a file, best first."""
        from audioseek.serve.schemas import TagsOut

        body = self._json("GET", f"/api/files/{_file_id(file_id)}/tags")
        return [t.to_type() for t in TagsOut.model_validate(body).tags]

    def map(self, method: str = "auto") -> list:
        """Every file on the server's 2-D library map (``MapPoint``s); the server computes
        (and caches) its own layout, so only ``method="auto"`` is accepted."""
        from audioseek.serve.schemas import MapOut

        if method != "auto":
            raise QueryError(
                f"the server chooses the map layout; method must be 'auto', got {method!r}"
            )
        return [p.to_type() for p in MapOut.model_validate(self._json("GET", "/api/map")).points]

    def peaks(self, file_id: int) -> list[list[float]] | None:
        """The stored waveform envelope ``[[min, max], ...]`` of a file, or ``None``."""
        from audioseek.serve.schemas import PeaksOut

        body = self._json("GET", f"/api/files/{_file_id(file_id)}/peaks")
        return PeaksOut.model_validate(body).peaks


def _file_id(file_id) -> int:
    if isinstance(file_id, bool) or not isinstance(file_id, int) or file_id < 0:
        raise QueryError(f"unknown file id {file_id!r}")
    return file_id


def _filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Checked filters as query parameters (``format`` as a comma list)."""
    from audioseek.index.filters import Filters

    checked = Filters.from_mapping(filters).to_dict()
    if "format" in checked:
        checked["format"] = ",".join(checked["format"])
    return checked


__all__ = ["Client"]
