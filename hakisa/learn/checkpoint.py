"""Checkpoints: one file with weights, optimizer state, model config, codec, preprocessing,
profile and versions. Written atomically; read with torch's safe loader (no arbitrary pickle)."""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from dataclasses import fields
from pathlib import Path

import torch

from hakisa.resources import pid_alive
from hakisa import __version__
from hakisa.errors import HakisaError
from hakisa.learn.model import ModelConfig
from hakisa.profile import Profile

CHECKPOINT_FORMAT = "hakisa-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(HakisaError):
    """A checkpoint is missing, unsafe, corrupt, or made for another profile."""


MAX_PROFILE_BYTES = 1 << 20
MAX_PARAMETERS = 200_000_000  # 800 MB of float32 weights; hakisa's networks have about 1-4 M
# per model-config field: (type check, allowed values) -- sizes are capped so a file cannot make hakisa
# allocate more than a network of a few hundred MB
_CONFIG_LIMITS = {
    "stack": (1, 32), "n_command": (1, 64), "n_action_1": (1, 65536), "n_action_2": (1, 65536), "hidden": (1, 8192),
}


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_model_config(d: dict, where: str | Path) -> ModelConfig:
    """A network description from a file, checked for types and capped sizes before anything is built."""
    def bad(key: str, allowed: str) -> CheckpointError:
        return CheckpointError(f"{where}: model config field '{key}' is {_short(d.get(key))}; expected {allowed}. "
                               "The checkpoint is damaged or crafted.")

    for key, (lo, hi) in _CONFIG_LIMITS.items():
        if key in d and not (_is_int(d[key]) and lo <= d[key] <= hi):
            raise bad(key, f"an integer from {lo} to {hi}")
    fs = d.get("frame_shape", list(ModelConfig().frame_shape))
    if not (isinstance(fs, list) and len(fs) == 3 and all(_is_int(x) for x in fs) and 16 <= fs[0] <= 1024
            and 16 <= fs[1] <= 1024 and fs[2] in (1, 3)):
        raise bad("frame_shape", "[height, width, channels] with sides 16..1024 and 1 or 3 channels")
    if "norm" in d and d["norm"] not in ModelConfig.NORMS:
        raise bad("norm", " or ".join(repr(n) for n in ModelConfig.NORMS))
    ch = d.get("channels", list(ModelConfig().channels))
    if not (isinstance(ch, list) and 1 <= len(ch) <= 8 and all(_is_int(x) and 1 <= x <= 1024 for x in ch)):
        raise bad("channels", "a list of 1 to 8 integers from 1 to 1024")
    cfg = ModelConfig.from_dict({**d, "frame_shape": fs, "channels": ch})
    H, W, _ = cfg.frame_shape
    from hakisa.learn.model import _KERNELS

    for i in range(len(cfg.channels)):
        k, st = _KERNELS[i] if i < len(_KERNELS) else (3, 1)
        H, W = (H - k) // st + 1, (W - k) // st + 1
        if H < 1 or W < 1:
            raise bad("channels", f"no more convolutions than {cfg.frame_shape[0]}x{cfg.frame_shape[1]} frames allow")
    n = sum(v.numel() for v in expected_shapes(cfg).values())
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{where}: its network would have {n:,} parameters (at most {MAX_PARAMETERS:,}); the "
                              "checkpoint is damaged or crafted.")
    return cfg


def expected_shapes(cfg: ModelConfig) -> dict[str, torch.Size]:
    """Parameter and buffer shapes of the network ``cfg`` describes, computed without allocating it."""
    from hakisa.learn.model import QNetwork

    with torch.device("meta"):
        net = QNetwork(cfg)
    return {k: v for k, v in net.state_dict().items()}


def _check_weights(sd, shapes: dict, p: Path, key: str) -> None:
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{p}: '{key}' is not a dict of weight tensors; the checkpoint is damaged.")
    missing, extra = sorted(set(shapes) - set(sd)), sorted(set(sd) - set(shapes))
    if missing or extra:
        raise CheckpointError(f"{p}: the '{key}' weights do not fit the network its config describes (missing "
                              f"{', '.join(missing[:3]) or 'none'}; unexpected {', '.join(extra[:3]) or 'none'}); the "
                              "checkpoint is damaged.")
    for name, want in shapes.items():
        t = sd[name]
        if tuple(t.shape) != tuple(want.shape) or not t.dtype.is_floating_point:
            raise CheckpointError(f"{p}: weight '{name}' in '{key}' has shape {tuple(t.shape)} ({t.dtype}) but its "
                                  f"network needs {tuple(want.shape)} (float); the checkpoint is damaged.")


