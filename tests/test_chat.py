"""The crowd in a stream's chat as a reward source: phrases to votes, one vote per person per window and a
rate, names hashed; votes credited to the steps shown the stream's delay before them, capped per step; a real
IRC server (miniircd) with bots joining and voting, a dropped connection that comes back, bad traffic
dropped; and `hakisa play --chat` on the real dodge window with a flood of messages."""

from __future__ import annotations

import collections
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from hakisa.crowd.irc import ChatError, ChatReader, parse_address, parse_line
from hakisa.crowd.votes import Crowd
from hakisa.errors import ProfileError
from hakisa.profile import ChatSpec, load_profile, parse_profile

from conftest import ROOT, hakisa_cmd, profile_text

sys.path.insert(0, str(ROOT / "tools"))
from chatbots import Bot, IrcServer, free_port, wait_until  # noqa: E402

SPEC = ChatSpec(good=("good bot", "PogChamp"), bad=("bad bot",), value=0.5, delay=2.0, window=1.0, rate=3, cap=0.2,
                weights=(("mod", 2.0), ("muted", 0.0)))


def test_phrases_ignore_case_spacing_and_punctuation_but_not_word_edges():
    c = Crowd(SPEC)
    assert [c.sign(m) for m in ("Good  BOT!!", "goodbot", "wow, good bot :)", "g o o d bot", "PogChamp PogChamp",
                                "BAD bot", "bad-bot")] == [1, 1, 1, 1, 1, -1, -1]
    assert [c.sign(m) for m in ("notgoodbot", "good bots", "hello", "", "good bot bad bot", "goodb ot x" * 0)] == \
        [0, 0, 0, 0, 0, 0]


def test_one_vote_per_person_per_window_a_rate_and_weights_and_no_names_kept():
    c = Crowd(SPEC)
    votes = [c.offer(t, "Alice", "good bot") for t in (0.0, 0.5, 1.0, 2.5, 4.0, 10.0)]
    # 0.5 is within the 1 s window of 0.0; 2.5 and 4.0 make 3 in a minute with 0.0 and 1.0? no: 0, 1, 2.5 = 3
    assert [v is not None for v in votes] == [True, False, True, True, False, False]
    assert c.counts["again within the window"] == 1 and c.counts["over the rate"] == 2
    later = c.offer(61.0, "alice", "bad bot")  # a minute on, the rate has room again; names are case-blind
    assert later is not None and later.value == -0.5 and later.who == votes[0].who
    assert c.offer(0.0, "Mod", "good bot").value == 1.0  # weight 2
    assert c.offer(0.0, "muted", "good bot") is None and c.counts["weight 0"] == 1
    assert "alice" not in repr(votes[0]) and len(votes[0].who) == 12
    assert Crowd(SPEC).who("alice") != votes[0].who  # salted per run: hashes cannot be looked up or linked


def test_chat_table_of_a_profile_is_checked():
    base = profile_text("x")
    ok = parse_profile(base + '\n[feedback.chat]\ngood = ["good bot", "Kappa"]\nbad = ["bad bot"]\ndelay = 4\n'
                              'window = 2\nrate = 10\ncap = 1\n[feedback.chat.weights]\nMod = 3\n')
    ch = ok.feedback.chat
    assert ch.good == ("good bot", "Kappa") and ch.delay == 4 and ch.weights == (("mod", 3.0),)
    assert ok.feedback.hold == 6
    for table, says in (('good = ["!!!"]', "phrases of letters or digits"), ('good = []', "phrases"),
                        ('bad = ["Good  Bot"]', "not also good ones"), ("rate = 0.5", "integer"),
                        ("delay = -1", "from 0"), ("spam = 1", "unknown field 'feedback.chat.spam'")):
        with pytest.raises(ProfileError, match=says):
            parse_profile(base + f"\n[feedback.chat]\n{table}\n")


