"""Checkpoints: one file with weights, optimizer state, model config, codec, preprocessing,
profile and versions. Written atomically; read with torch's safe loader (no arbitrary pickle)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path

import torch

from hakisa import __version__
from hakisa.errors import HakisaError
from hakisa.learn.model import ModelConfig
from hakisa.profile import Profile

CHECKPOINT_FORMAT = "hakisa-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(HakisaError):
    """A checkpoint is missing, unsafe, corrupt, or made for another profile."""


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    model_config: dict, codec: dict, profile: Profile, preprocessing: dict, state: dict,
                    extra: dict | None = None) -> None:
    """Write atomically (temporary file, then rename) so a crash never leaves half a checkpoint.

    ``extra``: more tensors / state dicts to keep (e.g. consolidate's target network as "target")."""
    p = Path(path)
    blob = {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
        "hakisa_version": __version__, "torch_version": str(torch.__version__),
        "profile_name": profile.name, "profile_sha256": profile.sha256, "profile_toml": profile.text,
        "model_config": json.dumps(model_config), "codec": json.dumps(codec),
        "preprocessing": json.dumps(preprocessing), "state": json.dumps(state),
        "model": model.state_dict(), "optimizer": optimizer.state_dict() if optimizer is not None else {},
        **(extra or {}),
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | Path, profile: Profile | None = None) -> dict:
    """Load safely; refuse files that would run code, foreign files and other profiles' checkpoints."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist.")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for unsafe pickles, RuntimeError for corrupt zips
        unsafe = "Unsupported global" in str(exc) or "GLOBAL " in str(exc)
        why = ("it contains Python objects that could run code when loaded, and hakisa refuses to load those"
               if unsafe else f"it is corrupt or not a torch file ({type(exc).__name__})")
        raise CheckpointError(f"cannot load checkpoint {p}: {why}.") from None
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} is not a hakisa checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    if int(blob.get("format_version", -1)) != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p} has checkpoint format {blob.get('format_version')}; this hakisa reads "
                              f"{CHECKPOINT_VERSION}.")
    if profile is not None and blob["profile_sha256"] != profile.sha256:
        raise CheckpointError(
            f"{p} was made for profile '{blob['profile_name']}' (sha256 {blob['profile_sha256'][:12]}), not for "
            f"'{profile.name}' from {profile.source} (sha256 {profile.sha256[:12]}). Use a checkpoint trained "
            "with this profile, or start from scratch.")
    for key in ("model_config", "codec", "preprocessing", "state"):
        blob[key] = json.loads(blob[key])
    unknown = sorted(set(blob["model_config"]) - {f.name for f in fields(ModelConfig)})
    if unknown:
        made_by = blob["state"].get("hakisa_version", "an unknown version")
        raise CheckpointError(f"{p} describes its network with {', '.join(unknown)}, which this hakisa ({__version__}) "
                              f"does not know; it was made by hakisa {made_by}. Use that version, or train a new "
                              "checkpoint.")
    return blob
