"""One connection to CamillaDSP: one request at a time, each reply by a deadline.

``Link.open`` connects, asks ``GetVersion`` and picks the command forms for
that version and the fader (``protocol.Commands``). ``call`` sends one
command and returns the value of its reply. A reply that does not come in
time, or that is not the reply to this command, ends the connection: a
late reply must never pass for the answer to the next request. A reply
that says the command failed (``ReplyError`` kind ``error`` or
``invalid``) leaves the connection open. Everything runs on the caller's
thread; only ``abort`` may come from another one.
"""

import time

from streamerbrainz.camilladsp import protocol
from streamerbrainz.camilladsp.policy import Reading
from streamerbrainz.camilladsp.protocol import NO_ARGUMENT, ReplyError
from streamerbrainz.lib.websocket import WebSocket, WebSocketError

MAX_MESSAGE = 4 * 1024 * 1024  # a GetConfig answer can be large; volume replies are tiny


class Link:
    """A connection to the CamillaDSP at ``url``; ``timeout`` bounds the connect and each reply."""

    def __init__(self, url, timeout, fader="main"):
        self.url = url
        self.timeout = timeout
        self.fader = fader
        self.socket = WebSocket(url, MAX_MESSAGE, name="CamillaDSP at %s" % _peer(url))
        self.version = ""
        self.commands = None

    def open(self, deadline=None):
        """Connect and learn the version; raise WebSocketError or ReplyError."""
        self.socket.open(self._seconds(deadline))
        value = self.call("GetVersion", deadline=deadline)
        try:
            version = protocol.parse_version(value)
        except ValueError as err:
            self.abort()
            raise ReplyError("malformed", "GetVersion", str(err)) from None
        self.version = ".".join(str(number) for number in version)
        self.commands = protocol.Commands(version, self.fader)
        return self

    def call(self, command, argument=NO_ARGUMENT, deadline=None):
        """Send one command and return its reply's value, by ``deadline`` (monotonic)."""
        deadline = self._deadline(deadline)
        try:
            self.socket.send_text(protocol.encode(command, argument), deadline)
            text = self.socket.receive(deadline)
        except WebSocketError:
            self.abort()
            raise
        if not isinstance(text, str):
            self.abort()
            raise ReplyError("malformed", command, "the reply is not text")
        try:
            return protocol.decode(command, text)
        except ReplyError as err:
            if err.kind == "malformed":
                self.abort()
            raise

    def send(self, form, deadline=None):
        """Call a ``(command, argument)`` pair made by ``Commands``."""
        return self.call(form[0], form[1], deadline)

    def read(self, deadline=None):
        """The fader's volume and mute now, as a ``Reading``."""
        return self._read(self.commands, deadline)

    def _read(self, commands, deadline):
        form = commands.get_volume()
        volume = commands.read_volume(form[0], self.send(form, deadline))
        form = commands.get_mute()
        mute = commands.read_mute(form[0], self.send(form, deadline))
        return Reading(volume, mute)

    def config_path(self, deadline=None):
        command = "GetConfigFilePath" if self.commands.supported else "GetConfigName"
        value = self.call(command, deadline=deadline)
        return value if isinstance(value, str) else ""

    def faders(self, deadline=None):
        """Every fader as ``(name, Reading)``, one command per value on versions without
        GetFaders."""
        commands = self.commands
        if commands.has_get_faders:
            value = self.call("GetFaders", deadline=deadline)
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                self.abort()
                raise ReplyError("malformed", "GetFaders", "the faders are not a list")
            return [(name, Reading(protocol.volume_of("GetFaders", item.get("volume")),
                                   protocol.mute_of("GetFaders", item.get("mute"))))
                    for name, item in zip(protocol.FADERS, value)]
        return [(name, self._read(protocol.Commands(commands.version, name), deadline))
                for name in protocol.FADERS]

    def abort(self):
        """Cut the connection now, from any thread."""
        self.socket.abort()

    def close(self, timeout=0.5):
        self.socket.close(timeout)

    @property
    def connected(self):
        return self.socket.connected

    def _deadline(self, deadline):
        return time.monotonic() + self.timeout if deadline is None else deadline

    def _seconds(self, deadline):
        if deadline is None:
            return self.timeout
        return max(0.001, deadline - time.monotonic())


def _peer(url):
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rpartition("@")[2]


__all__ = ["Link", "ReplyError", "WebSocketError"]
