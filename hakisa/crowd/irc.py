"""Reading a stream's chat: one IRC channel (Twitch chat is IRC) on its own thread, reconnecting with
back-off while play goes on. Every message to the channel reaches ``on_message(t, sender, text)``; nothing
else a chat line says can do anything: no command is run, nothing is sent to the game.

The login token comes from an environment variable (``HAKISA_CHAT_TOKEN``, e.g. Twitch's ``oauth:...``), never
from the command line, a profile, a dataset or a log. Without one it logs in read-only: on Twitch as an
anonymous ``justinfan`` user."""

from __future__ import annotations

import collections
import os
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from hakisa.errors import HakisaError

TOKEN_ENV = "HAKISA_CHAT_TOKEN"
NICK_ENV = "HAKISA_CHAT_NICK"
MAX_LINE = 8192  # bytes: IRC allows 512, Twitch's tagged lines run to a few thousand; longer ones are dropped
MAX_BUFFER = 1 << 16  # bytes read ahead of the next line end before the rest of a line is thrown away


class ChatError(HakisaError):
    pass


@dataclass(frozen=True)
class ChatAddress:
    host: str
    port: int
    channel: str  # with its leading '#', lowercase
    tls: bool

    def __str__(self) -> str:
        return f"{'ircs' if self.tls else 'irc'}://{self.host}:{self.port}/{self.channel}"


def parse_address(url: str) -> ChatAddress:
    """``irc://HOST[:PORT]/#CHANNEL`` (or ``ircs://`` for TLS; e.g. ``ircs://irc.chat.twitch.tv/#name``)."""
    u = urlsplit(url if "://" in url else "irc://" + url)
    channel = (u.fragment and "#" + u.fragment) or u.path.lstrip("/")
    if not channel.startswith("#"):
        channel = "#" + channel if channel else ""
    ok = u.scheme in ("irc", "ircs") and u.hostname and len(channel) > 1 and not (u.username or u.password)
    if not ok or any(c in channel for c in " ,\r\n\x07"):
        secret = bool(u.username or u.password)
        why = " (a token goes in $HAKISA_CHAT_TOKEN, never in the address)" if secret else ""
        shown = "(an address with a login in it)" if secret else repr(url)
        raise ChatError(f"--chat {shown}: expected irc://HOST[:PORT]/#CHANNEL or ircs://...{why}, e.g. "
                        "ircs://irc.chat.twitch.tv/#yourchannel")
    try:
        port = u.port or (6697 if u.scheme == "ircs" else 6667)
    except ValueError:
        raise ChatError(f"--chat {url!r}: the port is not a number") from None
    return ChatAddress(u.hostname, port, channel.lower(), u.scheme == "ircs")


def parse_line(line: str) -> tuple[str, str, list[str]] | None:
    """(sender nick, command, params) of one IRC line (tags skipped), or None when it is not IRC."""
    if line.startswith("@"):
        _, _, line = line.partition(" ")
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    head, sep, trailing = line.partition(" :")
    parts = head.split()
    if not parts or not (parts[0].isascii() and parts[0].isalnum()):  # a command is a word or a 3-digit number
        return None
    params = parts[1:] + ([trailing] if sep else [])
    return prefix.split("!", 1)[0], parts[0].upper(), params


class ChatReader:
    """Reads one channel on a daemon thread until :meth:`stop`; ``counts`` says what came and what was
    dropped, ``state`` whether it is connected."""

    def __init__(self, address: ChatAddress, on_message: Callable[[float, str, str], None], *,
                 nick: str | None = None, clock: Callable[[], float] = time.monotonic, log=None,
                 backoff: tuple[float, float] = (1.0, 30.0)):
        self.address, self.on_message, self.clock, self.log = address, on_message, clock, log or (lambda m: None)
        self.nick = nick or os.environ.get(NICK_ENV) or f"justinfan{random.randint(10000, 99999)}"
        self._token = os.environ.get(TOKEN_ENV)  # sent once per login, never logged
        self.backoff = backoff
        self.counts: collections.Counter = collections.Counter()
        self.state = "starting"
        self.joined = threading.Event()  # set while in the channel
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="hakisa-chat", daemon=True)

    def start(self) -> "ChatReader":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        s = self._sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def __enter__(self) -> "ChatReader":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            t0 = self.clock()
            try:
                self._session()
                why = "the server closed the connection"
            except (OSError, ssl.SSLError, ChatError) as exc:
                why = str(exc) or type(exc).__name__
            self.joined.clear()
            if self._stop.is_set():
                break
            if self.clock() - t0 > 30.0:
                delay = self.backoff[0]  # it was up a while: retry soon
            self.counts["disconnects"] += 1
            self.state = f"reconnecting in {delay:.0f} s"
            self.log(f"chat: {self.address.host}:{self.address.port}: {why}; reconnecting in {delay:.1f} s")
            if self._stop.wait(delay * random.uniform(0.8, 1.2)):
                break
            delay = min(self.backoff[1], delay * 2)
        self.state = "stopped"

    def _session(self) -> None:
        a = self.address
        self.state = "connecting"
        raw = socket.create_connection((a.host, a.port), timeout=10)
        sock = ssl.create_default_context().wrap_socket(raw, server_hostname=a.host) if a.tls else raw
        self._sock = sock
        try:
            sock.settimeout(1.0)  # wakes the thread to notice stop()
            if self._token:
                self._send(f"PASS {self._token}")
            self._send(f"NICK {self.nick}")
            self._send(f"USER {self.nick} 0 * :hakisa")
            buf, skip = b"", False
            while not self._stop.is_set():
                try:
                    data = sock.recv(4096)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                *lines, buf = buf.split(b"\n")
                if skip and lines:  # the end of a line already dropped as too long
                    lines, skip = lines[1:], False
                if len(buf) > MAX_BUFFER:  # no line end in sight: drop it, and the rest of that line when it comes
                    self.counts["too long"] += 1
                    buf, skip = b"", True
                for line in lines:
                    self._line(line.rstrip(b"\r"))
        finally:
            self._sock = None
            try:
                sock.close()
            except OSError:
                pass

    def _send(self, line: str) -> None:
        sock = self._sock
        if sock is not None:
            sock.sendall(line.encode("utf-8")[:510] + b"\r\n")

    def _line(self, raw: bytes) -> None:
        if not raw:
            return
        if len(raw) > MAX_LINE:
            self.counts["too long"] += 1
            return
        parsed = parse_line(raw.decode("utf-8", "replace"))
        if parsed is None:
            self.counts["malformed"] += 1
            return
        sender, cmd, params = parsed
        if cmd == "PING":
            self._send("PONG :" + (params[-1] if params else ""))
        elif cmd == "001":  # welcome: logged in
            self._send(f"JOIN {self.address.channel}")
        elif cmd == "433":  # nickname in use
            self.nick = (self.nick + "_")[:30]
            self._send(f"NICK {self.nick}")
        elif cmd == "JOIN" and sender.lower() == self.nick.lower():
            self.state = "connected"
            self.counts["joins"] += 1
            self.joined.set()
            self.log(f"chat: reading {self.address}")
        elif cmd in ("464", "465", "474", "475", "471", "473"):  # bad password, banned, cannot join
            raise ChatError(f"the server refused: {' '.join(params[1:])[:200]}")
        elif cmd == "PRIVMSG":
            if len(params) != 2 or not sender:
                self.counts["malformed"] += 1
            elif params[0].lower() == self.address.channel:
                self.counts["messages"] += 1
                self.on_message(self.clock(), sender, params[1])
