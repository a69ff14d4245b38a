"""A stand-in CamillaDSP: its websocket commands and replies, by version, with faults on demand.

``StandIn`` serves on a ``WsServer`` and answers as CamillaDSP does in the
fact sheet (``audio-chain-protocol.md`` §1): five faders, each a volume
in dB (clamped to -150..+50) and a mute; the forms each major version
knows (1.x no faders, 2.x no ``GetFaders`` and no limits, 3.x and 4.x
both), ``Error`` results up to 3.x and named ones from 4.x, ``Invalid``
for what a version does not understand. It records every command with
its time (``commands``), lets a test play the user at the knob
(``set_volume``), the sound at the capture side (``set_peaks``), and
break things: a command that stalls, fails or hangs up (``fail``), a
drop after some commands (``drop_after``), refused connections
(``refuse``), a restart that keeps the volumes as a statefile would.
"""

import collections
import json
import threading
import time

from tests.support import wsserver

FADERS = 5
SILENCE = [-120.0, -120.0]
Command = collections.namedtuple("Command", "name argument at connection")

# What each major version does not understand (answered with Invalid).
_NOT_IN_1 = {"GetFaderVolume", "SetFaderVolume", "GetFaderMute", "SetFaderMute",
             "AdjustFaderVolume", "ToggleMute", "ToggleFaderMute", "AdjustVolume", "GetFaders",
             "GetConfigFilePath", "GetCaptureSignalPeakSinceLast"}
_NOT_IN_2 = {"GetFaders"}
FAULTS = ("stall", "invalid", "error", "malformed", "garbage", "hangup", "reset")


