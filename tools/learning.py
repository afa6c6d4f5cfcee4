"""The learning pipeline on a bundled game, shared by the end-to-end demo (tools/demo.py) and the
learning benchmark (tools/bench_learning.py): demonstrations -> `hakisa study` -> `hakisa train`
(explore -> consolidate rounds) -> scores of every phase, a results table and a learning-curve plot.

Every learning step runs the real `hakisa` command in a subprocess (printed as it starts), so what
is measured is exactly what a user runs. Scores come from the headless game (the same pixels as the
window, stepped synchronously), which is what makes 10+ evaluation episodes per phase affordable.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

from hakisa.stats import Scored  # noqa: E402


def rel(path: Path | str) -> str:
    """``path`` relative to the checkout when it lies inside it (shorter commands and records)."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(path)


def hakisa(*args: str, quiet: bool = False) -> None:
    """Run one `hakisa` command (this interpreter, this checkout), echoing it; stop on failure."""
    print("$ hakisa " + " ".join(args), flush=True)
    r = subprocess.run([sys.executable, "-m", "hakisa", *args], cwd=ROOT,
                       stdout=subprocess.DEVNULL if quiet else None)
    if r.returncode != 0:
        raise SystemExit(f"hakisa {args[0]} failed (exit {r.returncode})")


@dataclass
class Recipe:
    """How much of each phase to run: the demo's defaults take about 20 minutes on 2 idle cores (set-up done)."""

    demo_minutes: float = 20.0  # minutes of headless demonstrator play (recorded through the record loop)
    study_steps: int = 12000
    rounds: int = 3
    explore_steps: int = 6000  # agent steps per round (5 minutes of play at 20 Hz)
    updates: int = 2000  # consolidate updates per round
    episodes: int = 50  # evaluation episodes per phase (game seeds from EVAL_SEED_BASE, never trained on)
    max_minutes: float = 5.0  # an evaluation episode is cut off after this much game time
    trial: int = 10  # `hakisa trial` episodes per way of playing the studied clone (0: play it as studied)
    online: int = 0  # actor steps of an online `hakisa train` after study, one curve point per explore_steps (0: none)
    watcher: bool = False  # the online run with the scripted watcher taking over before losses (corrections)
    replay_ratio: float = 0.5  # the online run's learner updates per actor step
    device: str = "auto"  # where study and the learner run (hakisa --device)
    threads: int = 2  # torch CPU threads of study and train (1 each when two pipelines share 2 cores: more threads
    #                   than cores made both ten times slower)
    train_flags: tuple[str, ...] = ()  # more `hakisa train` flags for the online run (an ablation)
    tag: str = ""  # names the online run's folder (online-TAG), so ablations from one study sit side by side
    pick: int = 0  # the online run ends with `hakisa train --pick N` (the start and each segment's checkpoint played
    #                N episodes each on game seeds of their own, the best kept), scored as one more row

    def budget(self, tick_hz: float = 20.0) -> str:
        """What this recipe learns from and how much it learns, in words."""
        play = (self.rounds * self.explore_steps + self.online) / tick_hz / 3600
        updates = self.rounds * self.updates + int(self.replay_ratio * self.online)
        how = f"{self.rounds} explore/consolidate rounds" if self.rounds else "online `hakisa train`"
        return (f"{self.demo_minutes / 60:.2f} h of demonstration, {self.study_steps} study updates; then "
                f"{play:.2f} h of the agent's own play and {updates} learner updates ({how})")


@dataclass
class Row(Scored):
    """One line of the results table: a player's scores over the evaluation episodes."""

    player: str
    scores: list[float]
    demo_hours: float = 0.0  # hours of demonstration it learnt from
    explore_hours: float = 0.0  # hours of its own play it learnt from
    seconds: float = 0.0  # wall-clock seconds of the phase that produced it: its learning, then its scoring
    extra: dict = field(default_factory=dict)
    play: dict = field(default_factory=dict)  # how it played: eval_agent.Episodes.to_dict()

    @property
    def std(self) -> float:
        return float(np.std(self.scores)) if self.scores else math.nan


