"""The `hakisa` command line.  Each command builds its config, opens its resources,
calls one function and prints a summary; errors print one clear line (exit 2)."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from hakisa import BUNDLED_GAMES, __version__
from hakisa.errors import HakisaError


def _fmt_status(stats) -> str:
    el = time.monotonic() - stats.started
    return (f"REC {el:7.1f}s | {stats.rate():5.1f} Hz | missed {stats.missed} ({stats.missed_pct():.2f}%) | "
            f"steps {stats.steps} | episodes {stats.episodes} done")


def cmd_record(args: argparse.Namespace) -> int:
    from hakisa.codec import ActionCodec
    from hakisa.data.dataset import DatasetWriter, check_output_path
    from hakisa.profile import load_profile
    from hakisa.record.recorder import summarize_grab_ms
    from hakisa.resources import check_writable

    profile = load_profile(args.profile)
    check_output_path(args.out, args.force)
    check_writable(args.out, need_bytes=RECORD_MIN_FREE, what="recording")
    if args.hz is not None:  # its range (1-60) is checked with every other flag in hakisa.limits
        from dataclasses import replace
        profile = replace(profile, capture=replace(profile.capture, tick_hz=float(args.hz)))

    from hakisa.live import require_display

    require_display("record")
    from hakisa.live.sources import find_game

    win, area = find_game(profile, args.wait)
    codec = ActionCodec(profile.actions, (area[2], area[3]))
    # an existing file (--force) is replaced only once the new recording holds something
    out = Path(args.out)
    target = out.with_name(f"{out.stem}.recording-{os.getpid()}{out.suffix}") if out.exists() else out
    writer = DatasetWriter(target, profile, codec, source="record", force=args.force)
    try:
        stats, tracker = _record_into(args, profile, win, area, codec, writer)
    except BaseException:
        writer.discard_if_empty()  # nothing recorded: nothing left behind, an older file untouched
        if target != out and target.exists():
            os.replace(target, out)
        raise
    if target != out:
        if writer.discard_if_empty():
            raise HakisaError(f"nothing was recorded (stopped: {stats.stop_reason}); {out} was left as it was.")
        os.replace(target, out)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    p50, p99 = summarize_grab_ms(stats)
    elapsed = time.monotonic() - stats.started
    print(f"stopped: {stats.stop_reason}\n"
          f"  {stats.steps} steps in {stats.episodes} episodes ({stats.terminated} ended by game over) over "
          f"{elapsed:.1f} s\n"
          f"  achieved {stats.rate():.2f} Hz of {profile.capture.tick_hz:g}, missed ticks {stats.missed} "
          f"({stats.missed_pct():.2f}%), ticks without focus {stats.unfocused}, paused {stats.paused}\n"
          f"  grab+preprocess p50 {p50:.2f} ms, p99 {p99:.2f} ms; keys rejected (other window) "
          f"{tracker.rejected_keys}\n  wrote {args.out}")
    return 0


RECORD_MIN_FREE = 64 << 20  # record refuses to start with less free space than this


def _record_into(args, profile, win, area, codec, writer):
    from hakisa.live.listen import InputListener
    from hakisa.live.sources import FocusProbe, WindowFrameSource
    from hakisa.record.inputlog import InputTracker
    from hakisa.record.recorder import Recorder

    source = WindowFrameSource(win.wid, win.title, profile.capture.region)
    recorder: Recorder | None = None

    def kill() -> None:
        if recorder is not None:
            recorder.stop(f"kill switch ({profile.safety.kill_switch})")

    tracker = InputTracker(accept_key=FocusProbe(win.wid, win.title), kill_key=profile.safety.kill_switch,
                           on_kill=kill)
    recorder = Recorder(profile, source, tracker, writer, codec, max_seconds=args.seconds)
    # both signals only set the stop flag, as in `play`: a KeyboardInterrupt raised wherever the main thread happens
    # to be (once in a full test run, the recorder went on recording after a SIGINT) is not relied on
    signal.signal(signal.SIGTERM, lambda *_: recorder.stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: recorder.stop("Ctrl+C"))
    tty = sys.stderr.isatty()
    last_line = [0.0]

    def show(stats) -> None:
        now = time.monotonic()
        if tty:
            print("\r" + _fmt_status(stats), end="", file=sys.stderr, flush=True)
        elif now - last_line[0] >= 5:
            print(_fmt_status(stats), file=sys.stderr, flush=True)
            last_line[0] = now

    try:
        with InputListener(tracker):
            recorder.start()
            print(f"recording {win.title!r} ({area[2]}x{area[3]} at {area[0]},{area[1]}) at "
                  f"{profile.capture.tick_hz:g} Hz into {args.out}; stop with Ctrl+C or "
                  f"{profile.safety.kill_switch}", file=sys.stderr, flush=True)
            stats = recorder.wait(on_tick=show)
    finally:
        writer.close("truncated")
    return stats, tracker


def cmd_inspect(args: argparse.Namespace) -> int:
    from hakisa.data.inspect import format_summary, summarize, summary_json

    status = 0
    for path in args.files:
        try:
            s = summarize(path)
        except HakisaError as exc:
            print(f"{path}: BROKEN: {exc}", file=sys.stderr)
            status = 1
            continue
        print(summary_json(s) if args.json else format_summary(s))
        if s.problems:
            status = 1
    return status


def cmd_relabel(args: argparse.Namespace) -> int:
    import json

    from hakisa.data.relabel import preview
    from hakisa.profile import load_profile

    profile = load_profile(args.profile)
    status, out = 0, []
    for path in args.files:
        try:
            report = preview(path, profile)
        except HakisaError as exc:
            print(exc if str(path) in str(exc) else f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            out.append({"path": str(path), "changed": report is not None, **(vars(report) if report else {})})
        elif report is None:
            print(f"{path}: recorded with these rules; nothing changes")
        else:
            print(report.line())
            for note in report.notes:
                print(f"  {note}")
    if args.json:
        print(json.dumps(out, indent=2))
    return status


def cmd_replay(args: argparse.Namespace) -> int:
    from hakisa.data.replay import write_replay

    n = write_replay(args.file, args.out, episode=args.episode, max_steps=args.max_steps, width=args.width,
                     force=args.force)
    print(f"wrote {args.out} ({n} frames)")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from hakisa.profile import load_profile
    from hakisa.learn.study import StudyConfig, format_confusion, study

    profile = load_profile(args.profile)
    paths = _data_paths(args.data)
    out = _checkpoint_out(args)
    cfg = StudyConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, margin=args.margin,
                      n_step=args.n_step, td_weight=args.td_weight, stack=args.stack, balance=args.balance,
                      augment=args.augment, photometric=args.photometric, keyframe=args.keyframe,
                      keyframe_by=args.keyframe_by, select=args.select,
                      boost_noop=args.boost_noop, forget_before_loss=args.forget_before_loss,
                      loss_reward=args.loss_reward, eval_every=args.eval_every, seed=args.seed,
                      threads=args.threads, device=args.device, batches=args.batches, amp=args.amp,
                      compile=args.compile, norm=args.norm,
                      motion=args.motion, warmup=args.warmup, holdout=args.holdout, holdout_by=args.holdout_by,
                      balance_by=args.balance_by, imitation=args.imitation, temperature=args.temperature,
                      calibrate=args.calibrate, prior=args.prior)
    res = study(profile, paths, out, cfg, resume=str(out) if args.resume else None,
                progress=not args.quiet, log=lambda m: print(m, file=sys.stderr))
    m = res.metrics
    print(f"held-out ({m['n']} steps): command {m['acc_command']:.3f}, action_1 {m['acc_action_1']:.3f}, "
          f"action_2 {m['acc_action_2']:.3f}, whole action {m['acc_exact']:.3f}, on ticks where the human "
          f"acted {m['acc_active']:.3f} ({100 * m['share_active']:.0f}% of ticks)")
    print(format_confusion(m["confusion"]))
    print(f"training {m['samples_per_s']:.0f} samples/s, reading data {100 * m['read_share']:.1f}% of step time")
    print(res.verdict)
    print(f"wrote {out}, {out}.metrics.jsonl, {out}.png")
    return 0


def _checkpoint_out(args: argparse.Namespace) -> Path:
    """--out of study / consolidate, checked against --force and --resume before any work starts."""
    from hakisa.learn.checkpoint import CheckpointError

    from hakisa.learn.checkpoint import clean_stale_tmp
    from hakisa.resources import check_writable

    out = Path(args.out)
    if out.is_dir():
        raise HakisaError(f"--out {out} is a folder; give a checkpoint file name, e.g. {out / 'run.pt'}.")
    if out.exists() and not (args.force or args.resume):
        raise HakisaError(f"{out} already exists; pass --force to overwrite it or --resume to continue it.")
    if args.resume and not out.exists():
        raise CheckpointError(f"--resume: {out} does not exist yet; run without --resume first.")
    check_writable(out, need_bytes=_checkpoint_bytes(args), what="its checkpoints")
    for sibling in (out.with_name(out.name + ext) for ext in (".metrics.jsonl", ".png")):
        if sibling.is_dir():
            raise HakisaError(f"{sibling} is a folder, so the run could not write it; move it away or choose "
                              "another --out.")
    for tmp in clean_stale_tmp(out):
        print(f"removed {tmp}, left by an earlier run that was killed while writing a checkpoint", file=sys.stderr)
    return out


def _checkpoint_bytes(args: argparse.Namespace) -> int:
    """Disk space a study/consolidate run needs: two copies of a checkpoint (the new one is written beside the
    old) of the network, its target and Adam's two moments, plus room for metrics and plots."""
    from hakisa.learn.checkpoint import expected_shapes
    from hakisa.learn.model import ModelConfig
    from hakisa.profile import load_profile

    try:
        cap = load_profile(args.profile).capture
        cfg = ModelConfig(frame_shape=cap.frame_shape, stack=getattr(args, "stack", 4))
        n = sum(t.numel() for t in expected_shapes(cfg).values())
    except HakisaError:
        return 64 << 20
    return 2 * 4 * 4 * n + (16 << 20)


