"""A real IRC server (miniircd, started on a free port) and bots that join a channel and talk: the chat side
of tests/test_chat.py and of tools/bench_chat.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IrcServer:
    """miniircd on 127.0.0.1:port; :meth:`restart` drops every connection and listens again on the same port."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        root = ["--setuid", "root"] if os.geteuid() == 0 else []  # it refuses root unless told (CI runs as root)
        self.proc = subprocess.Popen([sys.executable, "-m", "miniircd", "--listen", "127.0.0.1", "--ports",
                                      str(self.port), *root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"miniircd did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, channel: str = "#hakisa") -> str:
        return f"irc://127.0.0.1:{self.port}/{channel}"


class Bot:
    """One chat user: connects, joins ``channel`` and says things."""

    def __init__(self, port: int, nick: str, channel: str = "#hakisa"):
        self.nick, self.channel = nick, channel
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :bot\r\n".encode())
        self._wait_for(" 001 ")
        self.sock.sendall(f"JOIN {channel}\r\n".encode())
        self._wait_for(" 366 ")  # end of the channel's names: joined
        self.sock.setblocking(False)

    def _wait_for(self, what: str, timeout: float = 10) -> None:
        buf, end = b"", time.monotonic() + timeout
        while what.encode() not in buf:
            if time.monotonic() > end:
                raise RuntimeError(f"bot {self.nick}: no {what.strip()} from the server")
            buf += self.sock.recv(4096)
            for line in buf.split(b"\r\n"):
                if line.startswith(b"PING"):
                    self.sock.sendall(b"PONG" + line[4:] + b"\r\n")

    def say(self, text: str) -> float:
        """Send one message to the channel; returns when (time.monotonic) it was sent: taken before the send,
        so no reader can have it earlier."""
        data = f"PRIVMSG {self.channel} :{text}\r\n".encode()
        sent = time.monotonic()
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)
        self.drain()
        return sent

    def drain(self) -> None:
        """Read (and forget) what the server sent, answering its pings."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return
                if b"PING" in data:
                    for line in data.split(b"\r\n"):
                        if line.startswith(b"PING"):
                            self.sock.sendall(b"PONG" + line[4:] + b"\r\n")
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def wait_until(fn, timeout: float = 15.0, what: str = "it"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