def evaluate(game: str, player: str, episodes: int, max_minutes: float, cache: Path | None = None):
    """How ``player`` ("random", "demonstrator" or a checkpoint path) plays the evaluation episodes of the
    headless game (game seeds from eval_agent.EVAL_SEED_BASE: the same episodes for every player, phase and
    training seed, none of them ever recorded or explored). Returns an eval_agent.Episodes.

    With ``cache`` (a JSON file), results already computed for the same player, checkpoint file and
    episodes are reused, so a repeated run does not play them again."""
    from eval_agent import EVAL_SEED_BASE, Episodes, play_agent, play_policy

    key = f"{game}|{player}|{episodes}|{EVAL_SEED_BASE}|{max_minutes}"
    if player not in ("random", "demonstrator"):
        st = Path(player).stat()
        key += f"|{st.st_size}|{st.st_mtime_ns}"
    known = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    if isinstance(known.get(key), dict):
        return Episodes.from_dict(known[key])
    frames = int(max_minutes * 3600)
    if player in ("random", "demonstrator"):
        played = play_policy(game, "demo" if player == "demonstrator" else player, episodes, max_frames=frames)
    else:
        from hakisa.learn.checkpoint import load_checkpoint

        played = play_agent(game, load_checkpoint(player), episodes, max_frames=frames)
    if cache is not None:
        _remember(cache, key, played.to_dict())
    return played