def _data_paths(patterns: list[str]) -> list[str]:
    import glob

    paths: list[str] = []
    for pattern in patterns:
        hits = sorted(glob.glob(pattern))
        if not hits:
            raise HakisaError(f"--data {pattern!r} matches no file.")
        paths += hits
    return paths


def _consolidate_config(args: argparse.Namespace):
    from hakisa.learn.consolidate import ConsolidateConfig

    return ConsolidateConfig(steps=args.updates, batch_size=args.batch_size, lr=args.lr, gamma=args.gamma,
                             n_step=args.n_step, target_every=args.target_every, tau=args.tau,
                             double=not args.no_double, reward_scale=args.reward_scale, reward_clip=args.reward_clip,
                             margin=args.margin, margin_weight=args.margin_weight, imitation=args.imitation,
                             imitation_temperature=args.imitation_temperature,
                             imitation_weights=args.imitation_weights, human_ratio=args.human_ratio,
                             self_imitation=args.self_imitation, forget_before_loss=args.forget_before_loss,
                             loss_horizon=args.loss_horizon, loss_reward=args.loss_reward, cql_weight=args.cql,
                             anchor=args.anchor,
                             augment=args.augment, eval_every=args.eval_every, seed=args.seed,
                             threads=args.threads, device=args.device, batches=args.batches, amp=args.amp)


def cmd_consolidate(args: argparse.Namespace) -> int:
    from hakisa.learn.consolidate import consolidate, format_histogram
    from hakisa.profile import load_profile

    profile = load_profile(args.profile)
    paths = _data_paths(args.data)
    out = _checkpoint_out(args)
    res = consolidate(profile, paths, out, _consolidate_config(args), parent=args.from_checkpoint,
                      resume=args.resume, progress=not args.quiet, log=lambda m: print(m, file=sys.stderr))
    m = res.metrics
    print(f"after {res.step} updates: TD error {m['td_error']:.4f}, Q of greedy action mean {m['mean_q']:.3f} max "
          f"{m['max_q']:.3f}, agreement with human steps {m['agree_human']:.3f}, with agent steps {m['agree_agent']:.3f}")
    if "moved" in m:
        print(f"the greedy action moved from the start's on {100 * m['moved']:.1f}% of the evaluation steps "
              f"(KL of the policies {m['kl_start']:.3f})")
    from hakisa.learn.training import build_codec

    print("greedy choices on the evaluation sample:\n" + format_histogram(m["histogram"], build_codec(profile, paths)))
    if res.health is not None:
        print("health: " + res.health.summary()
              + "".join(f"\nWARNING: {p.message}" for p in res.health.problems))
    print(f"{m['updates_per_s']:.1f} updates/s, {m['samples_per_s']:.0f} samples/s\nwrote {out}, {out}.metrics.jsonl, "
          f"{out}.png")
    return 0


def _resolve_train(args: argparse.Namespace) -> None:
    """`train`'s defaults that depend on the mode (before the flags are checked)."""
    online = args.rounds is None
    for name, on, staged in (("epsilon", 0.02, 0.2), ("epsilon_end", 0.01, 0.02), ("margin_weight", 1.0, 0.1),
                             ("tau", 0.005, 0.0), ("imitation", "nll", "margin")):
        if getattr(args, name) is None:
            setattr(args, name, on if online else staged)


def cmd_train(args: argparse.Namespace) -> int:
    from hakisa.profile import load_profile

    from hakisa.resources import check_writable

    if args.rounds is not None and args.pick:
        raise HakisaError("--pick picks among the online run's checkpoints; with --rounds, score the rounds' "
                          "checkpoints with `hakisa play --headless GAME --episodes N` or leave --rounds out.")
    profile = _headless_fits(args, load_profile(args.profile))
    wd = Path(args.workdir)
    if wd.exists() and not wd.is_dir():
        raise HakisaError(f"--workdir {wd} is a file; give a folder for the run.")
    existing = next(p for p in (wd, *wd.parents) if p.exists())  # the folder the run's folders will go in
    check_writable(existing / "train.json", "--workdir", need_bytes=_checkpoint_bytes(args) + RECORD_MIN_FREE,
                   what="the run's data and checkpoints")
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.rounds is None:
        return _train_online(args, profile, log)
    from hakisa.learn.train import TrainConfig, train

    cfg = TrainConfig(rounds=args.rounds, explore_steps=args.explore_steps, epsilon=args.epsilon,
                      epsilon_end=args.epsilon_end, headless=args.headless, size=_size(args.size), focus=args.focus,
                      wait=args.wait, seed=args.seed, consolidate=_consolidate_config(args))
    record = train(profile, _data_paths(args.data), args.from_checkpoint, args.workdir, cfg, progress=not args.quiet,
                   log=log)
    print(f"{'round':>5} {'episodes':>8} {'explore reward':>14} {'explore score':>13} {'TD error':>9} {'mean Q':>8}")
    for r in record["rounds"]:
        e, c = r.get("explore", {}), r.get("consolidate", {})
        print(f"{r['round']:>5} {e.get('episodes', 0):>8} {e.get('reward_mean', float('nan')):>14.2f} "
              f"{e.get('score_mean', float('nan')):>13.1f} {c.get('td_error', float('nan')):>9.4f} "
              f"{c.get('mean_q', float('nan')):>8.3f}")
    print(f"newest checkpoint: {record['rounds'][-1]['checkpoint']}; record {args.workdir}/train.json, "
          f"plot {args.workdir}/train.png")
    return 0


def _train_online(args: argparse.Namespace, profile, log) -> int:
    from hakisa.learn.online import OnlineConfig, train_online

    cfg = OnlineConfig(steps=args.steps, replay_ratio=args.replay_ratio, epsilon=args.epsilon,
                       epsilon_end=args.epsilon_end, human_ratio_end=args.human_ratio_end, sync_every=args.sync_every,
                       temperature=args.temperature, takeover=_takeover(args, profile), chat=args.chat,
                       watch_horizon=_watch(args)["watch_horizon"], dashboard=_dashboard(args, profile, "train"),
                       save_seconds=args.save_seconds, segment_steps=args.segment_steps, pick=args.pick,
                       pick_seconds=args.pick_seconds, headless=args.headless,
                       size=_size(args.size), focus=args.focus, wait=args.wait, seed=args.seed,
                       consolidate=_consolidate_config(args))
    paths = _data_paths(args.data)
    record = train_online(profile, paths, args.from_checkpoint, args.workdir, cfg,
                          progress=not args.quiet, log=log)
    print(f"{'segment':>7} {'h of play':>9} {'updates':>8} {'episodes':>8} {'score':>8} {'reward':>8} {'TD error':>9} "
          f"{'mean Q':>8} {'moved':>6} {'ticks/s':>8} {'upd/s':>6} {'takeovers':>9} {'person':>7}")
    for r in record["segments"]:
        print(f"{r['segment']:>7} {r['hours_play']:>9.3f} {r['updates']:>8} {r['episodes']:>8} "
              f"{r.get('score_mean', float('nan')):>8.1f} {r.get('reward_mean', float('nan')):>8.2f} "
              f"{r.get('td_error', float('nan')):>9.4f} {r.get('mean_q', float('nan')):>8.3f} "
              f"{100 * r.get('moved', float('nan')):>5.1f}% "
              f"{r.get('ticks_per_s', float('nan')):>8.1f} {r.get('updates_per_s', float('nan')):>6.1f} "
              f"{r.get('takeovers', 0):>9} {100 * r.get('person_steps', 0) / max(1, r['steps']):>6.1f}%")
    print(f"newest checkpoint: {args.workdir}/online.pt (one per segment: seg-K.pt); record {args.workdir}/online.json, "
          f"plot {args.workdir}/online.png")
    if "pick" in record:
        print(f"best checkpoint: {record['pick']['best']} ({record['pick']['chosen']}, the best of the pick: "
              f"{record['pick']['measure']} {max(c['mean'] for c in record['pick']['checkpoints']):.1f})")
    return 0


def _headless_fits(args: argparse.Namespace, profile):
    """``profile``, refused before anything is loaded or written where --headless GAME is another bundled game
    (the session checks it again where it builds the game)."""
    if args.headless:
        from hakisa.games import check_profile_for

        check_profile_for(args.headless, profile)
    return profile


def _agent_profile(args: argparse.Namespace, blob: dict):
    """:func:`_profile_for_checkpoint`, refused with --headless GAME where it is another bundled game's."""
    return _headless_fits(args, _profile_for_checkpoint(args, blob))


