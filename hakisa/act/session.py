"""One agent session (play or explore) from a checkpoint: on the profile's real window, with the kill
switch, feedback keys and signals wired, or on a bundled game in memory (``headless``) for fast
evaluation and exploration. Used by `hakisa play`, `hakisa explore` and `hakisa train`."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

from hakisa.act.loop import EpisodeResult, LoopStats, Schedule
from hakisa.profile import Profile


@dataclass
class SessionSpec:
    command: str  # "play" or "explore": the dataset's source
    schedule: Schedule
    out: str | None = None  # dataset to write (explore: required)
    force: bool = False
    headless: str | None = None  # a bundled game's name: play it in memory instead of the window
    size: tuple[int, int] = (640, 360)  # headless game size
    seed: int = 0
    focus: bool = False
    wait: float = 3.0
    tick_hz: float | None = -1  # -1: the profile's; None: no limit
    max_steps: int | None = None
    max_episodes: int | None = None
    max_seconds: float | None = None  # live: wall-clock; headless: game time
    checkpoint_name: str = ""
    takeover: object = None  # hakisa.act.takeover.TakeoverSpec: the person watching may take control; headless,
    # the scripted demonstrator watches instead (hakisa.games.watcher)
    watch_budget: float | None = None  # headless: seconds of the scripted watcher's control at most
    watch_horizon: float = 1.0  # headless: seconds the scripted watcher looks ahead for a lost life
    chat: str | None = None  # irc://HOST[:PORT]/#CHANNEL: the crowd in that chat votes ([feedback.chat])
    dashboard: object = None  # hakisa.web.dashboard.Dashboard (already served): what people watching see
    crowd: object = None  # headless: hakisa.games.crowd.CrowdSpec, scripted viewers voting in chat from the game


def run_agent(profile: Profile, blob: dict, spec: SessionSpec,
              on_episode: Callable[[EpisodeResult], None] | None = None, announce=None, *, agent=None,
              on_tick: Callable[[LoopStats], None] | None = None, tap=None, policy=None) -> LoopStats:
    """Run the agent loop until a limit, the kill switch or a signal; returns its stats.

    ``agent``: act with this :class:`~hakisa.act.agent.Agent` (an online learner updates its weights) instead
    of one built from ``blob``; ``on_tick``: called on the acting thread after every action; ``tap``: also
    receives every row written to the dataset (see :class:`hakisa.data.dataset.TapWriter`); ``policy``: choose
    actions with this (wrapping ``agent``) instead of ``agent`` under ``spec.schedule``.

    The dataset is written to ``spec.out`` + ".part" and renamed when the session ends normally, so a
    crash never leaves a half-written file under the real name."""
    import torch

    from hakisa.act.agent import Agent
    from hakisa.codec import ActionCodec
    from hakisa.data.dataset import DatasetWriter, check_output_path
    from hakisa.act.loop import AgentLoop, AgentPolicy

    if spec.out:
        check_output_path(spec.out, spec.force)
    part = Path(str(spec.out) + ".part") if spec.out else None
    if part is not None:  # what an interrupted session left behind is kept, renamed (hakisa.data.dataset)
        from hakisa.data.dataset import keep_crashed_part

        kept = keep_crashed_part(part)
        if kept is not None and announce:
            announce(f"{spec.command}: kept the unfinished dataset of an earlier run that stopped early as {kept}")
    torch.set_num_threads(1)  # the game and the capture need the other cores
    atexit.unregister(_quick_teardown)  # once, however many sessions this process runs
    atexit.register(_quick_teardown)
    agent = agent or Agent.from_checkpoint(blob)
    if spec.schedule.temperature is None and announce:
        t = agent.play_temperature
        announce(f"{spec.command}: " + (f"drawing each action from softmax(Q / {t:g}), the checkpoint's play temperature "
                                        "(--temperature 0 plays greedily)" if t > 0 else "greedy (the checkpoint's "
                                                                                          "default)"))
    hotkeys = guard = takeover = None
    from hakisa.errors import HakisaError

    if spec.chat and spec.headless:
        raise HakisaError("--chat credits votes to what a stream showed seconds before, in real time: use it on the "
                          "game's window, not with --headless")
    if spec.crowd is not None and not spec.headless:
        raise HakisaError("--scripted-crowd watches a bundled game in memory: use it with --headless GAME")
    if spec.chat:
        from hakisa.crowd.irc import parse_address

        parse_address(spec.chat)  # a bad address is said before any window or file is touched
    if spec.headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        from hakisa.games import check_profile_for, make_game
        from hakisa.games.source import GameActuator, HeadlessFrameSource
        from hakisa.record.recorder import VirtualClock

        check_profile_for(spec.headless, profile)
        game = make_game(spec.headless, seed=spec.seed, size=spec.size)
        area = (0, 0, *game.size)
        actuator = GameActuator()
        if spec.takeover is not None:
            from hakisa.games.watcher import ScriptedWatcher

            actuator = takeover = ScriptedWatcher(game, actuator, spec.takeover, seed=spec.seed,
                                                  budget=spec.watch_budget, horizon=spec.watch_horizon)
        hz = profile.capture.tick_hz if spec.tick_hz in (-1, None) else spec.tick_hz
        source = HeadlessFrameSource(game, actuator, max(1, round(60 / hz)))
        clock, title = VirtualClock(), f"headless {spec.headless}"
    else:
        from hakisa.live import require_display

        require_display(spec.command)
        from hakisa.live.guard import InputGuard, agent_keys
        from hakisa.live.inject import LiveActuator
        from hakisa.live.listen import HotkeyListener
        from hakisa.live.sources import WindowFrameSource, find_game

        win, area = find_game(profile, spec.wait, focus=spec.focus)
        actuator = LiveActuator()
        # focus events block the injector at once; X autorepeat is off for the agent's keys while it runs
        guard = InputGuard(win.wid, win.title, actuator, agent_keys(profile), announce=announce)
        source = WindowFrameSource(win.wid, win.title, profile.capture.region, focus_gate=guard.focused)
        clock, title = None, repr(win.title)
        if spec.takeover is not None:
            from hakisa.act.takeover import Takeover
            from hakisa.live.sources import FocusProbe

            buttons = {"left", "right"} if profile.actions.mouse != "none" else set()
            takeover = Takeover(spec.takeover, set(profile.actions.key_set), buttons,
                                accept_key=FocusProbe(win.wid, win.title), is_echo=actuator.inj.take_echo)
    codec = ActionCodec(profile.actions, (area[2], area[3]))
    agent.codec = codec
    if spec.dashboard is not None:
        spec.dashboard.codec = codec
    writer = DatasetWriter(part, profile, codec, source=spec.command, force=True,
                           extra_attrs={"checkpoint": spec.checkpoint_name}) if part else None
    if writer is not None and tap is not None:
        from hakisa.data.dataset import TapWriter

        writer = TapWriter(writer, tap)
    try:
        loop = AgentLoop(profile, source, actuator, policy or AgentPolicy(agent, spec.schedule, seed=spec.seed), codec,
                         writer=writer, clock=clock, tick_hz=spec.tick_hz, max_steps=spec.max_steps,
                         max_episodes=spec.max_episodes, max_seconds=spec.max_seconds, on_episode=on_episode,
                         on_tick=on_tick, takeover=takeover, on_control=_control_line(spec, announce),
                         chat=bool(spec.chat or spec.crowd), dashboard=spec.dashboard)
        if spec.dashboard is not None:
            spec.dashboard.now = loop.clock.now
    except BaseException:
        if writer is not None:
            writer.discard_if_empty()  # e.g. a profile error: leave no empty dataset behind
        raise
    kill, fb = profile.safety.kill_switch, profile.feedback
    if not spec.headless:
        def kill_switch() -> None:
            guard.stop_input()  # released here, in the listener's thread, not a tick later
            loop.stop(f"kill switch ({kill})")

        hotkeys = HotkeyListener({kill: kill_switch, fb.good: lambda: loop.feedback(+1),
                                  fb.bad: lambda: loop.feedback(-1)})
    chat = _chat_reader(profile, spec, loop, announce) if spec.chat else None
    if spec.crowd is not None:
        from hakisa.games.crowd import ScriptedCrowd

        scripted = ScriptedCrowd(game, profile.feedback.chat, loop.vote, clock, spec.crowd, seed=spec.seed)
        source.after_grab = scripted.tick
        if announce:
            announce(f"{spec.command}: {spec.crowd.viewers} scripted viewers vote in chat from the game's true state "
                     f"(stream delay {spec.crowd.stream_delay:g} s, noise {spec.crowd.noise:g})")
    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, lambda signum, _f: loop.stop(signal.Signals(signum).name))
               for s in (signal.SIGTERM, signal.SIGINT)}
    if announce:
        announce(f"{spec.command}: {title} ({area[2]}x{area[3]}) with {spec.checkpoint_name}"
                 + (f", recording into {spec.out}" if spec.out else "")
                 + ("" if spec.headless else f"; stop with {kill} or Ctrl+C; {fb.good} = good, {fb.bad} = bad"))
    ok = False
    try:
        with contextlib.ExitStack() as stack:  # closed in reverse: hotkeys, then the guard (autorepeat back on)
            if guard is not None:
                stack.enter_context(guard)
            if hotkeys is not None:
                stack.enter_context(hotkeys)
            if chat is not None:
                stack.enter_context(chat)
            if takeover is not None and not spec.headless:  # headless: the scripted watcher needs no listener
                from hakisa.live.listen import TakeoverListener

                stack.enter_context(TakeoverListener(takeover))
            try:
                stats = loop.run()
            finally:
                if chat is not None:
                    loop.stats.chat_counts = {**chat.counts, **{f"crowd: {k}": v for k, v in chat.crowd.counts.items()}}
        ok = True
    finally:
        actuator.release_all()
        for s, h in old.items():
            signal.signal(s, h)
        if writer is not None:
            writer.close("truncated")
            if ok:
                os.replace(part, spec.out)
            else:
                writer.discard_if_empty()  # failed before its first step: nothing worth keeping
    return stats


def _chat_reader(profile: Profile, spec: SessionSpec, loop, announce):
    """The chat as a reward source: its messages read on their own thread, votes handed to the loop."""
    from hakisa.crowd.irc import ChatReader, parse_address
    from hakisa.crowd.votes import Crowd

    address = parse_address(spec.chat)
    crowd = Crowd(profile.feedback.chat)

    def on_message(t: float, sender: str, text: str) -> None:
        vote = crowd.offer(t, sender, text)
        if vote is not None:
            loop.vote(vote)

    ch = profile.feedback.chat
    if announce:
        announce(f"{spec.command}: chat {address}: {', '.join(map(repr, ch.good))} = good, "
                 f"{', '.join(map(repr, ch.bad))} = bad; each vote credited to the {ch.window:g} s of play shown "
                 f"{ch.delay:g} s before it ([feedback.chat])")
    reader = ChatReader(address, on_message, log=announce)
    reader.crowd = crowd
    loop.chat = reader
    return reader


def _control_line(spec: SessionSpec, announce):
    """What to say when control changes hands between the agent and the person watching."""
    if spec.takeover is None or announce is None:
        return None
    back = f" or {spec.takeover.hand_back}" if spec.takeover.hand_back else ""

    def say(who: str) -> None:
        if spec.headless:
            announce(f"{spec.command}: " + ("the scripted watcher takes over" if who == "person"
                                            else "the agent is in control again"))
        elif who == "person":
            announce(f"{spec.command}: YOU are in control: the agent sends nothing and your play is recorded as "
                     f"human; it takes over again after {spec.takeover.idle:g} s without input{back}")
        else:
            announce(f"{spec.command}: the AGENT is in control again")

    return say


def _quick_teardown() -> None:
    """At interpreter exit: the last garbage collections need not walk every object torch made (they
    take most of the 1-2 s Python's teardown spends once torch is loaded; nothing is left to collect
    that matters when the process ends)."""
    gc.freeze()


def exit_now(code: int) -> NoReturn:
    """End the process at once after an agent session (`python -m hakisa play|explore`): flush stdout and
    stderr, then skip the interpreter's teardown, which takes 0.4-2 s once torch is loaded (freeing its
    modules; tools/bench_killswitch.py measures the exit). Nothing is lost: when :func:`run_agent` has
    returned or raised, every key is released, autorepeat is restored, the dataset is closed and renamed
    and every thread it started has ended or is an idle daemon."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say anyway
            pass
    os._exit(code)


