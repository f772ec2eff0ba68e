"""Typed errors. Every user-facing failure is one of these and carries a one-line
message that names the offending file or value; the CLI prints it as
``error: <message>`` and exits with status 1 (2 is for usage errors, 130 for Ctrl-C)."""


def first_line(e: BaseException) -> str:
    """The first line of ``e``'s message (its type name when empty): third-party errors
    (Hugging Face, torch) become one-line reasons inside our messages."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


class AudioseekError(Exception):
    """Base class for errors that are the user's input, not a bug."""


class AudioDecodeError(AudioseekError):
    """A file could not be decoded as audio (corrupt, truncated, empty, not audio)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode audio file {self.path!r}: {reason}")


class AudioTooLongError(AudioDecodeError):
    """A file decodes to more than an allowed duration (e.g. an upload limit); decoding stopped
    as soon as the limit was passed."""

    def __init__(self, path, max_seconds: float):
        self.max_seconds = float(max_seconds)
        super().__init__(path, f"longer than the limit of {self.max_seconds:g} s")


class DatasetError(AudioseekError):
    """A dataset folder, CSV or manifest is missing or malformed."""


class ChecksumError(AudioseekError):
    """A downloaded file does not match its published checksum."""


class ModelLoadError(AudioseekError):
    """A model, checkpoint or encoder could not be found or loaded."""


class ConfigError(AudioseekError):
    """A configuration file or value is invalid."""


class SearchIndexError(AudioseekError):
    """An index is missing, was built with another model, or is damaged."""


class QueryError(AudioseekError):
    """A search query or its parameters are malformed."""