def _profile_for_checkpoint(args: argparse.Namespace, blob: dict):
    """The profile to play with. A profile says which window hakisa types into and which keys it
    presses, so a copy inside a checkpoint is data, never trust: on a real window the profile is
    --profile (it must match the checkpoint) or the bundled profile of the same name and hash. The
    checkpoint's own copy is used only with --headless, where no OS input is sent at all."""
    from hakisa.learn.checkpoint import CheckpointError
    from hakisa.profile import BUNDLED_PROFILES, load_profile, parse_profile

    if args.profile:
        profile = load_profile(args.profile)
        if not profile.records_like(blob["profile_toml"], blob["profile_sha256"]):
            raise CheckpointError(
                f"{args.checkpoint} was made for profile '{blob['profile_name']}' (sha256 "
                f"{blob['profile_sha256'][:12]}), not for '{profile.name}' from {profile.source} (sha256 "
                f"{profile.sha256[:12]}), and they differ in the game's name, [capture] or [actions]. Use a "
                "checkpoint trained with this profile, or start from scratch.")
        return profile
    bundled = BUNDLED_PROFILES / f"{blob['profile_name']}.toml"
    if bundled.is_file():
        profile = load_profile(bundled)
        if profile.sha256 == blob["profile_sha256"]:
            return profile
    copy = parse_profile(blob["profile_toml"], source=f"{args.checkpoint} (its copy of the profile)")
    if copy.sha256 != blob["profile_sha256"]:
        raise CheckpointError(f"{args.checkpoint}: its copy of the profile does not match the profile hash it "
                              "declares; the checkpoint is damaged or crafted.")
    if args.headless:
        return copy  # the bundled game in memory: nothing reaches the desktop
    raise CheckpointError(
        f"{args.checkpoint} brings its own profile '{copy.name}' (sha256 {copy.sha256[:12]}), which matches "
        f"no profile you have, and hakisa does not let a file it was given choose a window to type into. "
        f"{describe_input(copy)} If that is what you want, save the profile with `hakisa "
        f"play --checkpoint {args.checkpoint} --save-profile {copy.name}.toml`, read it, and run "
        f"again with --profile {copy.name}.toml.")


def describe_input(profile) -> str:
    """One sentence: which windows a profile aims input at and what it may send."""
    keys = ", ".join("+".join(c) for c in profile.actions.keys) or "none"
    reset = profile.reset
    resets = ", ".join(reset.keys) if reset.keys else "no keys"
    if reset.clicks:
        resets += f" and {len(reset.clicks)} click(s)"
    win = profile.window

    def shown(text: str) -> str:  # a crafted pattern must not reach the terminal as control sequences
        return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)

    target = f"title /{shown(win.title)}/" + (f", class /{shown(win.window_class)}/" if win.window_class else "") + (
        f", process {shown(repr(win.process))}" if win.process else "")
    return (f"It would send input to the window matching {target}: keys {keys}; mouse {profile.actions.mouse}; "
            f"after game over it taps {resets}.")


def _save_profile(args: argparse.Namespace, blob: dict) -> int:
    """--save-profile: write the checkpoint's copy of its profile, byte for byte, for the user to read."""
    from hakisa.resources import check_writable

    out = Path(args.save_profile)
    if out.exists() and not args.force:
        raise HakisaError(f"--save-profile {out} exists; choose another name or add --force.")
    check_writable(out, "--save-profile", need_bytes=len(blob["profile_toml"].encode()) + 4096,
                   what="saving the profile")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(blob["profile_toml"].encode())
    os.replace(tmp, out)
    print(f"wrote {out}: the profile '{blob['profile_name']}' stored in {args.checkpoint} (sha256 "
          f"{blob['profile_sha256'][:12]}). Read it, above all [window], [actions] and [reset], then run with "
          f"--profile {out}.")
    return 0


def _run_agent(args: argparse.Namespace, command: str) -> int:
    """play and explore: the agent loop on the profile's window (or a bundled game in memory)."""
    from hakisa.learn.checkpoint import load_checkpoint
    from hakisa.act.loop import Schedule
    from hakisa.act.session import SessionSpec, episode_line, run_agent, summary

    if args.save_profile:
        return _save_profile(args, load_checkpoint(args.checkpoint))
    crowd = _scripted_crowd(args)  # refused without --headless before anything else is looked at
    if args.chat:
        from hakisa.crowd.irc import parse_address

        parse_address(args.chat)  # and a bad chat address
    out = args.out if command == "explore" else args.record
    if out:  # before the checkpoint is read or a window is looked for
        from hakisa.data.dataset import check_output_path
        from hakisa.resources import check_writable

        check_output_path(out, args.force)
        check_writable(out, "--out" if command == "explore" else "--record", need_bytes=RECORD_MIN_FREE,
                       what="recording the agent's play")
    blob = load_checkpoint(args.checkpoint)
    profile = _agent_profile(args, blob)
    if not args.headless:
        from hakisa.live import require_display

        require_display(command)  # before saying what it would drive: a refusal stays one line
        print(f"{command}: profile '{profile.name}' from {profile.source}. {describe_input(profile)}",
              file=sys.stderr, flush=True)
    if command == "explore":
        if args.steps is None and args.minutes is None:
            raise HakisaError("say how long to explore: --steps N or --minutes M.")
        schedule = Schedule(args.epsilon, args.epsilon_end if args.epsilon_end is not None else args.epsilon,
                            args.decay_steps or args.steps or int((args.minutes or 1) * 60 * profile.capture.tick_hz),
                            args.temperature)
    else:
        schedule = Schedule(args.epsilon, args.epsilon, temperature=args.temperature)
    spec = SessionSpec(command, schedule, out=out, force=args.force, headless=args.headless,
                       size=_size(args.size), seed=args.seed, focus=args.focus, wait=args.wait,
                       tick_hz=None if args.no_tick_limit else -1, max_steps=getattr(args, "steps", None),
                       max_episodes=args.episodes,
                       max_seconds=(args.minutes * 60 if getattr(args, "minutes", None)
                                    else getattr(args, "seconds", None)),  # explore has no --seconds
                       checkpoint_name=str(args.checkpoint), takeover=_takeover(args, profile), chat=args.chat,
                       dashboard=_dashboard(args, profile, command), crowd=crowd, **_watch(args))
    stats = run_agent(profile, blob, spec, on_episode=lambda r: print(episode_line(r), flush=True),
                      announce=lambda m: print(m, file=sys.stderr, flush=True))
    print(summary(stats, out))
    return 0


def _takeover_flags(a: argparse.ArgumentParser, with_budget: bool = True) -> None:
    a.add_argument("--no-takeover", action="store_true",
                   help="on a window, pressing one of the game's keys or buttons while the agent plays normally "
                        "takes control from it (recorded as human play, a correction); this turns that off")
    a.add_argument("--takeover-idle", type=float, default=2.0,
                   help="seconds without your input before the agent has control again (default 2)")
    a.add_argument("--takeover-penalty", type=float, default=1.0,
                   help="reward taken off the agent's step when you take over (default 1; 0 = none)")
    a.add_argument("--hand-back", default=None, metavar="KEY",
                   help="a key (not one of the game's) that gives control back to the agent at once")
    a.add_argument("--watcher", action="store_true",
                   help="with --headless: the game's scripted demonstrator watches and takes over for --takeover-idle "
                        "seconds whenever the agent is about to lose a life (benchmarks of corrections)")
    a.add_argument("--watcher-horizon", type=float, default=None, metavar="SECONDS",
                   help="with --watcher: how far ahead it looks for a lost life, holding the agent's input (default "
                        "1; a longer look takes over earlier, while there is still time to save the life)")
    if with_budget:
        a.add_argument("--watcher-minutes", type=float, default=None, metavar="MINUTES",
                       help="with --watcher: at most this many minutes of its control in all (the human time a "
                            "benchmark of corrections compares with as much more demonstration); default: no limit")


def _dashboard(args: argparse.Namespace, profile, command: str):
    """The live dashboard, served now (None without --dashboard)."""
    if not args.dashboard:
        return None
    from hakisa.web.dashboard import Dashboard, serve_dashboard

    dash = Dashboard(None, profile.name, command)
    serve_dashboard(dash, args.dashboard_host, args.dashboard_port,
                    announce=lambda m: print(m, file=sys.stderr, flush=True))
    return dash


def _scripted_crowd(args: argparse.Namespace):
    if not getattr(args, "scripted_crowd", None):
        return None
    from hakisa.games.crowd import CrowdSpec

    if not args.headless:
        raise HakisaError("--scripted-crowd watches a bundled game in memory: use it with --headless GAME")
    return CrowdSpec(viewers=args.scripted_crowd, stream_delay=args.crowd_delay, noise=args.crowd_noise)


def _crowd_flags(a: argparse.ArgumentParser) -> None:
    a.add_argument("--scripted-crowd", type=int, default=None, metavar="VIEWERS",
                   help="with --headless: this many scripted viewers vote in chat from the game's true state (good "
                        "when the score rises, bad when a life is lost), through the same limits and crediting as a "
                        "real chat ([feedback.chat]); for benchmarks of learning from a crowd")
    a.add_argument("--crowd-delay", type=float, default=2.0, help="the scripted stream's delay in seconds (default 2)")
    a.add_argument("--crowd-noise", type=float, default=0.1,
                   help="chance a scripted viewer votes the wrong way (default 0.1)")