def clean_stale_tmp(path: str | Path) -> list[Path]:
    """Delete ``PATH.<pid>.*.tmp`` files that a killed checkpoint write left (their process is gone);
    returns what was deleted.  Files of a write still in progress (live pid) are left alone."""
    p = Path(path)
    gone = []
    for tmp in p.parent.glob(f"{glob.escape(p.name)}.*.tmp"):
        pid = tmp.name[len(p.name) + 1:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
            continue
        if pid.isdigit() and int(pid) == os.getpid():
            continue
        try:
            tmp.unlink()
            gone.append(tmp)
        except OSError:
            pass
    return gone


def load_optimizer(opt: torch.optim.Optimizer, state: dict, path: str | Path) -> None:
    """Restore an optimizer's state from a checkpoint, refusing one that does not fit its network."""
    try:
        opt.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
        raise CheckpointError(f"{path}: its optimizer state does not fit the network ({_short(str(exc))}); the "
                              "checkpoint is damaged. Start again without --resume.") from None


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
    _write_atomic(p, blob)


def _write_atomic(p: Path, blob: dict) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(p)
    fd, tmp = tempfile.mkstemp(prefix=f"{p.name}.{os.getpid()}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_state(src: str | Path, dst: str | Path, state: dict) -> None:
    """Copy checkpoint ``src`` to ``dst`` (atomically; they may be the same file) with its training state replaced
    by ``state``: weights, optimizer, profile and everything else stay as they are."""
    load_checkpoint(src)  # checked first: a damaged or foreign file is refused, not copied
    raw = torch.load(Path(src), map_location="cpu", weights_only=True)  # as stored (load_checkpoint decodes it)
    raw["state"] = json.dumps(state)
    _write_atomic(Path(dst), raw)


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
    ver = blob.get("format_version")
    if not isinstance(ver, int) or isinstance(ver, bool) or ver != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p} has checkpoint format {_short(ver)}; this hakisa reads {CHECKPOINT_VERSION}.")
    for key, limit in (("profile_name", 200), ("profile_sha256", 64), ("profile_toml", MAX_PROFILE_BYTES)):
        if key not in blob:
            raise CheckpointError(f"{p} has no '{key}': it does not say which game profile it was trained with, "
                                  "so hakisa cannot check it against the data or the window. Train a new checkpoint.")
        if not isinstance(blob[key], str) or len(blob[key]) > limit:
            raise CheckpointError(f"{p}: '{key}' is {_short(blob[key])}, not text of at most {limit} characters; "
                                  "the checkpoint is damaged.")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", blob["profile_name"]):  # a game name: never a path
        raise CheckpointError(f"{p}: profile_name {_short(blob['profile_name'])} is not a game name (letters, "
                              "digits, '_', '.', '-'); the checkpoint is damaged or crafted.")
    if not re.fullmatch(r"[0-9a-f]{64}", blob["profile_sha256"]):
        raise CheckpointError(f"{p}: profile_sha256 {_short(blob['profile_sha256'])} is not a sha256 digest; the "
                              "checkpoint is damaged.")
    if profile is not None and not profile.records_like(blob["profile_toml"], blob["profile_sha256"]):
        raise CheckpointError(
            f"{p} was made for profile '{blob['profile_name']}' (sha256 {blob['profile_sha256'][:12]}), not for "
            f"'{profile.name}' from {profile.source} (sha256 {profile.sha256[:12]}), and they differ in what the "
            "network sees or does (the game's name, [capture] or [actions]). Use a checkpoint trained with this "
            "profile, or start from scratch.")
    for key in ("model_config", "codec", "preprocessing", "state"):
        if key not in blob:
            raise CheckpointError(f"{p} has no '{key}'; the checkpoint is damaged or was not written by hakisa.")
        try:
            value = json.loads(blob[key])
        except (ValueError, TypeError):
            raise CheckpointError(f"{p}: '{key}' is not JSON ({_short(blob[key])}); the checkpoint is "
                                  "damaged.") from None
        if not isinstance(value, dict):
            raise CheckpointError(f"{p}: '{key}' is {_short(value)}, not a JSON object; the checkpoint is damaged.")
        blob[key] = value
    unknown = sorted(set(blob["model_config"]) - {f.name for f in fields(ModelConfig)})
    if unknown:
        made_by = blob["state"].get("hakisa_version", "an unknown version")
        raise CheckpointError(f"{p} describes its network with {', '.join(unknown)}, which this hakisa ({__version__}) "
                              f"does not know; it was made by hakisa {made_by}. Use that version, or train a new "
                              "checkpoint.")
    cfg = check_model_config(blob["model_config"], p)
    from hakisa.data.dataset import _codec_info

    blob["codec"] = _codec_info(json.dumps(blob["codec"]), f"{p}: its codec", CheckpointError)
    for key, have in (("n_action_1", cfg.n_action_1), ("n_action_2", cfg.n_action_2)):
        if blob["codec"].get(key, 1) != have:
            raise CheckpointError(f"{p}: its codec has {key} {blob['codec'].get(key, 1)} but its network {have}; "
                                  "the checkpoint is damaged.")
    shapes = expected_shapes(cfg)
    for key in ("model", "target"):
        if key == "target" and key not in blob:
            continue
        _check_weights(blob.get(key), shapes, p, key)
    if not isinstance(blob.get("optimizer", {}), dict):
        raise CheckpointError(f"{p}: 'optimizer' is not a state dict; the checkpoint is damaged.")
    st = blob["state"]
    step = st.get("step", 0)
    if not (_is_int(step) and 0 <= step <= 10**10) or not isinstance(st.get("history", []), list):
        raise CheckpointError(f"{p}: its training state (step {_short(st.get('step'))}) is damaged.")
    return blob
