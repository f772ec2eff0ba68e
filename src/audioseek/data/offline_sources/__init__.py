"""Per-source readers of the offline corpus (see :mod:`audioseek.data.offline_corpus`).

Each reader yields :class:`~audioseek.data.offline_sources.base.Clip` records: where the
audio comes from (a file of an installed Debian package, or a render function) and the
phrases that describe it. Captions are made from those phrases by
:func:`~audioseek.data.offline_sources.captions.make_captions`.
"""

from audioseek.data.offline_sources.base import Clip

__all__ = ["Clip"]