def _audience_flags(a: argparse.ArgumentParser) -> None:
    """--dashboard and --chat: what people watching see, and how a stream's chat rewards the agent."""
    a.add_argument("--dashboard", action="store_true",
                   help="serve a live dashboard (the agent's view, its action and Q values, who is in control, "
                        "rewards by source with the latest votes, scores, the learning curve) for people watching; "
                        "a streamer can add the page to the broadcast as a browser source")
    a.add_argument("--dashboard-host", default="127.0.0.1",
                   help="address the dashboard listens on (default 127.0.0.1: this machine only)")
    a.add_argument("--dashboard-port", type=int, default=8766, help="its port (default 8766; 0 picks a free one)")
    a.add_argument("--chat", default=None, metavar="URL",
                   help="let a stream's chat vote: irc://HOST[:PORT]/#CHANNEL or ircs://... (Twitch: "
                        "ircs://irc.chat.twitch.tv/#yourchannel); the phrases, the stream's delay and each person's "
                        "limits are in the profile's [feedback.chat]. A login token, if the server needs one, goes in "
                        "the environment variable HAKISA_CHAT_TOKEN, never on the command line; without it the chat "
                        "is read anonymously")


def _takeover(args: argparse.Namespace, profile):
    """The person-takes-over settings of a session (None: off). Headless, only with --watcher: the scripted
    demonstrator is the person."""
    if args.watcher and not args.headless:
        raise HakisaError("--watcher is the scripted demonstrator of a bundled game in memory: use it with --headless "
                          "GAME (on a window, you are the watcher: press a game key to take over)")
    if not args.watcher and (args.watcher_horizon is not None or getattr(args, "watcher_minutes", None) is not None):
        raise HakisaError("--watcher-horizon and --watcher-minutes set the scripted watcher: add --watcher")
    if args.no_takeover or (args.headless and not args.watcher):
        return None
    from hakisa.act.takeover import TakeoverSpec
    from hakisa.keys import normalize_key

    back = None
    if args.hand_back:
        back = normalize_key(args.hand_back)
        if back is None:
            raise HakisaError(f"--hand-back {args.hand_back!r} is not a key name (e.g. f9, home, pause)")
        taken = set(profile.actions.key_set) | {profile.safety.kill_switch, profile.feedback.good,
                                                profile.feedback.bad}
        if back in taken:
            raise HakisaError(f"--hand-back {back}: the profile already uses that key (a game key, the kill switch "
                              "or a feedback key); choose another")
    return TakeoverSpec(idle=args.takeover_idle, penalty=args.takeover_penalty, hand_back=back)


def _watch(args: argparse.Namespace) -> dict:
    """The scripted watcher's horizon and budget (seconds) as session settings."""
    minutes = getattr(args, "watcher_minutes", None)
    return {"watch_horizon": 1.0 if args.watcher_horizon is None else args.watcher_horizon,
            "watch_budget": None if minutes is None else 60.0 * minutes}


def _size(text: str) -> tuple[int, int]:
    from hakisa.limits import parse_size

    return parse_size(text)


def cmd_play(args: argparse.Namespace) -> int:
    return _run_agent(args, "play")


def cmd_explore(args: argparse.Namespace) -> int:
    return _run_agent(args, "explore")


def cmd_trial(args: argparse.Namespace) -> int:
    """Play each way of playing the checkpoint for a few episodes; keep the best in the checkpoint."""
    from hakisa.act.loop import Schedule
    from hakisa.act.session import SessionSpec, episode_line
    from hakisa.act.trial import choose, run_trial, table, trial_state
    from hakisa.learn.checkpoint import load_checkpoint, write_state

    out = args.out or args.checkpoint
    if args.out:
        from hakisa.data.dataset import check_output_path

        check_output_path(args.out, args.force)
    blob = load_checkpoint(args.checkpoint)
    profile = _agent_profile(args, blob)
    if not args.headless:
        from hakisa.live import require_display

        require_display("trial")
        print(f"trial: profile '{profile.name}' from {profile.source}. {describe_input(profile)}", file=sys.stderr,
              flush=True)
    spec = SessionSpec("play", Schedule(temperature=None), headless=args.headless, size=_size(args.size),
                       seed=args.seed, focus=args.focus, wait=args.wait, tick_hz=None if args.no_tick_limit else -1,
                       max_seconds=args.seconds, checkpoint_name=str(args.checkpoint))
    results, measure = run_trial(profile, blob, spec, args.episodes,
                                 announce=lambda m: print(m, file=sys.stderr, flush=True),
                                 on_episode=(lambda r: print("  " + episode_line(r), flush=True)) if args.verbose
                                 else None)
    chosen = choose(results)
    print(table(results, chosen, measure))
    write_state(args.checkpoint, out, trial_state(blob["state"], results, chosen, measure))
    print(f"trial: {out} now plays {chosen.way.label} (`hakisa play` and `explore` use it; --temperature "
          "still overrides)")
    return 0


def _grab_window(profile, wait: float, seconds: float = 0.0, what: str = "regions") -> tuple[list, list]:
    """RGB frames of the live game window, and their times: one frame, or as many as the profile's tick rate gives
    in ``seconds``."""
    from hakisa.live import require_display

    require_display(what)
    from hakisa.live.capture import ScreenGrabber
    from hakisa.live.sources import find_game

    _, area = find_game(profile, wait)
    grabber = ScreenGrabber()
    frames, times = [], []
    period = 1.0 / profile.capture.tick_hz
    t0 = time.monotonic()
    try:
        while not frames or time.monotonic() - t0 < seconds:
            frames.append(grabber.grab(area)[:, :, 2::-1].copy())  # BGRA -> RGB
            times.append(time.monotonic())
            if seconds:
                time.sleep(max(0.0, t0 + len(frames) * period - time.monotonic()))
    finally:
        grabber.close()
    return frames, times


def _regions_over_recording(profile, args: argparse.Namespace) -> int:
    """`hakisa regions --data REC.h5`: which extractors and rules read nothing useful over a recording (from the
    readings it stored), with example frames drawn into --out."""
    from hakisa.screen.regions import diagnose_rows, example_sheet, recording_rows, save_image

    if args.watch is not None or args.screenshot:
        raise HakisaError("--data reads a recording; give it, --watch or --screenshot, not several.")
    rows, where, at, notes = recording_rows(args.data, profile)
    if not rows:
        raise HakisaError(f"{args.data} holds no recorded frames to diagnose.")
    shown: list[tuple[str, int]] = []
    report, warnings = diagnose_rows(profile, rows, where, shown)
    print(f"{args.data}: the readings stored with {len(rows)} recorded frames")
    print(report)
    for note in notes:
        print(f"note: {note}")
    for w in warnings:
        print(f"warning: {w}")
    if not warnings:
        print("every extractor changed and no rule held on most frames")
    if args.out and shown:
        save_image(args.out, example_sheet(args.data, [(what, at[i]) for what, i in shown]))
        print(f"wrote {args.out} (example frames of each warning)")
    return 1 if warnings else 0


def cmd_regions(args: argparse.Namespace) -> int:
    from hakisa.profile import load_profile
    import math

    import numpy as np

    from hakisa.screen.regions import (annotate, describe, diagnose, glyphs_toml, learn_glyphs, load_screenshot,
                                       read_with, region_fraction, save_image, show_glyphs)

    from hakisa.resources import check_writable

    profile = load_profile(args.profile)
    for flag, path in (("--out", args.out), ("--save", args.save)):
        if path is not None:  # checked before the screenshot is taken
            if Path(path).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
                raise HakisaError(f"{flag} {path!r}: give an image file name ending in .png (or .jpg, .bmp).")
            if Path(path).exists() and Path(path).is_dir():
                raise HakisaError(f"{flag} {path!r} is a folder; give an image file name inside it.")
            check_writable(path, flag)
    if args.watch is not None and args.screenshot:
        raise HakisaError("--watch reads the live window; give it or --screenshot, not both.")
    if args.data is not None:
        return _regions_over_recording(profile, args)
    shots = [load_screenshot(p) for p in args.screenshot or []]
    if args.watch is not None:
        frames, times = _grab_window(profile, args.wait, args.watch, "regions --watch")
        print(f"watched the window for {args.watch:g} s: {len(frames)} frames")
        report, warnings = diagnose(profile, frames, times)
        print(report)
        for w in warnings:
            print(f"warning: {w}")
        if not warnings:
            print("every extractor changed and no rule held on most frames")
        if args.out:
            save_image(args.out, annotate(profile, frames[-1]))
            print(f"wrote {args.out} (the last frame, regions drawn)")
        return 1 if warnings else 0
    if shots:
        shot = shots[0]
        if len(shots) > 1:  # several screenshots: what every rule reads over them
            report, warnings = diagnose(profile, shots)
            print(report + "".join(f"\nwarning: {w}" for w in warnings) + "\n")
    else:
        shot = _grab_window(profile, args.wait)[0][0]
        if args.save:
            save_image(args.save, shot)
            print(f"saved the screenshot to {args.save}")
    extra = {}
    for spec in args.add or []:
        name, _, box = spec.partition("=")
        try:
            x, y, w, h = (int(v) for v in box.split(","))
        except ValueError:
            raise HakisaError(f"--add {spec!r}: write NAME=x,y,width,height in screenshot pixels.") from None
        frac = region_fraction((x, y, w, h), (shot.shape[1], shot.shape[0]))
        extra[name] = frac
        print(f"[rules.regions]\n{name} = [{', '.join(f'{v:g}' for v in frac)}]")
    print(describe(profile, shot))
    learnt: dict[str, dict[str, str]] = {}  # extractor -> glyphs, merged over every --learn
    taught: list[tuple[str, str, np.ndarray, str]] = []
    for spec in args.learn or []:
        name, _, rest = spec.partition("=")
        value, _, other = rest.partition("@")
        img = load_screenshot(other) if other else shot
        ex = profile.rules.extractors.get(name)
        start = learnt.get(name, dict(ex.glyphs) if ex is not None else {})
        learnt[name] = learn_glyphs(profile, img, name, value, start)
        taught.append((name, value, img, other or "the screenshot"))
    for name, glyphs in learnt.items():
        print(f"\n# {name}: {len(glyphs)} glyphs ({''.join(glyphs)}), as learnt (check each looks like its digit):")
        print(show_glyphs(glyphs))
        for ex_name, value, img, where in taught:
            if ex_name == name:
                got = read_with(profile, img, name, glyphs)
                ok = "ok" if got == float(value) else "MISREAD: check the region, colour and tolerance"
                print(f"#   {where} shows {value}: reads {'unreadable' if math.isnan(got) else f'{got:g}'} ({ok})")
        print(f"# paste into {profile.source} (replacing an older glyphs table):")
        print(glyphs_toml(name, glyphs))
    if args.out:
        save_image(args.out, annotate(profile, shot, extra))
        print(f"wrote {args.out}")
    return 0