def _remember(cache: Path, key: str, value: dict) -> None:
    """Add one result to the cache file. Benchmarks that share a training seed's folder (ablations from one study)
    write to it at once, so the file is read again under a lock and replaced whole: none loses the other's."""
    import fcntl

    with open(cache.with_name(cache.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = json.loads(cache.read_text()) if cache.exists() else {}
        known[key] = value
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, cache)


def run_pipeline(game: str, workdir: Path, recipe: Recipe, seed: int = 0, human_data: list[Path] = (),
                 log=print, study_args: tuple[str, ...] = ()) -> list[Row]:
    """Demonstrations, study and train rounds in ``workdir``, each phase scored; returns the table's rows.

    ``human_data``: datasets recorded elsewhere (the demo's real-window recording) studied along with the
    headless demonstrations. ``study_args``: extra `hakisa study` flags (ablations). Every phase whose output
    exists is reused, so a run can be continued."""
    from eval_agent import check_training_seed

    from hakisa.data.dataset import DatasetReader

    check_training_seed(seed)
    check_training_seed(seed + 1000 * recipe.rounds)  # `hakisa train` explores round k on game seed seed + 1000k
    check_training_seed(seed + 1000 * math.ceil(recipe.online / recipe.explore_steps))  # and online segment k too

    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "scores.json"

    def row(player: str, label: str | None = None, **kw) -> Row:
        e = evaluate(game, player, recipe.episodes, recipe.max_minutes, cache)
        return Row(label or player, e.scores, play=e.to_dict(), **kw)

    rows = [row("random"), row("demonstrator")]
    demos = [Path(p) for p in human_data]
    if recipe.demo_minutes > 0:
        demo = workdir / "demo.h5"
        if not demo.exists():
            t0 = time.perf_counter()
            print(f"$ tools/make_demo_data.py {game} --minutes {recipe.demo_minutes:g} --seed {seed} --out {rel(demo)}",
                  flush=True)
            from make_demo_data import record_demo

            record_demo(game, str(demo) + ".tmp", recipe.demo_minutes, seed=seed, force=True)
            os.replace(str(demo) + ".tmp", demo)
            log(f"  {recipe.demo_minutes:g} min of demonstrator play recorded in {time.perf_counter() - t0:.0f} s")
        demos.append(demo)
    demo_hours = 0.0
    for d in demos:
        with DatasetReader(d) as r:
            demo_hours += sum(r.info(n).n_steps for n in r.episode_names()) / r.tick_hz / 3600
    study_ckpt = workdir / "study.pt"
    earlier = {}  # a phase that is reused keeps the learning time it took when it ran
    if (workdir / "results.json").exists():
        earlier = {r["player"]: r["seconds"] for r in json.loads((workdir / "results.json").read_text())}
    t0 = time.perf_counter()
    if not study_and_trial(game, study_ckpt, demos, recipe, seed, study_args):
        t0 -= earlier.get("study", 0.0)
    from hakisa.learn.checkpoint import load_checkpoint

    trial = load_checkpoint(study_ckpt)["state"].get("trial") or {}
    rows.append(row(str(study_ckpt), "study", demo_hours=demo_hours, seconds=time.perf_counter() - t0,
                    extra={"played": trial.get("chosen", "as studied")}))
    runs = workdir / "rounds"
    explored = 0.0
    round_hours = recipe.explore_steps / _tick_hz(game) / 3600
    for k in range(1, recipe.rounds + 1):
        t0 = time.perf_counter()
        if _round_done(runs, k):
            t0 -= earlier.get(f"round {k}", 0.0)
        else:
            hakisa("train", "--profile", game, "--data", *map(rel, demos), "--from", rel(study_ckpt),
                   "--workdir", rel(runs), "--rounds", str(k), "--explore-steps", str(recipe.explore_steps),
                   "--updates", str(recipe.updates), "--headless", game, "--seed", str(seed), "--quiet",
                   "--device", recipe.device, quiet=True)
        info = json.loads((runs / "train.json").read_text())["rounds"][k - 1]
        explored += round_hours
        rows.append(row(str(ROOT / info["checkpoint"]), f"round {k}", demo_hours=demo_hours, explore_hours=explored,
                        seconds=time.perf_counter() - t0,
                        extra={"explore_score": info.get("explore", {}).get("score_mean", math.nan)}))
        log(f"  round {k}: {rows[-1].mean:.1f} +- {rows[-1].se:.1f} (SE)")
    if recipe.online > 0:
        rows += _online_rows(game, workdir, recipe, seed, demos, demo_hours, study_ckpt, row, log)
    (workdir / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return rows


def _online_rows(game, workdir, recipe, seed, demos, demo_hours, study_ckpt, row, log) -> list[Row]:
    """An online `hakisa train` from the studied clone (resumed if it was cut short), then one row per segment's
    checkpoint: the learning curve against hours of the agent's play."""
    run = workdir / (("online-watched" if recipe.watcher else "online")
                     + (f"-rr{recipe.replay_ratio:g}" if recipe.replay_ratio != Recipe.replay_ratio else "")
                     + (f"-{recipe.tag}" if recipe.tag else ""))
    record = run / "online.json"
    rec = json.loads(record.read_text()) if record.exists() else {}
    done = rec.get("segments", [])
    if not done or done[-1]["actor_steps"] < recipe.online or (recipe.pick and "pick" not in rec):
        hakisa("train", "--profile", game, "--data", *map(rel, demos), "--from", rel(study_ckpt), "--workdir", rel(run),
               "--steps", str(recipe.online), "--segment-steps", str(recipe.explore_steps), "--headless", game,
               "--replay-ratio", str(recipe.replay_ratio), "--device", recipe.device, "--threads", str(recipe.threads),
               "--seed", str(seed), "--quiet", *(["--watcher"] if recipe.watcher else []), *recipe.train_flags,
               *(["--pick", str(recipe.pick)] if recipe.pick else []), quiet=True)
    rec = json.loads(record.read_text())
    segs = rec["segments"]
    out, hz = [], _tick_hz(game)
    person = 0.0
    for s in segs:
        person += s.get("person_steps", 0) / hz / 3600
        label = f"online {s['segment']}"
        out.append(row(str(ROOT / s["checkpoint"]), label, demo_hours=demo_hours, explore_hours=s["hours_play"],
                       seconds=s["wall_s"],
                       extra={"explore_score": s.get("score_mean", math.nan), "updates": s["updates"],
                              "correction_hours": person}))
        log(f"  {label}: {out[-1].mean:.1f} +- {out[-1].se:.1f} (SE) after {s['hours_play']:.2f} h of play")
    if recipe.pick and segs:
        chosen = rec["pick"]["chosen"]
        out.append(row(str(ROOT / chosen), "picked", demo_hours=demo_hours, explore_hours=segs[-1]["hours_play"],
                       seconds=0.0, extra={"picked": Path(chosen).name}))
        log(f"  picked {Path(chosen).name}: {out[-1].mean:.1f} +- {out[-1].se:.1f} (SE)")
    return out


def parse_play_scores(text: str) -> list[float]:
    """The score of each episode line that `hakisa play` printed ("episode   1: ... score   340 ...")."""
    return [float(m.group(1)) for m in re.finditer(r"^episode\s+\d+:.*?\bscore\s+(-?[\d.]+)", text, re.M)]


def play_window(game: str, checkpoint: Path, episodes: int, record: Path | None = None,
                size: str = "640x360") -> list[float]:
    """`hakisa play` on the bundled game in a real window (on a virtual display when there is no screen):
    real capture, real injected input. Echoes its output; returns the score of each episode."""
    from xsession import game_with_demonstrator, virtual_display

    args = ["play", "--checkpoint", rel(checkpoint), "--focus", "--episodes", str(episodes), "--wait", "60"]
    if record is not None:
        args += ["--record", rel(record), "--force"]
    print("$ hakisa " + " ".join(args), flush=True)
    with virtual_display("1280x720"):
        # the agent starts first and waits for the window, so its first episode is a whole game
        agent = subprocess.Popen([sys.executable, "-m", "hakisa", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            with game_with_demonstrator(game, Path(checkpoint).parent / "play-game.jsonl", size=size, play=False):
                stdout, _ = agent.communicate()
        finally:
            if agent.poll() is None:
                agent.kill()
    print(stdout, end="", flush=True)
    if agent.returncode != 0:
        raise SystemExit(f"hakisa play failed (exit {agent.returncode})")
    return parse_play_scores(stdout)


def study_and_trial(game: str, checkpoint: Path, data, recipe: Recipe, seed: int,
                    study_args: tuple[str, ...] = ()) -> bool:
    """`hakisa study` of ``data`` into ``checkpoint`` (resumed from its last save when a run was cut short, skipped
    when it finished), then `hakisa trial` when the recipe asks for one and the checkpoint has none: which way to
    play the clone, from its own score on a few headless games (never the evaluation episodes). Returns whether
    study ran."""
    from hakisa.learn.checkpoint import load_checkpoint

    studied = not _finished(checkpoint)
    if studied:
        hakisa("study", "--profile", game, "--data", *map(rel, data), "--out", rel(checkpoint),
               "--resume" if checkpoint.exists() else "--force", "--steps", str(recipe.study_steps),
               "--seed", str(seed), "--quiet", "--device", recipe.device, "--threads", str(recipe.threads), *study_args)
    if recipe.trial and "trial" not in load_checkpoint(checkpoint)["state"]:
        hakisa("trial", "--checkpoint", rel(checkpoint), "--headless", game, "--episodes", str(recipe.trial),
               "--seed", str(seed))
    return studied


def _finished(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` exists and is the last one of its run (not an intermediate save)."""
    if not checkpoint.exists():
        return False
    from hakisa.learn.checkpoint import load_checkpoint

    return bool(load_checkpoint(checkpoint)["state"].get("final"))


def _round_done(runs: Path, k: int) -> bool:
    """Whether `hakisa train` in ``runs`` has finished round ``k`` (its record says so)."""
    record = runs / "train.json"
    if not record.exists():
        return False
    rounds = json.loads(record.read_text())["rounds"]
    return len(rounds) >= k and bool(rounds[k - 1].get("done"))


def _tick_hz(game: str) -> float:
    from hakisa.profile import load_profile

    return load_profile(game).capture.tick_hz


def format_table(rows: list[Row], title: str) -> str:
    """One run's table: mean +- standard error over the evaluation episodes, then how each player played."""
    from eval_agent import Episodes, behaviour

    demo = next((r.mean for r in rows if r.player == "demonstrator"), math.nan)
    lines = [title, f"{'player':<18} {'mean':>8} {'+- SE':>7} {'% of demo':>10} {'demo h':>7} {'explore h':>10}"]
    for r in rows:
        lines.append(f"{r.player:<18} {r.mean:>8.1f} {r.se:>7.1f} {100 * r.mean / demo:>9.0f}% "
                     f"{r.demo_hours:>7.2f} {r.explore_hours:>10.2f}")
    for r in rows:
        if r.play:
            lines.append(f"  {r.player:<16} {behaviour(Episodes.from_dict(r.play))}")
    return "\n".join(lines)


def seed_stats(values) -> tuple[float, float]:
    """(mean, standard error) of per-seed values; the SE is NaN for a single seed."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def plot_learning(series: dict[str, list[list[Row]]], path: Path, title: str) -> None:
    """Score against hours of the agent's own play (study at 0, then each round), mean +- standard error over
    seeds (over episodes for one seed), with random and the demonstrator as lines; the hours of demonstration
    are in each panel's title.

    ``series``: game -> one row list per seed (all with the same players)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(5.2 * len(series), 3.8), squeeze=False)
    for ax, (game, runs) in zip(axes[0], series.items()):
        players = [r.player for r in runs[0]]
        pick = {p: [next(r for r in rows if r.player == p) for rows in runs] for p in players}
        phases = [p for p in players if p not in ("random", "demonstrator")]
        x = np.array([pick[p][0].explore_hours for p in phases])
        if len(runs) > 1:
            m, s = np.array([seed_stats([r.mean for r in pick[p]]) for p in phases]).T
            label = f"hakisa (as it plays), +- SE over {len(runs)} seeds"
        else:
            m = np.array([pick[p][0].mean for p in phases])
            s = np.array([pick[p][0].se for p in phases])
            label = "hakisa (as it plays), +- SE over episodes"
        ax.errorbar(x, m, yerr=s, marker="o", capsize=4, color="tab:blue", label=label)
        for xi, mi, p in zip(x, m, phases):
            ax.annotate(p, (xi, mi), textcoords="offset points", xytext=(4, 6), fontsize=7)
        for p, color in (("demonstrator", "tab:green"), ("random", "tab:red")):
            ax.axhline(np.mean([r.mean for r in pick[p]]), color=color, ls="--", label=p)
        ax.set_xlabel("hours of the agent's own play")
        ax.set_ylabel("score per episode")
        demo_h = pick[phases[0]][0].demo_hours if phases else 0.0
        ax.set_title(f"{game}: {demo_h:.2f} h of demonstration, {len(runs)} seed{'s' if len(runs) > 1 else ''} x "
                     f"{len(runs[0][0].scores)} episodes", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
