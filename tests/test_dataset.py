import h5py
import numpy as np
import pytest

from hakisa.codec import ActionCodec
from hakisa.data.dataset import DatasetReader, DatasetWriter, Observation, held_mask, mask_names
from hakisa.errors import DatasetError, OutputError
from hakisa.profile import parse_profile

from conftest import profile_text

PROFILE = parse_profile(profile_text("T"))
CODEC = ActionCodec(PROFILE.actions, (640, 360))


def obs(i, keys=()):
    frame = np.full(PROFILE.capture.frame_shape, i % 256, np.uint8)
    return Observation(frame, 100.0 + i * 0.05, i, held_mask(keys), (i, 2 * i), 0,
                       [(100.0 + i * 0.05 - 0.01, 0, 5, -1, -1)] if i else [])


def write(path, episodes=((5, "terminated"), (3, "truncated")), **kw):
    w = DatasetWriter(path, PROFILE, CODEC, **kw)
    i = 0
    for n, status in episodes:
        w.start_episode(obs(i))
        for _ in range(n):
            i += 1
            w.add_step((1, i % 5, 0), 1, 0.5, False, False, obs(i, ["left"]))
        w.end_episode(status)
    w.close()


def test_round_trip_keeps_n_plus_one_observations_and_flags(tmp_path):
    path = tmp_path / "d.h5"
    write(path)
    with DatasetReader(path) as r:
        assert r.profile_sha256 == PROFILE.sha256
        names = r.episode_names()
        assert names == ["ep_000000", "ep_000001"]
        ep = r.load(names[0])
        assert ep["observations"].shape == (6, 64, 64, 1) and len(ep["command_type"]) == 5
        assert ep["terminations"].tolist() == [False] * 4 + [True] and not ep["truncations"].any()
        assert mask_names(ep["held_keys"][1]) == ["left"]
        assert ep["events_step"].tolist() == [1, 2, 3, 4, 5]
        ep2 = r.load(names[1])
        assert ep2["truncations"][-1] and not ep2["terminations"].any()
        assert r.info(names[1]).status == "truncated"
        assert ep2["observations"][0, 0, 0, 0] == 5  # continues where the first episode ended


def test_existing_output_needs_force_and_bad_paths_are_refused(tmp_path):
    path = tmp_path / "d.h5"
    write(path)
    with pytest.raises(OutputError, match="--force"):
        DatasetWriter(path, PROFILE, CODEC)
    write(path, force=True)
    with pytest.raises(OutputError, match="does not exist"):
        DatasetWriter(tmp_path / "nope" / "d.h5", PROFILE, CODEC)
    with pytest.raises(OutputError, match="directory"):
        DatasetWriter(tmp_path, PROFILE, CODEC, force=True)


def test_an_open_episode_is_readable_after_each_flush(tmp_path):
    """What a killed writer leaves: the last flush is on disk, readable, marked as cut off."""
    path = tmp_path / "d.h5"
    w = DatasetWriter(path, PROFILE, CODEC, flush_interval=0.0)
    w.start_episode(obs(0))
    for i in range(1, 40):
        w.add_step((0, 0, 0), 1, 0.0, False, False, obs(i))
    with DatasetReader(path) as r:  # read while the writer still has it open (no close, no end_episode)
        info = r.info("ep_000000")
        assert info.status == "recording" and info.n_steps == 39 and not info.problems
        assert r.load("ep_000000")["truncations"][-1]
    w.close()


def test_broken_and_foreign_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.h5"
    write(good)
    data = good.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "text.h5").write_text("hello")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    cases = {"cut.h5": "truncated or corrupt", "empty.h5": "empty", "text.h5": "not an HDF5 file",
             "foreign.h5": "not a hakisa dataset", "missing.h5": "does not exist"}
    for name, msg in cases.items():
        with pytest.raises(DatasetError, match=msg):
            DatasetReader(tmp_path / name)
    with h5py.File(good, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(DatasetError, match="version 99"):
        DatasetReader(good)


def test_full_disk_stops_with_a_clear_error_and_keeps_what_was_written(tmp_path):
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        path = mnt / "d.h5"
        w = DatasetWriter(path, PROFILE, CODEC, compression=None, flush_interval=0.0)
        w.start_episode(obs(0))
        rng = np.random.default_rng(0)
        written = 0
        with pytest.raises(OutputError, match="disk .* is full"):
            for i in range(1, 10_000):
                o = obs(i)
                o.frame = rng.integers(0, 255, o.frame.shape, dtype=np.uint8)  # incompressible
                w.add_step((0, 0, 0), 1, 0.0, False, False, o)
                written = i
        w.close()
        with DatasetReader(path) as r:
            info = r.info("ep_000000")
            assert info.status == "truncated" and not info.problems
            assert written - 40 <= info.n_steps <= written  # at most the unflushed rows are lost
            assert r.load("ep_000000")["observations"][-1].any()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])