def cmd_windows(args: argparse.Namespace) -> int:
    """`hakisa windows`: the titles to put in a profile's [window], and which window a profile picks."""
    from hakisa.live import require_display
    from hakisa.live.x11 import matches, visible_windows

    require_display("windows")
    profile = None
    if args.profile:
        from hakisa.profile import load_profile

        profile = load_profile(args.profile)
    rows = visible_windows()
    if not rows:
        print(f"no window with a title is open on display {os.environ.get('DISPLAY', '?')}: start the game first")
        return 1
    print(f"{'window':<11} {'size':>10}  {'process':<12} {'class':<20} title")
    picked = 0
    for w, width, height, proc in rows:
        hit = profile is not None and matches(w, profile.window)
        picked += hit
        print(f"{hex(w.wid):<11} {f'{width}x{height}':>10}  {proc[:12]:<12} {w.wm_class[:20]:<20} {w.title!r}"
              + (f"   <- [window] of {profile.name}" if hit else ""))
    if profile is not None and not picked:
        print(f"no window matches {profile.name}'s [window] title /{profile.window.title}/: put one of the titles "
              "above in it, e.g. title = \"^my game$\"")
        return 1
    if profile is None:
        print('\nin a profile: [window] title = "^the title$" (a regular expression on the title)')
    return 0