def test_addresses_and_no_token_ever_shown():
    assert str(parse_address("irc://127.0.0.1:7000/#Hakisa")) == "irc://127.0.0.1:7000/#hakisa"
    assert parse_address("ircs://irc.chat.twitch.tv/#me").port == 6697
    with pytest.raises(ChatError) as e:
        parse_address("ircs://me:oauth:s3cret@irc.chat.twitch.tv/#me")
    assert "s3cret" not in str(e.value) and "HAKISA_CHAT_TOKEN" in str(e.value)
    for bad in ("http://x/#a", "irc://host", "irc://host/#a b"):
        with pytest.raises(ChatError, match="expected irc://"):
            parse_address(bad)
    assert parse_line("@badges=x :bob!b@h PRIVMSG #c :good bot :)") == ("bob", "PRIVMSG", ["#c", "good bot :)"])
    assert parse_line("   ") is None
    r = subprocess.run(hakisa_cmd("play", "--checkpoint", "x.pt", "--chat", "irc://me:oauth:s3cret@host/#c"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "HAKISA_CHAT_TOKEN" in r.stderr and "s3cret" not in r.stdout + r.stderr


# ----- crediting -------------------------------------------------------------------------------------

def test_votes_are_credited_to_the_steps_shown_the_delay_before_them_and_capped(tmp_path):
    from hakisa.act.loop import _Writer
    from hakisa.codec import ActionCodec
    from hakisa.crowd.votes import Vote
    from hakisa.data.dataset import DatasetReader, DatasetWriter, Observation

    prof = parse_profile(profile_text("x") + "\n[feedback.chat]\ndelay = 2.0\nwindow = 1.0\ncap = 0.03\n"
                                             "value = 0.5\n")
    w = DatasetWriter(tmp_path / "v.h5", prof, ActionCodec(prof.actions, (640, 360)))
    writer = _Writer(w, prof, chat=True)
    t0 = time.monotonic() + 1000  # in the future: only the steps' own times move the writing on
    frame = np.zeros(prof.capture.frame_shape, np.uint8)
    obs = lambda k: Observation(frame, t0 + 0.05 * k, k)  # noqa: E731 - tick k at 20 Hz
    writer.put("start", obs(0))
    for k in range(200):
        writer.put("step", {"action": (0, 0, 0), "actor": 2, "q": 0.0, "t_state": t0 + 0.05 * k, "reward": 0.0,
                            "terminated": False, "obs": obs(k + 1), "t_obs": t0 + 0.05 * (k + 1), "human": 0.0})
        if k == 100:  # at tick 100 (t0 + 5 s), votes about t0 + 2..3 s (ticks 40-60) arrive
            writer.put("vote", Vote(t0 + 5.0, "a" * 12, 1, 0.5))
            writer.put("vote", Vote(t0 + 5.0, "b" * 12, 1, 0.5))
            writer.put("vote", Vote(t0 + 5.0, "c" * 12, -1, -0.5))
            writer.put("feedback", t0 + 5.0, +1)  # a hotkey press at the same moment: 2.3..4.7 s back, uncapped
    writer.close()
    w.close()
    with DatasetReader(tmp_path / "v.h5") as r:
        ep = r.load("ep_000000", frames=False)
    t_state = ep["obs_time"][:-1] - t0
    chat_steps = (t_state >= 2.0 - 1e-9) & (t_state <= 3.0 + 1e-9)
    key_steps = (t_state >= 5.0 - 0.3 - 2.0 - 1e-9) & (t_state <= 5.0 - 0.3 + 1e-9)
    n_chat, n_key = int(chat_steps.sum()), int(key_steps.sum())
    expect = np.zeros(200)
    expect[chat_steps] = min(0.03, 2 * 0.5 / n_chat) - 0.5 / n_chat  # two goods hit the cap, then a bad
    expect[key_steps] += 1.0 / n_key
    assert np.allclose(ep["reward_human"], expect, atol=1e-6) and np.allclose(ep["rewards"], expect, atol=1e-6)
    # every vote is kept with who, when, the steps it was credited to and what it gave
    assert list(ep["votes_source"]) == [1, 1, 1, 0] and list(ep["votes_who"][:3]) == [b"a" * 12, b"b" * 12, b"c" * 12]
    first = int(np.flatnonzero(chat_steps)[0])
    assert list(ep["votes_step"][:3]) == [first] * 3 and list(ep["votes_steps"][:3]) == [n_chat] * 3
    assert ep["votes_value"][1] < ep["votes_value"][0] and np.allclose(ep["votes_time"], t0 + 5.0)


# ----- a real IRC server -------------------------------------------------------------------------------

@pytest.fixture
def irc():
    server = IrcServer()
    yield server
    server.stop()


def test_bots_vote_on_a_real_server_and_votes_after_a_reconnect_are_not_lost(irc):
    got: list = []
    crowd = Crowd(ChatSpec(window=0.05, rate=600))
    reader = ChatReader(parse_address(irc.url()), lambda t, who, text: got.append(crowd.offer(t, who, text)),
                        backoff=(0.2, 1.0))
    with reader:
        wait_until(reader.joined.is_set, what="the reader to join")
        bots = [Bot(irc.port, f"bot{i}") for i in range(3)]
        for i, b in enumerate(bots):
            b.say("good bot" if i != 1 else "BAD   bot!")
            time.sleep(0.1)
        bots[0].say("just chatting")
        wait_until(lambda: len(got) == 4, what="four messages")
        assert [v.sign if v else 0 for v in got] == [1, -1, 1, 0]
        assert len({v.who for v in got if v}) == 3

        irc.restart()  # the connection drops; the reader comes back on its own
        for b in bots:
            b.close()
        wait_until(lambda: reader.counts["disconnects"] >= 1, what="the drop to be seen")
        wait_until(reader.joined.is_set, timeout=20, what="the reader to rejoin")
        assert reader.counts["joins"] == 2
        bots = [Bot(irc.port, f"bot{i}") for i in range(3)]
        sent = 0
        for k in range(20):
            bots[k % 3].say("good bot")
            sent += 1
            time.sleep(0.06)
        wait_until(lambda: len(got) == 4 + sent, what="every vote sent after the reconnect")
        assert all(v is not None and v.sign == 1 for v in got[4:])
        for b in bots:
            b.close()


class RawServer(threading.Thread):
    """A line-level IRC server for traffic no real server relays: a huge line, junk, a line with no end."""

    def __init__(self, lines: list[bytes]):
        super().__init__(daemon=True)
        self.lines = lines
        self.port = free_port()
        self.srv = socket.create_server(("127.0.0.1", self.port))

    def run(self) -> None:
        conn, _ = self.srv.accept()
        conn.recv(4096)
        conn.sendall(b":srv 001 you :welcome\r\n:you!u@h JOIN #c\r\n")
        for line in self.lines:
            conn.sendall(line)
        time.sleep(1.0)
        conn.close()


def test_bad_traffic_is_counted_and_dropped_and_reaches_nothing(tmp_path):
    canary = tmp_path / "pwned"
    lines = [b":eve!e@h PRIVMSG #c :" + b"good bot " * 3000 + b"\r\n",  # 27 kB
             b"\x00\xff\xfe garbage\r\n", b":x PRIVMSG\r\n",
             f":eve!e@h PRIVMSG #c :$(touch {canary}); good bot\r\n".encode(),
             b":eve!e@h PRIVMSG #other :good bot\r\n",
             b":eve!e@h PRIVMSG #c :" + b"x" * 70000,  # no line end, longer than the read-ahead
             b"\r\n:bob!b@h PRIVMSG #c :good bot\r\n"]
    srv = RawServer(lines)
    srv.start()
    got = []
    reader = ChatReader(parse_address(f"irc://127.0.0.1:{srv.port}/#c"), lambda t, w, m: got.append((w, m)),
                        nick="you", backoff=(5.0, 5.0))
    with reader:
        wait_until(lambda: any(w == "bob" for w, _ in got), what="the good line after the junk")
    assert reader.counts["too long"] >= 2 and reader.counts["malformed"] == 2
    assert [w for w, _ in got] == ["eve", "bob"] and not canary.exists()  # the other channel's line is not ours


# ----- on the real window ---------------------------------------------------------------------------------

@pytest.mark.display
def test_play_credits_chat_votes_to_what_was_on_screen_through_a_flood(game_window, holder_checkpoint, irc,
                                                                       tmp_path):
    """`hakisa play --chat` on the real dodge window: three bots vote at known moments; the server restarts mid-run
    and the reader comes back; the bots vote again, then 50 others flood the channel (10,000 messages in 10 s,
    one of them spamming "good bot"). Every message sent after the reconnect arrives; the dataset's votes are
    the counted ones, each credited to exactly the steps shown the profile's delay before it; no step's crowd
    reward passes the cap; the spammer got no more than one vote per window."""
    game = game_window("dodge", title="hakisa: dodge chat")
    text = load_profile("dodge").text.replace('title = "^hakisa: dodge"', f'title = "^{game.title}$"')
    prof = tmp_path / "dodge-chat.toml"
    prof.write_text(text + "\n[feedback.chat]\ngood = [\"good bot\"]\nbad = [\"bad bot\"]\ndelay = 1.5\n"
                           "window = 1.0\nvalue = 0.5\nrate = 30\ncap = 0.1\n")
    out = tmp_path / "play.h5"
    p = subprocess.Popen(hakisa_cmd("play", "--checkpoint", str(holder_checkpoint), "--profile", str(prof),
                                    "--chat", irc.url(),
                                    "--record", str(out), "--seconds", "44", "--no-takeover"),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    voters, flooders, head = [Bot(irc.port, f"viewer{i}") for i in range(3)], [], []
    try:
        while not any("chat: reading" in line for line in head):  # the reader has joined: play is running
            head.append(p.stdout.readline())
            assert head[-1], "".join(head)
        threading.Thread(target=lambda: head.extend(p.stdout), daemon=True).start()
        sent = collections.defaultdict(list)

        def vote_round():  # each viewer votes every 2.4 s (more than a window apart: each counts), 0.8 s apart
            for i, b in enumerate(voters):
                sent[b.nick].append((b.say("good bot" if i != 2 else "bad bot"), 1 if i != 2 else -1))
                time.sleep(0.8)

        for _ in range(3):
            vote_round()
        irc.restart()  # every connection drops; the reader comes back on its own while play goes on
        for b in voters:
            b.close()
        wait_until(lambda: sum("chat: reading" in line for line in head) >= 2, timeout=20, what="the reader to rejoin")
        voters = [Bot(irc.port, f"viewer{i}") for i in range(3)]
        flooders = [Bot(irc.port, f"flood{i:02d}") for i in range(50)]
        for _ in range(3):
            vote_round()
        t_flood = time.monotonic()
        for n in range(10_000):  # 1,000 a second for 10 s
            b = flooders[n % 50]
            b.say("good bot" if b.nick == "flood00" else f"lol {n}")
            if n % 100 == 99:
                time.sleep(max(0.0, t_flood + (n + 1) / 1000 - time.monotonic()))
        flood_s = time.monotonic() - t_flood
        p.wait(timeout=60)
        time.sleep(0.5)
        log = "".join(head)
    finally:
        for b in voters + flooders:
            b.close()
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, log
    from hakisa.data.dataset import DatasetReader

    rows, eps = [], []
    with DatasetReader(out) as r:
        for name, ep in r.iter_episodes(frames=False):
            eps.append(ep)
            t_state = ep["obs_time"][:-1]
            for t, src, who, value, step, n in zip(ep["votes_time"], ep["votes_source"], ep["votes_who"],
                                                     ep["votes_value"], ep["votes_step"], ep["votes_steps"]):
                assert src == 1
                hit = np.flatnonzero((t_state >= t - 2.5 - 1e-6) & (t_state <= t - 1.5 + 1e-6))
                assert list(hit) == list(range(step, step + n)), (t, step, n)  # exactly the steps shown 1.5 s before
                rows.append((float(t), who, float(value)))
            assert np.all(np.abs(ep["reward_human"]) <= 0.1 + 1e-6)  # the crowd's cap per step
    chat_line = next(line for line in log.splitlines() if line.strip().startswith("chat: ") and "messages" in line)
    assert chat_line.split()[1] == str(9 + 9 + 10_000), chat_line  # every message sent while joined arrived
    assert "reconnected" in chat_line
    summary = next(line for line in log.splitlines() if "votes from chat" in line)
    counted = int(summary.split()[0])
    no_step = int(summary.split("; ")[1].split()[0]) if "; " in summary else 0
    assert counted == len(rows) + no_step, (summary, len(rows))  # every counted vote is in the dataset or said lost
    by_who = collections.defaultdict(list)
    for t, who, value in rows:
        by_who[who].append((t, value))
    # the three viewers: each of their votes arrived when it was sent (the reader's clock is the loop's) and
    # gave its whole value, +-0.5. Those about moments of a reset between games are credited to no step: how many
    # depends on where the holder's games end, so each vote is checked against the steps that were recorded
    sends = [(ts, sign, nick) for nick, v in sent.items() for ts, sign in v]
    matched = set()
    for who, votes in by_who.items():
        for t, value in votes:
            near = [(t - ts, ts, sign, nick) for ts, sign, nick in sends if 0 <= t - ts < 0.8]  # the latest before
            if near:
                _, ts, sign, nick = min(near)
                matched.add((ts, nick))
                assert np.sign(value) == sign and abs(value) <= 0.5 + 1e-6
    step_t = np.concatenate([ep["obs_time"][:-1] for ep in eps])
    # a step shown 1.5-1.7 s before the send is in the window of the vote however late (< 0.8 s) it arrived
    sure = [(ts, nick) for ts, _, nick in sends if np.any((step_t >= ts - 1.7) & (step_t <= ts - 1.5))]
    assert len(sure) >= 4, (sure, summary)  # the holder's games leave most votes a moment to be about
    assert set(sure) <= matched, (sorted(set(sure) - matched), summary)
    spam = max(by_who.values(), key=len)
    assert len(spam) <= flood_s / 1.0 + 2  # one vote per window, however many messages
    assert sum(abs(v) for _, v in spam) <= 0.5 * (flood_s / 1.0 + 2)


# ----- the scripted crowd (benchmarks) ---------------------------------------------------------------------

def test_scripted_viewers_vote_from_the_true_state_late_and_sometimes_wrong():
    from hakisa.games.crowd import CrowdSpec, ScriptedCrowd
    from hakisa.record.recorder import VirtualClock

    class Game:
        state_ = {"score": 0, "lives": 3, "game_over": False}

        def state(self):
            return dict(self.state_)

    game, clock, votes = Game(), VirtualClock(), []
    crowd = ScriptedCrowd(game, ChatSpec(window=0.5, rate=60), votes.append, clock,
                          CrowdSpec(viewers=40, stream_delay=2.0, reaction=0.5, attention=1.0, noise=0.1), seed=3)
    for k in range(200):  # 10 s at 20 Hz: a kill at 1 s, a life lost at 5 s
        if k == 20:
            game.state_["score"] = 10
        if k == 100:
            game.state_["lives"] = 2
        crowd.tick()
        clock.sleep(0.05)
    good = [v for v in votes if v.t < 4.5]
    bad = [v for v in votes if v.t >= 5.0]
    assert 30 <= len(good) <= 40 and 30 <= len(bad) <= 40  # all 40 watch; the window drops none
    assert all(v.t >= 1.0 + 2.0 for v in good) and all(v.t >= 5.0 + 2.0 for v in bad)  # seen through the delay
    assert np.mean([v.sign > 0 for v in good]) > 0.75 and np.mean([v.sign < 0 for v in bad]) > 0.75
    assert 0 < sum(v.sign < 0 for v in good) < 10  # some get it wrong


def test_explore_with_a_scripted_crowd_credits_votes_on_the_games_clock(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    from bench_crowd import crowd_only
    from bench_killswitch import holding_checkpoint

    from hakisa.data.dataset import DatasetReader

    prof = tmp_path / "dodge-crowd.toml"
    prof.write_text(crowd_only("dodge"))
    ckpt = holding_checkpoint(tmp_path / "start.pt")
    out = tmp_path / "crowd.h5"
    r = subprocess.run(hakisa_cmd("explore", "--checkpoint", str(ckpt), "--profile", str(prof), "--headless", "dodge",
                                  "--scripted-crowd", "20", "--out", str(out), "--steps", "1500", "--epsilon", "1",
                                  "--epsilon-end", "1", "--seed", "4"), cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "votes from chat" in r.stdout
    ch = load_profile(prof).feedback.chat
    n_votes = 0
    with DatasetReader(out) as rd:
        for _, ep in rd.iter_episodes(frames=False):
            t_state = ep["obs_time"][:-1]
            screen = ep["rewards"] - ep["reward_human"]
            assert np.allclose(screen, 0)  # the crowd is the only reward
            for t, step, n in zip(ep["votes_time"], ep["votes_step"], ep["votes_steps"]):
                hit = np.flatnonzero((t_state >= t - ch.delay - ch.window - 1e-9) & (t_state <= t - ch.delay + 1e-9))
                assert list(hit) == list(range(step, step + n))
                n_votes += 1
            assert np.abs(ep["reward_human"]).max() <= ch.cap + 1e-6
    assert n_votes >= 10
    refused = subprocess.run(hakisa_cmd("explore", "--checkpoint", str(ckpt), "--scripted-crowd", "5", "--out",
                                        str(tmp_path / "x.h5"), "--steps", "10"), cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "--scripted-crowd watches a bundled game in memory" in refused.stderr
