"""Watch folders: keep an index current while files are created, changed, moved and deleted.

``audioseek watch PATHS --db DB`` (and ``serve --watch``) observes the library with
``watchdog`` (inotify on Linux, FSEvents on macOS, polling elsewhere). Events for audio
files and folders are collected, and once the library has been quiet for ``debounce``
seconds an ordinary incremental run (:meth:`audioseek.Index.add`) brings the index up to
date: new and changed files are embedded, moved ones are recognised by their content hash
(no new embedding), deleted ones are dropped. Every run has the indexer's crash safety
(one transaction per batch, one writer at a time), so the watcher can be killed at any
moment; the next start catches up with what changed while it was down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = 2.0


def _is_relevant(path: str, is_dir: bool, exts: frozenset[str]) -> bool:
    return is_dir or Path(path).suffix.lower() in exts


class Watcher:
    """Observe ``paths`` and call ``run()`` (an incremental index run) after each burst of
    changes, ``debounce`` seconds after the last event. ``on_run`` receives each run's
    result (an :class:`~audioseek.index.types.IndexSummary`)."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike],
        run: Callable[[], object],
        debounce: float = DEFAULT_DEBOUNCE,
        on_run: Callable[[object], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ):
        from audioseek.audio.io import AUDIO_EXTENSIONS

        self.paths = [Path(p).expanduser().resolve() for p in paths]
        self.run = run
        self.debounce = float(debounce)
        self.on_run = on_run
        self.on_error = on_error
        self.exts = frozenset(e.lower() for e in AUDIO_EXTENSIONS)
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._last_event = 0.0
        self._lock = threading.Lock()
        self._observer = None
        self._thread: threading.Thread | None = None
        self.runs = 0

    # watchdog calls this from its own thread
    def dispatch(self, event) -> None:
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "") or ""]
        is_dir = bool(getattr(event, "is_directory", False))
        if event.event_type in ("opened", "closed_no_write"):
            return
        if is_dir and event.event_type == "modified":  # an entry changed: its own event counts
            return
        if not any(p and _is_relevant(os.fsdecode(p), is_dir, self.exts) for p in paths):
            return
        with self._lock:
            self._last_event = time.monotonic()
        self._changed.set()

    def start(self) -> Watcher:
        """Observe, then start the re-index loop (each once; calling again is harmless)."""
        self.observe()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="audioseek-watch", daemon=True)
            self._thread.start()
        return self

    def observe(self) -> Watcher:
        """Start collecting events without running anything yet: a catch-up run made after
        this cannot miss a change made while it runs (the change is seen and re-run)."""
        if self._observer is not None:
            return self
        from watchdog.observers import Observer

        observer = Observer()
        for p in self.paths:
            observer.schedule(self, str(p if p.is_dir() else p.parent), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._changed.wait(timeout=0.2):
                continue
            with self._lock:
                quiet = time.monotonic() - self._last_event
            if quiet < self.debounce:
                self._stop.wait(min(self.debounce - quiet, 0.5))
                continue
            self._changed.clear()
            try:
                result = self.run()
                self.runs += 1
                if self.on_run is not None:
                    self.on_run(result)
            except Exception as e:  # a failed run is reported; the watcher goes on
                log.error("re-index after changes failed: %s", e)
                if self.on_error is not None:
                    self.on_error(e)

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def watch(
    index,
    paths: Iterable[str | os.PathLike],
    debounce: float = DEFAULT_DEBOUNCE,
    on_run: Callable[[object], None] | None = None,
    initial: bool = True,
    **add_options,
) -> Watcher:
    """Start watching ``paths`` for ``index`` (an :class:`audioseek.Index`); with ``initial``
    one run first catches up with changes made while nothing was watching. The folders are
    observed before that run starts, so a file written during it is indexed by the next
    run. Returns the running :class:`Watcher` (``stop()`` it)."""
    paths = list(paths)
    add_options.setdefault("progress", False)

    def run():
        return index.add(paths, **add_options)

    watcher = Watcher(paths, run, debounce=debounce, on_run=on_run).observe()
    if initial:
        try:
            result = run()
        except BaseException:
            watcher.stop()
            raise
        if on_run is not None:
            on_run(result)
    return watcher.start()