def cmd_studio(args: argparse.Namespace) -> int:
    from hakisa.live import require_display
    from hakisa.profile import load_profile
    from hakisa.resources import check_writable
    from hakisa.screen.regions import load_screenshot
    from hakisa.web.studio import Studio, serve

    profile = load_profile(args.profile)
    if args.window_title or args.name:  # a copied profile made this game's: no text editor needed for these
        from hakisa.profile import parse_profile
        from hakisa.web.draft import with_field

        text = profile.text
        if args.name:
            text = with_field(text, "game", "name", args.name)
        if args.window_title:
            exact = "^" + re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", args.window_title) + "$"
            text = with_field(text, "window", "title", exact, "this window's title, exactly (hakisa windows lists them)")
        profile = parse_profile(text, f"{profile.source} with the studio's --name/--window-title", profile.base_dir)
    out = Path(args.out or f"{profile.name}.toml")
    check_writable(out, "--out")
    shots = [load_screenshot(p) for p in args.screenshot or []]
    grab = None
    if not shots or args.window:
        require_display("studio")
        _grab_window(profile, args.wait)  # the window must be there now, with a clear error if not

        def grab():
            return _grab_window(profile, 1.0, what="studio")[0][0]
    studio = Studio(profile, out, shots, [Path(p).name for p in args.screenshot or []], grab)
    server = serve(studio, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"hakisa studio for {profile.name}: open http://{host}:{port}/ in a browser "
          f"({'the live window' if grab else f'{len(shots)} screenshot(s)'}; saves to {out}). Ctrl+C stops it.",
          flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {args.host} lets other machines reach the studio and see your screen.",
              file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _gpu_flags(parser: argparse.ArgumentParser) -> None:
    """--batches and --amp, for the commands that train (study, consolidate, train)."""
    parser.add_argument("--batches", choices=("auto", "host", "device"), default="auto",
                        help="where frame stacks, random shifts and batches are built: on the learning device (the "
                             "frames kept there; auto does this on a GPU when they fit in half its free memory) or by "
                             "the host's CPU threads (default auto)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: the network's forward passes in bfloat16, losses and optimizer in "
                             "float32 (for GPUs; not measured on learning yet, so off by default)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hakisa", description="Teach an agent to play any windowed PC game from its screen.",
        epilog="Phases: record (a human plays) -> study -> explore -> consolidate -> play. "
               "Run `hakisa COMMAND --help` for each command.")
    p.add_argument("--version", action="version", version=f"hakisa {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("record", help="record a human playing: screen + keyboard + mouse into HDF5",
                       description="Capture the game window at the profile's tick rate and log every key and "
                                   "mouse event while a person plays. Stop with Ctrl+C or the profile's kill-switch "
                                   "key; episodes split at game over. Keys typed into other windows are never logged.")
    r.add_argument("--profile", required=True, help="game profile (TOML), e.g. profiles/dodge.toml")
    r.add_argument("--out", required=True, help="dataset file to create, e.g. datasets/session1.h5")
    r.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    r.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: until stopped)")
    r.add_argument("--hz", type=float, default=None, help="override the profile's tick rate (1-60 Hz)")
    r.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the game window (default 3)")
    r.set_defaults(func=cmd_record)

    s = sub.add_parser("study", help="pretrain the Q-network on recorded human play (behaviour cloning, DQfD-style)",
                       description="Supervised pretraining that keeps Q values meaningful: the cross-entropy of the "
                                   "policy softmax(Q / T) on the human's actions (or DQfD's large-margin loss) plus "
                                   "n-step TD on the recorded rewards with a lagging target network (and, with "
                                   "--calibrate, offsets that make the greedy clone act as often as the human). Held-out "
                                   "episodes report per-head accuracy and a verdict; metrics go to OUT.metrics.jsonl "
                                   "and OUT.png. No display needed.")
    s.add_argument("--profile", required=True, help="the game profile the data was recorded with")
    s.add_argument("--data", required=True, nargs="+", help="dataset files or globs, e.g. 'datasets/*.h5'")
    s.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/dodge-study.pt")
    s.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    s.add_argument("--resume", action="store_true", help="continue training the checkpoint at --out")
    s.add_argument("--steps", type=int, default=12000, help="gradient updates (default 12000: about 10 minutes on 2 "
                                                             "CPU cores at 84x84)")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    s.add_argument("--imitation", choices=["nll", "margin"], default="nll",
                   help="margin: the human's action must score a margin above the others (DQfD); nll: the Q "
                        "values, as softmax(Q / --temperature), must give the human's actions their observed "
                        "likelihood, so play drawn at that temperature acts as often as the human did "
                        "(default nll)")
    s.add_argument("--margin", type=float, default=0.8, help="large-margin size in reward units (default 0.8)")
    s.add_argument("--temperature", type=float, default=0.1,
                   help="temperature of the policy softmax(Q / T) that --imitation nll fits, in reward units "
                        "(default 0.1)")
    s.add_argument("--n-step", type=int, default=10, help="n of the n-step TD term (default 10)")
    s.add_argument("--td-weight", type=float, default=1.0, help="weight of the TD term (default 1)")
    s.add_argument("--stack", type=int, default=4, help="frames per network input (default 4)")
    s.add_argument("--motion", action="store_true",
                   help="also give the network the differences of consecutive frames, so what moves stands out "
                        "from a textured background (default off)")
    s.add_argument("--norm", choices=["layer", "none"], default="layer",
                   help="layer: LayerNorm before every ReLU, which keeps units from dying; none: a plain network "
                        "(default layer)")
    s.add_argument("--warmup", type=int, default=500,
                   help="updates of linear learning-rate warm-up, at most a tenth of --steps (default 500)")
    s.add_argument("--keyframe", type=float, default=4.0,
                   help="extra loss weight on keyframes, the ticks that say why to act (default 4; 0 = off)")
    s.add_argument("--keyframe-by", choices=["change", "surprise"], default="change",
                   help="change: ticks where the human's action changed; surprise: 1 - P(action | previous "
                        "action), how poorly the action history alone predicts it (default change)")
    s.add_argument("--select", choices=["joint", "heads"], default="joint",
                   help="greedy action: joint = the best joint value of the three heads (no-op weighed against "
                        "the best chord); heads = command head first, then the others (default joint)")
    s.add_argument("--calibrate", choices=["raise", "match", "off"], default="off",
                   help="after training, fit one offset per action (no-op, each key chord, each pointer command) on "
                        "held-out ticks so the greedy clone acts as often as the human did, and keep them in the "
                        "checkpoint for play and explore. raise: only actions the clone chooses less often than "
                        "the human are raised; match: also lower those it over-chooses (default off: on the suite it "
                        "helped one game and hurt another; README, 'Calibration')")
    s.add_argument("--prior", type=float, default=0.0, metavar="SHARE",
                   help="take back this share (0-1) of the balance and keyframe weights' pull on how often each "
                        "action is chosen, so the clone keeps what the weights taught about where to act but acts "
                        "at rates nearer the human's (logit adjustment; default 0, as trained)")
    s.add_argument("--augment", type=int, default=4, help="random shift augmentation in pixels; 0 = off (default 4)")
    s.add_argument("--photometric", type=float, default=0.0, metavar="SHARE",
                   help="share of training samples given a random contrast, brightness and inversion, for games "
                        "whose palette changes between levels (default 0)")
    s.add_argument("--balance", type=float, default=0.5,
                   help="exponent of inverse-frequency weights on command_type; 0 turns balancing off (default 0.5)")
    s.add_argument("--balance-by", choices=["command", "action"], default="command",
                   help="what --balance counts: command = command_type; action = every key chord on its own, so "
                        "a rare key (a launch, a jump) is not drowned out by common ones (default command)")
    s.add_argument("--boost-noop", action="store_true",
                   help="let balancing weigh no-op above the other commands (off: no-op, often a dominated action, "
                        "never weighs more than the lightest other command)")
    s.add_argument("--forget-before-loss", type=float, default=2.0, metavar="SECONDS",
                   help="do not imitate the human's actions in the SECONDS before each loss (a life lost): "
                        "blunders are what not to copy; they still train the TD term (default 2; 0 = off)")
    s.add_argument("--loss-reward", type=float, default=-0.5,
                   help="a step whose reward is at or below this counts as a loss (default -0.5)")
    s.add_argument("--holdout", type=float, default=0.15,
                   help="share of the steps held out to measure the clone on (default 0.15)")
    s.add_argument("--holdout-by", choices=("episode", "tail"), default="episode",
                   help="hold out whole episodes (default), or the last --holdout share of every episode (when a "
                        "few long episodes would make the held-out part much larger than asked, or are all "
                        "different levels)")
    s.add_argument("--eval-every", type=int, default=500, help="held-out evaluation + checkpoint interval")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    s.add_argument("--device", default="auto",
                   help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N (default auto)")
    _gpu_flags(s)
    s.add_argument("--compile", action="store_true",
                   help="torch.compile the update (fused kernels, fewer launches: for GPUs, where small batches are "
                        "bound by kernel launches; the first updates wait for the compiler)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_study)

    i = sub.add_parser("inspect", help="validate datasets and summarise them",
                       description="Check each dataset file and print episodes, steps, rate, missed ticks, action "
                                   "histograms and rewards. Exits 1 if any file is broken.")
    i.add_argument("files", nargs="+", help="dataset files (.h5)")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")
    i.set_defaults(func=cmd_inspect)

    rl = sub.add_parser(
        "relabel", help="preview what the profile's current rules make of data recorded under other rules",
        description="The reward, done and pause rules may change after recording: study, consolidate and train "
                    "work each step's reward and each episode's end out again from the extractor readings the "
                    "dataset stores. This shows, per file, what that changes (episodes, play steps, game overs, "
                    "reward) without training or writing anything. The game's name, [capture] and [actions] "
                    "must be as they were recorded, and so must every extractor the rules read (same region, "
                    "kind and colours); exits 1 when a file cannot be read under the profile.")
    rl.add_argument("files", nargs="+", help="dataset files (.h5)")
    rl.add_argument("--profile", required=True, help="the profile with the current rules (path or bundled name)")
    rl.add_argument("--json", action="store_true", help="print JSON instead of text")
    rl.set_defaults(func=cmd_relabel)

    rp = sub.add_parser("replay", help="render a dataset into a video with the actions drawn on it",
                        description="Write an .mp4 or .gif of the recorded frames with held keys, the next action, "
                                    "the pointer and rewards drawn on each frame.")
    rp.add_argument("file", help="dataset file (.h5)")
    rp.add_argument("--out", required=True, help="clip to write (.mp4 or .gif)")
    rp.add_argument("--episode", default=None, help="only this episode (e.g. ep_000001)")
    rp.add_argument("--max-steps", type=int, default=None, help="stop after this many frames")
    rp.add_argument("--width", type=int, default=512, help="video width in pixels (default 512)")
    rp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    rp.set_defaults(func=cmd_replay)

    for name in ("play", "explore"):
        desc = {"play": "the agent plays (evaluation: as its checkpoint says, drawing from the studied policy or "
                        "greedily; --temperature chooses) and prints a score table per episode; optionally recorded",
                "explore": "the agent plays with some randomness and records its play as new data "
                           "(who chose each action, its Q value, the screen's and watchers' rewards)"}[name]
        a = sub.add_parser(name, help=desc.split(";")[0].split(" and records")[0], description=desc + ". Input goes "
                           "only to the game window (paused while it lacks focus); the profile's kill switch "
                           "stops at once and every held key is released on any exit.")
        a.add_argument("--checkpoint", required=True, help="checkpoint from study / consolidate")
        a.add_argument("--profile", default=None,
                       help="profile file; it must be the one the checkpoint was trained with (default: the bundled "
                            "profile of the checkpoint's game; a checkpoint's own copy is used only with --headless)")
        a.add_argument("--save-profile", default=None, metavar="FILE",
                       help="write the checkpoint's copy of its profile to FILE, to read before using it with "
                            "--profile, and exit")
        if name == "explore":
            a.add_argument("--out", required=True, help="dataset file to create, e.g. datasets/explore1.h5")
            a.add_argument("--steps", type=int, default=None, help="stop after this many actions")
            a.add_argument("--minutes", type=float, default=None, help="stop after this many minutes")
            a.add_argument("--epsilon", type=float, default=0.3, help="starting chance of a random choice per head (default 0.3)")
            a.add_argument("--epsilon-end", type=float, default=0.05, help="final epsilon (default 0.05)")
            a.add_argument("--decay-steps", type=int, default=None,
                           help="actions over which epsilon falls linearly (default: the whole run)")
            a.add_argument("--temperature", type=float, default=0.0,
                           help="Boltzmann sampling at this temperature instead of epsilon-greedy (0 = off)")
        else:
            a.add_argument("--record", default=None, help="also record the agent's play into this dataset")
            a.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
            a.add_argument("--epsilon", type=float, default=0.0, help="chance of a random choice per head (default 0)")
            a.add_argument("--temperature", type=float, default=None,
                           help="draw each action from softmax(Q / T) instead of taking the best one (0 = "
                                "greedy). Default: the checkpoint's own, 0.1 for a clone from `study` (the policy "
                                "its cross-entropy fits, which played every bundled game at least as well as "
                                "greedy), greedy for consolidated ones (README, \"Greedy or drawn\")")
        a.add_argument("--episodes", type=int, default=None, help="stop after this many episodes")
        a.add_argument("--headless", default=None, metavar="GAME", choices=BUNDLED_GAMES,
                       help="play a bundled game in memory instead of the window (no display; game time)")
        a.add_argument("--size", default="640x360", help="headless game size (default 640x360)")
        a.add_argument("--force", action="store_true", help="overwrite the output dataset if it exists")
        a.add_argument("--focus", action="store_true", help="give the game window keyboard focus first")
        a.add_argument("--no-tick-limit", action="store_true",
                       help="act as fast as possible instead of at the profile's tick rate (benchmarks)")
        a.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the game window (default 3)")
        a.add_argument("--seed", type=int, default=0)
        _takeover_flags(a)
        _audience_flags(a)
        _crowd_flags(a)
        a.set_defaults(func=cmd_play if name == "play" else cmd_explore)

    tr = sub.add_parser(
        "trial", help="try the ways a studied clone can be played on the game and keep the best in the checkpoint",
        description="Plays a few episodes of the game in each way the checkpoint can be played (drawn from the "
                    "policy study fitted or greedily; as studied, or at the human's own action rates: study "
                    "--prior 1), scores each by the profile's score rule (the episodes' reward when it has "
                    "none), and writes the best way into the checkpoint, where play, explore and train use it. "
                    "Which way plays best depends on the game (README, \"12,000 updates and a short trial of how "
                    "to play\"). On a window, input goes only to the game window and the kill switch stops at "
                    "once, as in play.")
    tr.add_argument("--checkpoint", required=True, help="checkpoint from study")
    tr.add_argument("--out", default=None, help="write the result here instead of updating --checkpoint in place "
                                                "(the trial's record keeps what it played before either way)")
    tr.add_argument("--profile", default=None, help="profile file, as for play (default: the bundled profile of the "
                                                    "checkpoint's game)")
    tr.add_argument("--episodes", type=int, default=10, help="episodes per way (default 10)")
    tr.add_argument("--seconds", type=float, default=300.0,
                    help="at most this many seconds of play per way (default 300: at most 20 minutes for the four "
                         "ways of a studied clone); the episode it cuts counts with its score so far when that is "
                         "above the way's whole episodes (a score only grows), never with a summed reward (it can "
                         "fall), and always when it is the way's only one")
    tr.add_argument("--headless", default=None, metavar="GAME", choices=BUNDLED_GAMES,
                    help="play a bundled game in memory instead of the window (no display; game time)")
    tr.add_argument("--size", default="640x360", help="headless game size (default 640x360)")
    tr.add_argument("--focus", action="store_true", help="give the game window keyboard focus first")
    tr.add_argument("--no-tick-limit", action="store_true", help="act as fast as possible (headless benchmarks)")
    tr.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the game window (default 3)")
    tr.add_argument("--seed", type=int, default=0, help="game seed of the headless game (every way plays the same "
                                                        "episodes)")
    tr.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    tr.add_argument("--verbose", action="store_true", help="print a line per episode")
    tr.set_defaults(func=cmd_trial)

    def consolidate_flags(c: argparse.ArgumentParser, updates: int, margin_weight: float | None = 0.1,
                          tau: float | None = 0.0) -> None:
        """The learner's flags; ``None`` defaults are set per mode (`train`: online or --rounds)."""
        c.add_argument("--updates", type=int, default=updates,
                       help=f"gradient updates (default {updates}" + (" per round; online: --replay-ratio x --steps)"
                                                                      if margin_weight is None else ")"))
        c.add_argument("--batch-size", type=int, default=64)
        c.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
        c.add_argument("--gamma", type=float, default=0.99, help="discount (default 0.99)")
        c.add_argument("--n-step", type=int, default=10, help="n of the n-step returns (default 10)")
        c.add_argument("--target-every", type=int, default=1000,
                       help="copy the online network into the target every N updates (default 1000)")
        c.add_argument("--tau", type=float, default=tau,
                       help="Polyak averaging of the target instead (e.g. 0.005)" if tau is not None else
                       "Polyak averaging of the target (default 0.005 online; with --rounds 0 = hard copies)")
        c.add_argument("--no-double", action="store_true", help="plain DQN targets instead of double DQN")
        c.add_argument("--reward-scale", type=float, default=1.0, help="multiply rewards by this (default 1)")
        c.add_argument("--reward-clip", type=float, default=0.0, help="clip rewards to +-this after scaling (0 = off)")
        c.add_argument("--margin", type=float, default=0.8, help="large-margin size on human steps (default 0.8)")
        c.add_argument("--margin-weight", type=float, default=margin_weight,
                       help="weight of the margin loss on human steps (default "
                       + ("0.1" if margin_weight is not None else "1 online as in DQfD, 0.1 with --rounds")
                       + "; higher = stay closer to the human)")
        c.add_argument("--imitation", choices=("margin", "nll"),
                       default="margin" if margin_weight is not None else None,
                       help="the loss on human steps: margin (DQfD's large margin) or nll (study's cross-entropy of "
                            "softmax(Q / --imitation-temperature)); default "
                            + ("margin" if margin_weight is not None else "nll online, margin with --rounds"))
        c.add_argument("--imitation-temperature", type=float, default=None,
                       help="temperature of that softmax (default: the one the --from checkpoint was studied at, "
                            "study's --temperature, 0.1 unless set)")
        c.add_argument("--imitation-weights", choices=("uniform", "study"), default="uniform",
                       help="how the human steps' imitation is weighed: uniform (every step alike, the default) or "
                            "study (as the --from clone's study weighed them: rare actions and the ticks where the "
                            "action changed count more, so the odds that clone was chosen to play with stay put)")
        c.add_argument("--human-ratio", type=float, default=0.25,
                       help="share of each batch drawn from human steps (default 0.25)")
        c.add_argument("--self-imitation", type=float, default=0.0, metavar="WEIGHT",
                       help="also imitate the agent's own steps after which no loss came within --loss-horizon "
                            "seconds, with this weight (filtered self-imitation; 0 = off, the default)")
        c.add_argument("--forget-before-loss", action="store_true",
                       help="do not imitate the human's steps in the --loss-horizon seconds before a loss (as study)")
        c.add_argument("--loss-horizon", type=float, default=2.0, metavar="SECONDS",
                       help="seconds after a step that must pass without a loss for --self-imitation (or "
                            "--forget-before-loss) to imitate it (default 2, as study's --forget-before-loss)")
        c.add_argument("--loss-reward", type=float, default=-0.5,
                       help="a step whose reward is at or below this is a loss, e.g. a life lost (default -0.5)")
        c.add_argument("--cql", type=float, default=0.0, help="conservative Q-learning penalty weight (0 = off)")
        c.add_argument("--anchor", type=float, default=0.0, metavar="WEIGHT",
                       help="keep the policy softmax(Q / --imitation-temperature) near the one it starts from "
                            "(--from; with train --rounds, each round's start): KL(that policy || the learner's) on "
                            "every sample, with this weight (VPT's KL penalty; 0 = off, the default)")
        c.add_argument("--augment", type=int, default=4, help="random shift augmentation in pixels (default 4)")
        c.add_argument("--eval-every", type=int, default=500, help="offline metrics + checkpoint interval")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
        c.add_argument("--device", default="auto",
                       help="where the learner runs: auto (a CUDA GPU when there is one, else the CPU), cpu, cuda, "
                            "cuda:N (default auto)")
        _gpu_flags(c)
        c.add_argument("--quiet", action="store_true", help="no progress bar")

    c = sub.add_parser("consolidate", help="offline Q-learning on all the data (human and agent) with a target network",
                       description="Double DQN over the factored heads with one shared n-step target, a lagging target "
                                   "network, the DQfD margin on human steps and an optional CQL penalty. Starts from "
                                   "--from (a study or consolidate checkpoint) or from scratch, and records the "
                                   "lineage. Metrics go to OUT.metrics.jsonl and OUT.png. No display needed.")
    c.add_argument("--profile", required=True, help="the game profile the data was recorded with")
    c.add_argument("--data", required=True, nargs="+", help="dataset files or globs (human and agent data)")
    c.add_argument("--from", dest="from_checkpoint", default=None, help="parent checkpoint (default: from scratch)")
    c.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/dodge-c1.pt")
    c.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    c.add_argument("--resume", action="store_true", help="continue the unfinished run at --out")
    consolidate_flags(c, 4000)
    c.set_defaults(func=cmd_consolidate)

    t = sub.add_parser("train", help="leave it learning: an actor plays while a learner keeps learning; resumable",
                       description="Online (the default): the agent plays (the window in real time, or --headless GAME "
                                   "in memory) while a learner makes --replay-ratio updates per step from the "
                                   "demonstrations plus everything the agent has played, with DQfD's settings (margin "
                                   "weight 1, a demonstration share falling from --human-ratio to --human-ratio-end, "
                                   "low epsilon, a Polyak target, optimizer state kept); the actor takes the newest "
                                   "weights every --sync-every updates. Its play is written to --workdir as seg-K.h5 "
                                   "(a checkpoint seg-K.pt at each one's end), the newest weights to online.pt, the "
                                   "record to online.json and online.png. With --rounds K: the staged way instead, K "
                                   "rounds of explore (round-k.h5) then consolidate (round-k.pt), recorded in "
                                   "train.json. Either way, run the same command again after a stop or crash to go on "
                                   "where it stopped.")
    t.add_argument("--profile", required=True)
    t.add_argument("--data", required=True, nargs="+", help="the human demonstrations (files or globs)")
    t.add_argument("--from", dest="from_checkpoint", required=True, help="starting checkpoint (e.g. from study)")
    t.add_argument("--workdir", required=True, help="folder for the run, e.g. runs/dodge")
    t.add_argument("--steps", type=int, default=24000,
                   help="online: actor steps in all (default 24000: 20 minutes of play at 20 Hz)")
    t.add_argument("--replay-ratio", type=float, default=0.5, help="online: learner updates per actor step (default 0.5)")
    t.add_argument("--human-ratio-end", type=float, default=0.1,
                   help="online: the demonstrations' share of each batch at the end of the run (default 0.1)")
    t.add_argument("--sync-every", type=int, default=50,
                   help="online: learner updates between weight copies into the actor (default 50)")
    t.add_argument("--segment-steps", type=int, default=6000,
                   help="online: actor steps per dataset file and learning-curve point (default 6000)")
    t.add_argument("--save-seconds", type=float, default=30.0,
                   help="online: seconds between checkpoints of the learner (default 30)")
    t.add_argument("--temperature", type=float, default=None,
                   help="online: the actor draws from softmax(Q / T) instead of epsilon-greedy; 0 = epsilon-greedy "
                        "(default: the checkpoint's play temperature, as `hakisa trial` chose). How it explores only: "
                        "the checkpoints it writes play at --from's temperature (without --from's action offsets unless "
                        "--imitation-weights study or --anchor)")
    t.add_argument("--pick", type=int, default=0, metavar="EPISODES",
                   help="online: at the end, play --from and each seg-K.pt this many episodes each (the window, or "
                        "--headless GAME on the same games) and copy the best to WORKDIR/best.pt; --from is kept "
                        "unless another scores more (on a profile that reads no score, the summed reward decides). "
                        "Run the same command with --pick on a finished run to pick afterwards (default 0: no pick)")
    t.add_argument("--pick-seconds", type=float, default=300.0,
                   help="online: at most this many seconds of play per checkpoint in the pick (default 300)")
    t.add_argument("--rounds", type=int, default=None, help="the staged way: this many explore/consolidate rounds")
    t.add_argument("--explore-steps", type=int, default=6000, help="--rounds: agent steps per round (default 6000)")
    t.add_argument("--epsilon", type=float, default=None,
                   help="each head's chance of a random choice at the start (default 0.02 online, 0.2 per round)")
    t.add_argument("--epsilon-end", type=float, default=None, help="... and at the end (default 0.01 online, 0.02)")
    t.add_argument("--headless", default=None, metavar="GAME", choices=BUNDLED_GAMES,
                   help="play a bundled game in memory instead of the window")
    t.add_argument("--size", default="640x360", help="headless game size (default 640x360)")
    t.add_argument("--focus", action="store_true", help="give the game window keyboard focus first")
    t.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the game window (default 3)")
    _takeover_flags(t, with_budget=False)
    _audience_flags(t)
    consolidate_flags(t, 2000, margin_weight=None, tau=None)
    t.set_defaults(func=cmd_train, resolve=_resolve_train)
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("regions", help="show what the profile's rules read on the screen; name regions; learn digits",
                       description="Takes a screenshot of the game window (or reads --screenshot), prints each "
                                   "region and what each extractor reads, and can draw them (--out), turn pixel "
                                   "boxes into region fractions (--add) and learn digit glyphs (--learn).")
    g.add_argument("--profile", required=True)
    g.add_argument("--screenshot", nargs="+", default=None,
                   help="PNG(s) of the captured area (default: grab the live window); with several, also what every "
                        "rule reads over them and which read nothing useful")
    g.add_argument("--watch", type=float, default=None, metavar="SECONDS",
                   help="grab the live window for SECONDS at the tick rate (play meanwhile) and say which regions "
                        "and rules read nothing useful: always the same value, unreadable digits, a colour filling "
                        "its region, a done or pause rule holding on most frames (exit 1 if any)")
    g.add_argument("--data", default=None, metavar="REC.h5",
                   help="say which extractors and rules read nothing useful over a recording, from the readings it "
                        "stored (always the same value, unreadable digits, a done or pause rule holding on most "
                        "frames); with --out, example frames of each warning (exit 1 if any)")
    g.add_argument("--save", default=None, help="save the live screenshot to this PNG")
    g.add_argument("--out", default=None, help="write the screenshot with the regions drawn on it (PNG)")
    g.add_argument("--add", action="append", metavar="NAME=x,y,w,h",
                   help="a new region in screenshot pixels; prints it as a profile line")
    g.add_argument("--learn", action="append", metavar="EXTRACTOR=VALUE[@SHOT.png]",
                   help="learn a digits extractor's glyphs from the number the screenshot (or SHOT.png) shows; "
                        "repeat it for several screenshots: the glyphs of all of them are merged, drawn, and each "
                        "screenshot is read again with them")
    g.add_argument("--wait", type=float, default=3.0)
    g.set_defaults(func=cmd_regions)

    wn = sub.add_parser("windows", help="list the open windows' titles (for a profile's [window])",
                        description="Lists every visible window with a title: its id, size, process, class and "
                                    "title, largest first. With --profile, marks the window that profile's [window] "
                                    "picks (exit 1 if none).")
    wn.add_argument("--profile", default=None, help="mark the window this profile picks")
    wn.set_defaults(func=cmd_windows)

    st = sub.add_parser(
        "studio", help="make a game's profile in the browser: draw regions, tune extractors, teach digits, try rules",
        description="Serves a local web page (127.0.0.1 only by default) showing the live game window (or "
                    "--screenshot files): drag on the picture to draw and name regions, set each extractor's kind, "
                    "colour and tolerance while its reading updates, teach digits by typing the number a picture "
                    "shows (the glyphs are drawn, and a colour and tolerance that read every taught picture are "
                    "suggested), watch the reward, done and pause rules over a few seconds of play, and save the "
                    "profile. Starts from --profile (its [game], [window], [capture], [actions] and other tables "
                    "are kept as written; copy a bundled profile and edit those first).")
    st.add_argument("--profile", required=True, help="the profile to start from (path or bundled name)")
    st.add_argument("--out", default=None, help="where Save writes the profile (default NAME.toml here; an older "
                                                "file is kept as .bak)")
    st.add_argument("--screenshot", nargs="+", default=None, help="PNG(s) of the captured area to work on instead "
                                                                  "of the live window")
    st.add_argument("--window", action="store_true", help="with --screenshot: also use the live window")
    st.add_argument("--window-title", default=None, metavar="TITLE",
                    help="the game window's exact title (as `hakisa windows` lists it): written to [window] title, "
                         "so a copied profile needs no editing for it")
    st.add_argument("--name", default=None, help="the game's name, written to [game] name")
    st.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    st.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    st.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the game window")
    st.set_defaults(func=cmd_studio)
    return p


LOG_DIR_ENV = "HAKISA_LOG_DIR"


def log_dir() -> Path:
    """Where tracebacks of failed runs go: $HAKISA_LOG_DIR, else $XDG_CACHE_HOME/hakisa/logs
    (~/.cache/hakisa/logs)."""
    if os.environ.get(LOG_DIR_ENV):
        return Path(os.environ[LOG_DIR_ENV])
    from hakisa.resources import cache_dir

    return cache_dir() / "logs"


def write_crash_log(command: str, argv: list[str], exc: BaseException) -> Path | None:
    """Write the traceback of ``exc`` to a new file under :func:`log_dir` (the 50 newest are kept);
    returns its path, or None when no folder for it can be written."""
    import datetime as dt
    import tempfile
    import traceback

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"hakisa {__version__} {command}: {type(exc).__name__}: {exc}\nargv: {argv}\n"
            f"python {sys.version.split()[0]}, cwd {os.getcwd()}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for folder in (log_dir(), Path(tempfile.gettempdir()) / "hakisa-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(1, 100):
                path = folder / f"hakisa-{command}-{stamp}-{os.getpid()}{'' if n == 1 else f'-{n}'}.log"
                try:
                    with open(path, "x", encoding="utf-8") as f:
                        f.write(text)
                    break
                except FileExistsError:
                    continue
        except OSError:
            continue
        try:
            old = sorted(folder.glob("hakisa-*.log"), key=lambda p: p.stat().st_mtime)[:-50]
            for p in old:
                p.unlink()
        except OSError:
            pass
        return path
    return None


_ENV_ERRNOS = {"ENOSPC": "the disk is full", "EDQUOT": "the disk quota is used up", "EROFS": "the folder is read-only",
               "EACCES": "permission denied", "EPERM": "operation not permitted", "ENOENT": "no such file or folder",
               "EISDIR": "it is a folder", "ENOTDIR": "a part of the path is not a folder", "EIO": "an I/O error",
               "EMFILE": "too many open files", "ENAMETOOLONG": "the file name is too long"}


def _explain(exc: BaseException) -> tuple[str, int] | None:
    """A one-line explanation and exit status for failures caused by the machine rather than a bug."""
    import errno

    if isinstance(exc, MemoryError):
        return ("ran out of memory; use less data, a smaller --batch-size, or a machine with more memory.", 2)
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        if name in _ENV_ERRNOS:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            return (f"{_ENV_ERRNOS[name]}{where}: {exc.strerror or exc}. Fix that and run the command again.", 2)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (0 ok, 1 a file inspected is broken or an internal error,
    2 bad input or environment, 130 interrupted). Never lets a traceback reach the user: unexpected
    errors print one line and write the traceback to a log file (see :func:`log_dir`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's own usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    command = args.command
    old_hooks = (threading.excepthook, sys.unraisablehook)
    threading.excepthook = lambda a: _background_failure(command, argv, a.exc_value, f"thread {a.thread.name}"
                                                         if a.thread else "a thread")
    sys.unraisablehook = lambda u: _background_failure(command, argv, u.exc_value, "cleanup", quiet=True)
    old_term = None
    if command in _OFFLINE and threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _term_to_interrupt)  # finally blocks run; nothing half-written
    try:
        from hakisa.limits import check_command

        if getattr(args, "resolve", None) is not None:
            args.resolve(args)
        check_command(command, args)
        return int(args.func(args) or 0)
    except HakisaError as exc:
        print(f"hakisa {command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hakisa {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into a clear line
        log = write_crash_log(command, argv, exc)
        where = f"; the traceback is in {log}" if log else ""
        known = _explain(exc)
        if known is not None:
            print(f"hakisa {command}: error: {known[0]}{where}", file=sys.stderr)
            return known[1]
        print(f"hakisa {command}: internal error ({type(exc).__name__}: {_one_line(exc)[:300]}). This is a bug in "
              f"hakisa, not in what you gave it{where}; please report it with that file.", file=sys.stderr)
        return 1
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        threading.excepthook, sys.unraisablehook = old_hooks


def console_main() -> None:
    """The `hakisa` command and `python -m hakisa`: :func:`main`, then exit. After an agent session
    (play, explore) everything is already released and closed, so the process ends at once instead of
    spending 0.4-2 s in the interpreter's teardown of torch (tools/bench_killswitch.py measures it)."""
    code = main()
    if sys.argv[1:2] in (["play"], ["explore"], ["trial"]):
        from hakisa.act.session import exit_now

        exit_now(code)
    raise SystemExit(code)


def _background_failure(command: str, argv: list[str], exc: BaseException | None, where: str,
                        quiet: bool = False) -> None:
    """An exception in a background thread (or one ignored during cleanup) goes to the log, not the screen;
    a thread's failure is still announced in one line."""
    if exc is None or isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return
    log = write_crash_log(command, argv, exc)
    if not quiet:
        print(f"hakisa {command}: error in {where}: {type(exc).__name__}: {_one_line(exc)[:200]}"
              + (f"; the traceback is in {log}" if log else ""), file=sys.stderr)


_OFFLINE = ("study", "consolidate", "train", "inspect", "replay")


def _term_to_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