class StandIn:
    """A CamillaDSP at ``url``; ``version`` picks the reply forms."""

    def __init__(self, version="4.1.3", volume=0.0, mute=False, config_path="/etc/camilladsp/"
                 "config.yml", state="Running"):
        self.version = version
        self.major = int(version.split(".")[0])
        self.config_path = config_path
        self.state = state
        self._lock = threading.Condition()
        self._volumes = [float(volume)] + [0.0] * (FADERS - 1)
        self._mutes = [bool(mute)] + [False] * (FADERS - 1)
        self._peaks = list(SILENCE)
        self._fresh = set()  # connections that have not read the newest peaks
        self._faults = {}  # command name -> [kind, times left or None]
        self._drop_after = None  # (connection, commands left)
        self._commands = []
        self.server = wsserver.WsServer(self._respond)

    # -- life cycle -------------------------------------------------------------

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.server.port

    @property
    def connections(self):
        return self.server.connections

    # -- the world around it ----------------------------------------------------------

    def set_volume(self, db, fader=0):
        """The user turns the knob (another client, CamillaGUI)."""
        with self._lock:
            self._volumes[fader] = _clamp(db)

    def set_mute(self, mute, fader=0):
        with self._lock:
            self._mutes[fader] = bool(mute)

    def volume(self, fader=0):
        with self._lock:
            return self._volumes[fader]

    def mute(self, fader=0):
        with self._lock:
            return self._mutes[fader]

    def set_peaks(self, peaks):
        """Sound (or silence) at the capture side from now on: new data for every client."""
        with self._lock:
            self._peaks = list(peaks)
            self._fresh = set(range(1, self.server.connections + 64))

    def fail(self, name, kind, times=None):
        """Answer ``name`` with fault ``kind`` (see FAULTS), ``times`` times or always."""
        if kind not in FAULTS:
            raise ValueError("unknown fault %r" % kind)
        with self._lock:
            self._faults[name] = [kind, times]

    def heal(self, name=None):
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def drop_after(self, count):
        """Hang up once ``count`` more commands have been answered on any connection."""
        with self._lock:
            self._drop_after = count

    def refuse(self, refusing=True):
        """Refuse new connections (a 404 instead of the 101) on the same port, or accept again."""
        self.server.set_handshake("status" if refusing else None)

    def restart(self):
        """Every connection dropped; the volumes kept, as CamillaDSP's statefile keeps them."""
        self.server.hang_up_all()

    # -- what it saw ------------------------------------------------------------------

    def commands(self, *names):
        """Every command received (only those named, when names are given)."""
        with self._lock:
            return [c for c in self._commands if not names or c.name in names]

    def changes(self):
        """The commands that change a volume or a mute, as (name, argument)."""
        return [(c.name, c.argument) for c in self.commands()
                if c.name.startswith(("Set", "Adjust", "Toggle"))]

    def wait_for(self, predicate, timeout=5.0):
        """Wait until ``predicate(self)`` holds; return whether it did."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self), timeout)

    def wait_for_command(self, name, count=1, timeout=5.0):
        """The ``count``-th command called ``name``, once it came (AssertionError if not)."""
        if not self.wait_for(lambda s: len(s._named(name)) >= count, timeout):
            raise AssertionError("CamillaDSP got %d %s, not %d; it got %s" % (
                len(self._named(name)), name, count, [c.name for c in self.commands()]))
        return self._named(name)[count - 1]

    def _named(self, name):
        return [c for c in self._commands if c.name == name]

    # -- answering ---------------------------------------------------------------------

    def _respond(self, message):
        connection = self.server.received[-1].connection
        try:
            request = json.loads(message)
        except ValueError:
            return [json.dumps({"Invalid": {"error": "invalid JSON"}})]
        if isinstance(request, str):
            name, argument = request, None
        elif isinstance(request, dict) and len(request) == 1:
            (name, argument), = request.items()
        else:
            return [json.dumps({"Invalid": {"error": "not a command"}})]
        with self._lock:
            self._commands.append(Command(name, argument, time.monotonic(), connection))
            fault = self._fault(name)
            reply = self._fault_reply(fault, name) if fault else self._answer(name, argument,
                                                                              connection)
            if self._drop_after is not None:
                self._drop_after -= 1
                if self._drop_after <= 0:
                    self._drop_after = None
                    reply = reply + [wsserver.HANGUP]
            self._lock.notify_all()
        return reply

    def _fault(self, name):
        entry = self._faults.get(name)
        if entry is None:
            return None
        kind, times = entry
        if times is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del self._faults[name]
        return kind

    def _fault_reply(self, kind, name):
        if kind == "stall":
            return [wsserver.STALL]
        if kind == "hangup":
            return [wsserver.HANGUP]
        if kind == "reset":
            return [wsserver.RESET]
        if kind == "invalid":
            return [json.dumps({"Invalid": {"error": "unknown variant `%s`" % name}})]
        if kind == "error":
            return [self._error(name, "InvalidValueError", "something went wrong")]
        if kind == "garbage":
            return ["this is not json {"]
        return [json.dumps({"GetState": {"result": "Ok", "value": "Running"}})]  # malformed

    def _error(self, name, error, message=None):
        if self.major < 4:
            result = "Error"
        else:
            result = error if message is None else {error: message}
        return json.dumps({name: {"result": result}})

    def _answer(self, name, argument, connection):
        if (name in _NOT_IN_1 and self.major < 2) or (name in _NOT_IN_2 and self.major < 3) \
                or (self.major >= 2 and name == "GetConfigName"):
            return [json.dumps({"Invalid": {"error": "unknown variant `%s`" % name}})]
        handler = getattr(self, "_do_" + name, None)
        if handler is None:
            return [json.dumps({"Invalid": {"error": "unknown variant `%s`" % name}})]
        try:
            value = handler(argument, connection)
        except _Refused as refused:
            return [self._error(name, refused.error, refused.message)]
        body = {"result": "Ok"}
        if value is not _NONE:
            body["value"] = value
        return [json.dumps({name: body})]

    # One method per command: the argument in, the value out (_NONE: no value).

    def _do_GetVersion(self, argument, connection):
        return self.version

    def _do_GetState(self, argument, connection):
        return self.state

    def _do_GetConfigFilePath(self, argument, connection):
        return self.config_path

    _do_GetConfigName = _do_GetConfigFilePath

    def _do_GetVolume(self, argument, connection):
        return self._volumes[0]

    def _do_SetVolume(self, argument, connection):
        self._volumes[0] = _clamp(_number(argument))
        return _NONE

    def _do_GetMute(self, argument, connection):
        return self._mutes[0]

    def _do_SetMute(self, argument, connection):
        self._mutes[0] = _flag(argument)
        return _NONE

    def _do_ToggleMute(self, argument, connection):
        self._mutes[0] = not self._mutes[0]
        return self._mutes[0]

    def _do_AdjustVolume(self, argument, connection):
        self._volumes[0] = self._adjusted(0, argument)
        return self._volumes[0]

    def _do_GetFaders(self, argument, connection):
        return [{"volume": v, "mute": m} for v, m in zip(self._volumes, self._mutes)]

    def _do_GetFaderVolume(self, argument, connection):
        fader = self._fader(argument)
        return [fader, self._volumes[fader]]

    def _do_SetFaderVolume(self, argument, connection):
        fader, value = _pair(argument)
        self._volumes[self._fader(fader)] = _clamp(_number(value))
        return _NONE

    def _do_GetFaderMute(self, argument, connection):
        fader = self._fader(argument)
        return [fader, self._mutes[fader]]

    def _do_SetFaderMute(self, argument, connection):
        fader, value = _pair(argument)
        self._mutes[self._fader(fader)] = _flag(value)
        return _NONE

    def _do_AdjustFaderVolume(self, argument, connection):
        fader, change = _pair(argument)
        fader = self._fader(fader)
        self._volumes[fader] = self._adjusted(fader, change)
        return [fader, self._volumes[fader]]

    def _do_GetCaptureSignalPeak(self, argument, connection):
        return list(self._peaks)

    def _do_GetCaptureSignalPeakSinceLast(self, argument, connection):
        if connection not in self._fresh:
            return []
        self._fresh.discard(connection)
        return list(self._peaks)

    def _fader(self, index):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < FADERS:
            raise _Refused("InvalidFaderError")
        return index

    def _adjusted(self, fader, change):
        if isinstance(change, list):
            if self.major < 3 or len(change) != 3:
                raise _Refused("InvalidValueError", "limits need 3.0")
            delta, low, high = (_number(item) for item in change)
            if high < low:
                raise _Refused("InvalidValueError", "max < min")
            return max(low, min(high, _clamp(self._volumes[fader] + delta)))
        return _clamp(self._volumes[fader] + _number(change))


class _Refused(Exception):
    def __init__(self, error, message=None):
        super().__init__(error)
        self.error = error
        self.message = message


_NONE = object()


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refused("InvalidValueError", "not a number")
    return float(value)


def _flag(value):
    if not isinstance(value, bool):
        raise _Refused("InvalidValueError", "not a bool")
    return value


def _pair(argument):
    if not isinstance(argument, list) or len(argument) != 2:
        raise _Refused("InvalidValueError", "not a pair")
    return argument


def _clamp(db):
    return max(-150.0, min(50.0, float(db)))
