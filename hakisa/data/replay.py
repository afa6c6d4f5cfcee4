"""`hakisa replay`: render a dataset's frames with the actions drawn on them (mp4 or gif)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from hakisa.codec import LEFT_CLICK, MOUSE_COMMANDS, RIGHT_CLICK, ActionCodec
from hakisa.data.dataset import ACTORS, DatasetReader, check_episode_values, mask_names
from hakisa.errors import DatasetError, OutputError
from hakisa.profile import parse_profile

_WHITE, _YELLOW, _RED, _GREEN = (255, 255, 255), (255, 220, 0), (255, 60, 60), (80, 255, 80)


def _text(img: np.ndarray, s: str, y: int, color=_WHITE) -> None:
    cv2.putText(img, s, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, s, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)


def render_frames(path: str, episode: str | None = None, max_steps: int | None = None, width: int = 512):
    """Yield (RGB frame with overlay, fps) for each observation of the chosen episodes."""
    with DatasetReader(path) as r:
        cap_w, cap_h = r.codec_info.get("capture_size", [1, 1])
        codec = ActionCodec(parse_profile(r.profile_text, source=f"{path} (profile_toml)").actions, (cap_w, cap_h))
        grid = codec.grid
        names = r.episode_names()
        if episode is not None:
            if episode not in names:
                raise DatasetError(f"{path} has no episode {episode!r}; it has {', '.join(names) or 'none'}.")
            names = [episode]
        fps = r.tick_hz or 20.0
        count = 0
        for name in names:
            ep = r.load(name)
            check_episode_values(path, name, ep, r.codec_info)
            obs = ep["observations"]
            n = len(obs)
            scale = width / obs.shape[2]
            ret = 0.0
            for i in range(n):
                frame = obs[i]
                if frame.shape[2] == 1:
                    frame = np.repeat(frame, 3, axis=2)
                img = cv2.resize(frame, (width, int(round(obs.shape[1] * scale))), interpolation=cv2.INTER_NEAREST)
                held = mask_names(ep["held_keys"][i])
                _text(img, f"{name}  step {i}/{n - 1}  t={ep['obs_time'][i] - ep['obs_time'][0]:6.2f}s", 16)
                _text(img, "held: " + (" ".join(held) or "-"), 34, _YELLOW)
                mx, my = (int(v) for v in ep["mouse_xy"][i])
                px, py = mx * img.shape[1] // cap_w, my * img.shape[0] // cap_h
                if 0 <= px < img.shape[1] and 0 <= py < img.shape[0]:  # the pointer may be outside the area
                    cv2.drawMarker(img, (px, py), _GREEN, cv2.MARKER_CROSS, 12, 1)
                if i < n - 1:
                    c, a1, a2 = int(ep["command_type"][i]), int(ep["action_1"][i]), int(ep["action_2"][i])
                    label = codec.describe((c, a1, a2))
                    if c in MOUSE_COMMANDS:
                        cx = int((a1 + 0.5) * img.shape[1] / grid[0])
                        cy = int((a2 + 0.5) * img.shape[0] / grid[1])
                        if c in (LEFT_CLICK, RIGHT_CLICK):
                            cv2.circle(img, (cx, cy), 10, _RED, 2)
                    actor = ACTORS[ep["actor"][i]] if ep["actor"][i] < len(ACTORS) else "?"
                    ret += float(ep["rewards"][i])
                    _text(img, f"next: {label}  by {actor}  r={ep['rewards'][i]:+.2f}  return={ret:+.2f}",
                          img.shape[0] - 10, _WHITE)
                    if ep["terminations"][i] or ep["truncations"][i]:
                        _text(img, "TERMINATED" if ep["terminations"][i] else "TRUNCATED", 52, _RED)
                yield img, fps
                count += 1
                if max_steps is not None and count >= max_steps:
                    return


def write_replay(path: str, out: str, episode: str | None = None, max_steps: int | None = None,
                 width: int = 512, force: bool = False) -> int:
    """Render ``path`` into ``out`` (.mp4 or .gif); returns the number of frames written."""
    outp = Path(out)
    suffix = outp.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise OutputError(f"--out {out!r}: choose a file ending in .mp4 or .gif.")
    if outp.exists() and not force and not outp.is_dir():
        raise OutputError(f"{out} already exists; pass --force to overwrite it.")
    from hakisa.resources import check_writable

    check_writable(outp, need_bytes=16 << 20, what="the clip")
    with DatasetReader(path):  # the dataset is checked before anything is written
        pass
    # written under a temporary name and renamed when complete: a failure leaves nothing behind and
    # an older clip (--force) untouched
    tmp = outp.with_name(f".{outp.stem}.{os.getpid()}.part{suffix}")
    try:
        n = _write_clip(path, tmp, suffix, episode, max_steps, width)
        if n == 0:
            raise DatasetError(f"{path} has no frames to replay.")
        os.replace(tmp, outp)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def _write_clip(path: str, outp: Path, suffix: str, episode, max_steps, width) -> int:
    frames = render_frames(path, episode, max_steps, width)
    n = 0
    if suffix == ".mp4":
        writer = None
        for img, fps in frames:
            if writer is None:
                writer = cv2.VideoWriter(str(outp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (img.shape[1], img.shape[0]))
                if not writer.isOpened():
                    raise OutputError(f"cannot open a video writer for {outp.name}; try a .gif instead.")
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            n += 1
        if writer is not None:
            writer.release()
    else:
        from PIL import Image

        images, fps = [], 20.0
        for img, fps in frames:
            images.append(Image.fromarray(img))
        if images:
            images[0].save(outp, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0,
                           optimize=False)
        n = len(images)
    return n