def summary(stats: LoopStats, out: str | None = None) -> str:
    """The lines `hakisa play` / `explore` print at the end."""
    import numpy as np

    p50, p99 = stats.latency()
    eps = stats.episodes
    lines = [f"stopped: {stats.stop_reason}"]
    if eps:
        scores = np.array([r.score for r in eps], float)
        rewards = np.array([r.reward for r in eps], float)
        lines.append(f"  {len(eps)} episodes: reward {rewards.mean():.2f} +- {rewards.std():.2f}"
                     + (f", score {np.nanmean(scores):.1f} +- {np.nanstd(scores):.1f} (min {np.nanmin(scores):g}, "
                        f"max {np.nanmax(scores):g})" if np.isfinite(scores).any() else ""))
    lines.append(f"  {stats.actions} actions, {stats.rate():.1f} ticks/s, missed ticks {stats.missed}, paused (no "
                 f"focus) {stats.paused_ticks}, capped by max_apm {stats.capped}, watcher feedback {stats.feedback}")
    if stats.chat_counts:
        c = stats.chat_counts
        dropped = {k[len("crowd: "):]: v for k, v in c.items() if k.startswith("crowd: ") and k not in (
            "crowd: messages", "crowd: votes", "crowd: no vote")}
        dropped.update({k: v for k, v in c.items() if k in ("too long", "malformed")})
        lines.append(f"  chat: {c.get('messages', 0)} messages, {c.get('crowd: votes', 0)} votes counted"
                     + (", dropped: " + ", ".join(f"{v} {k}" for k, v in dropped.items()) if dropped else "")
                     + (f"; reconnected {c['disconnects']} time(s)" if c.get("disconnects") else ""))
    if stats.votes:
        lines.append(f"  {stats.votes} votes from chat, reward {stats.vote_sum:+.2f} in all"
                     + (f"; {stats.votes_no_step} about moments with no step recorded (a reset or a pause between "
                        "games), credited to none" if stats.votes_no_step else ""))
    if stats.pauses:
        lines.append(f"  the game paused {stats.pauses} time{'s' if stats.pauses != 1 else ''} ({stats.game_paused_ticks} "
                     "ticks; unpaused with [pause], nothing recorded meanwhile)")
    if stats.takeovers:
        n = stats.takeovers
        lines.append(f"  taken over {n} time{'s' * (n != 1)}: {stats.person_ticks} of the {stats.actions} steps were the "
                     "watcher's (recorded as human)")
    lines.append(f"  grab -> inject latency p50 {p50:.2f} ms, p99 {p99:.2f} ms" + (f"\n  wrote {out}" if out else ""))
    return "\n".join(lines)


def episode_line(r: EpisodeResult) -> str:
    score = "-" if r.score != r.score else f"{r.score:g}"
    return (f"episode {r.number + 1:>3}: {r.status:<10} steps {r.steps:>6}  {r.seconds:7.1f} s  reward "
            f"{r.reward:8.2f}  score {score:>8}  random {100 * r.random_share:5.1f}%  feedback {r.feedback}")

