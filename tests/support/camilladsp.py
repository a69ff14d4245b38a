"""A stand-in CamillaDSP for tests: its websocket commands, by version, with faults on demand.

The daemon talks to CamillaDSP over a websocket (``streamerbrainz.camilladsp``).
Its tests need a server that answers the way each CamillaDSP version does,
keeps the volume a user may change behind the daemon's back, shows whether
sound arrives, records what the daemon sent and when, and breaks on demand.
``StandInCamillaDSP`` is that server. It serves on ``tests.support.wsserver``
(the frames and the handshake are that module's) and answers in the wire
forms of the fact sheet (``audio-chain-protocol.md`` section 1):

- five faders (0 = Main, 1..4 = Aux1..Aux4), each a volume in dB, clamped
  to -150..+50, and a mute;
- what each major version knows: 1.x has no faders, no ``ToggleMute``, no
  ``AdjustVolume``, ``GetConfigName`` instead of ``GetConfigFilePath`` and
  no ``GetCaptureSignalPeakSinceLast``; 2.x has faders and plain deltas but
  no ``GetFaders`` and no ``[delta, min, max]`` limits; 3.x and 4.x have
  all. What a version does not know is answered ``{"Invalid": ...}``, as
  are bad JSON, NaN, unknown names and arguments of the wrong type; the
  connection stays open;
- error results: ``"Error"`` up to 3.x; from 4.x ``"InvalidFaderError"``
  (a fader index of 5 or more) and ``{"InvalidValueError": msg}`` (limits
  with max < min). Get, Toggle and Adjust replies keep a value on error,
  as CamillaDSP's do;
- binary frames and the text ``"None"`` get no reply at all.

Known commands: GetVersion, GetState, GetConfigName / GetConfigFilePath,
Get/Set/AdjustVolume, Get/Set/ToggleMute, GetFaders, Get/Set/AdjustFaderVolume,
Get/Set/ToggleFaderMute, GetCaptureSignalPeak, GetCaptureSignalPeakSinceLast.
Any other is answered ``Invalid``, as by a version that lacks it.

Faults (``fail``, ``drop_after``, ``refuse``, ``restart``) can be set at
any time, from the test's thread, while the daemon is connected. A refused
connection is reset right after the TCP accept, so the client sees a
network error at once (as close to "connection refused" as a listening
socket that stays on its port can get).
"""

import collections
import json
import socket
import struct
import threading
import time

from tests.support import wsserver

FADERS = 5
MIN_DB, MAX_DB = -150.0, 50.0
SILENCE = (-120.0, -120.0)
DEFAULT_CONFIG = "/etc/camilladsp/config.yml"
FAULTS = ("stall", "invalid", "error", "malformed", "wrong_type", "garbage", "hangup", "reset")

Command = collections.namedtuple("Command", "name argument at connection text")
Command.__doc__ = """One command received: ``name`` (None when the text was not a command),
``argument`` (None when it had none), ``at`` (time.monotonic()), ``connection``
(1 for the first connection accepted, then 2, ...) and the ``text`` as sent."""

# name: (first major version that knows it, last one or None, whether it takes an argument)
_COMMANDS = {
    "GetVersion": (1, None, False),
    "GetState": (1, None, False),
    "GetConfigName": (1, 1, False),
    "GetConfigFilePath": (2, None, False),
    "GetVolume": (1, None, False),
    "SetVolume": (1, None, True),
    "AdjustVolume": (2, None, True),
    "GetMute": (1, None, False),
    "SetMute": (1, None, True),
    "ToggleMute": (2, None, False),
    "GetFaders": (3, None, False),
    "GetFaderVolume": (2, None, True),
    "SetFaderVolume": (2, None, True),
    "AdjustFaderVolume": (2, None, True),
    "GetFaderMute": (2, None, True),
    "SetFaderMute": (2, None, True),
    "ToggleFaderMute": (2, None, True),
    "GetCaptureSignalPeak": (1, None, False),
    "GetCaptureSignalPeakSinceLast": (2, None, False),
}

_NO_VALUE = object()  # a reply without "value"


class _Invalid(Exception):
    """Not a command this version understands: the reply is ``Invalid``."""


class _Failed(Exception):
    """The command failed: ``error`` (4.x name), optional ``message`` and reply ``value``."""

    def __init__(self, error, message=None, value=_NO_VALUE):
        super().__init__(error)
        self.error = error
        self.message = message
        self.value = value


class _Link:
    """One client connection as the stand-in sees it."""

    def __init__(self, number, sock):
        self.number = number
        self.sock = sock
        self.dropped = threading.Event()  # ends a stall
        self.peaks_seen = -1  # the peaks generation its last SinceLast returned


class _Server(wsserver.WsServer):
    """A ``WsServer`` that tells the stand-in when a connection starts and ends."""

    def __init__(self, owner):
        super().__init__(owner._respond)
        self._owner = owner

    def _connection(self, sock, number):
        link = self._owner._opened(sock)
        if link is None:  # refused: closing with linger 0 sends a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        try:
            super()._connection(sock, number)
        finally:
            self._owner._closed(link)


class StandInCamillaDSP:
    """A CamillaDSP of ``version`` ("X.Y.Z") at ``url``; a context manager.

    ``volume`` and ``mute`` are Main's at start (the Aux faders start at
    0.0 dB, unmuted), ``config_path`` is what GetConfigFilePath answers
    (None: null), ``state`` what GetState answers, ``peaks`` the capture
    peaks in dB, one per channel.
    """

    def __init__(self, version="4.1.3", volume=0.0, mute=False, config_path=DEFAULT_CONFIG,
                 state="Running", peaks=SILENCE):
        self.version = version
        self.major = _major(version)
        self.config_path = config_path
        self._lock = threading.Condition()
        self._local = threading.local()
        self._state = state
        self._volumes = [_clamp(volume)] + [0.0] * (FADERS - 1)
        self._mutes = [bool(mute)] + [False] * (FADERS - 1)
        self._peaks = [float(level) for level in peaks]
        self._peaks_generation = 0
        self._faults = {}  # command name -> [kind, times left or None, apply]
        self._drop_left = None
        self._refusing = False
        self._links = {}  # open connections by number
        self._connections = 0
        self._refused = 0
        self._commands = []
        self.server = _Server(self)

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
    def port(self):
        return self.server.port

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.server.port

    # -- the world around the daemon -------------------------------------------

    def set_volume(self, db, fader=0):
        """The user turns the knob from another client (CamillaGUI, a remote)."""
        with self._lock:
            self._volumes[_index_of(fader)] = _clamp(db)

    def set_mute(self, mute, fader=0):
        with self._lock:
            self._mutes[_index_of(fader)] = bool(mute)

    def volume(self, fader=0):
        with self._lock:
            return self._volumes[_index_of(fader)]

    def mute(self, fader=0):
        with self._lock:
            return self._mutes[_index_of(fader)]

    def faders(self):
        """Every fader as ``(volume, mute)``, Main first."""
        with self._lock:
            return list(zip(self._volumes, self._mutes))

    def set_state(self, state):
        """What GetState answers from now on: Running, Paused, Inactive, Starting, Stalled."""
        with self._lock:
            self._state = state

    def set_capture_peaks(self, peaks):
        """New capture data: GetCaptureSignalPeakSinceLast returns it once per connection."""
        with self._lock:
            self._peaks = [float(level) for level in peaks]
            self._peaks_generation += 1

    set_peaks = set_capture_peaks

    # -- faults -----------------------------------------------------------------

    def fail(self, name, kind, times=None, apply=False):
        """Answer command ``name`` with fault ``kind`` (``FAULTS``), ``times`` times or always.

        stall: no answer ever (the connection stays open); invalid: ``Invalid``;
        error: this version's error result; malformed: the reply to another
        command; wrong_type: an Ok reply whose value has the wrong type;
        garbage: text that is not JSON; hangup: TCP closed without a close
        frame; reset: TCP reset. With ``apply`` the command takes effect
        first (the change is made, its reply is lost).
        """
        if kind not in FAULTS:
            raise ValueError("unknown fault %r (one of %s)" % (kind, ", ".join(FAULTS)))
        if times is not None and times < 1:
            raise ValueError("times must be 1 or more, or None for always")
        with self._lock:
            self._faults[name] = [kind, times, apply]

    def heal(self, name=None):
        """No more faults for ``name`` (for every command when None)."""
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def drop_after(self, count):
        """Answer ``count`` more commands, then hang up (the count-th one's connection).

        The count starts now, over all connections; the connection is closed
        without a close frame, as by a CamillaDSP that restarts.
        """
        if count < 1:
            raise ValueError("count must be 1 or more")
        with self._lock:
            self._drop_left = count

    def refuse(self, refusing=True):
        """Refuse new connections (reset at once), or accept them again on the same port."""
        with self._lock:
            self._refusing = bool(refusing)

    def restart(self, statefile=True, volume=None, mute=None, timeout=5.0):
        """CamillaDSP restarts: every connection dropped (no close frame), new ones accepted.

        With a ``statefile`` the faders keep their volumes and mutes; without
        one they come back at 0.0 dB, unmuted. ``volume`` and ``mute`` set
        Main as ``--gain`` and ``--mute`` would. A pending ``drop_after`` is
        cancelled. Returns once the old connections are gone on this side.
        """
        with self._lock:
            self._drop_left = None
            if not statefile:
                self._volumes = [0.0] * FADERS
                self._mutes = [False] * FADERS
            if volume is not None:
                self._volumes[0] = _clamp(volume)
            if mute is not None:
                self._mutes[0] = bool(mute)
            links = list(self._links.values())
        for link in links:
            link.dropped.set()
            _shutdown(link.sock)
        return self.wait_for(lambda dsp: not any(link.number in self._links for link in links),
                             timeout)

    # -- what it saw ------------------------------------------------------------

    @property
    def connections(self):
        """How many connections were accepted (refused ones not counted)."""
        with self._lock:
            return self._connections

    @property
    def refused(self):
        """How many connections were refused."""
        with self._lock:
            return self._refused

    @property
    def errors(self):
        """What the websocket server found wrong (bad handshakes, unmasked frames)."""
        return list(self.server.errors)

    def commands(self, *names):
        """Every command received, in order of arrival (only those ``names`` when given)."""
        with self._lock:
            return [c for c in self._commands if not names or c.name in names]

    def commands_named(self, *names):
        with self._lock:
            return [c for c in self._commands if c.name in names]

    def changes(self):
        """The commands that change a volume or a mute, as ``(name, argument)``."""
        return [(c.name, c.argument) for c in self.commands()
                if c.name and c.name.startswith(("Set", "Adjust", "Toggle"))]

    def wait_for(self, predicate, timeout=5.0):
        """Wait until ``predicate(self)`` holds (called under the lock); return whether it did."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self), timeout)

    def wait_for_connections(self, count, timeout=5.0):
        """Wait until ``count`` connections in all were accepted; return whether they were."""
        return self.wait_for(lambda dsp: dsp._connections >= count, timeout)

    @property
    def command_count(self):
        """How many commands arrived so far (an ``after`` for ``wait_for_command``)."""
        with self._lock:
            return len(self._commands)

    def wait_for_command(self, match, count=1, timeout=5.0, since=None, after=0):
        """The ``count``-th command matching ``match`` (a name, or a predicate on a Command).

        Only commands that arrived at or after ``since`` (time.monotonic())
        count when given, and only those after the first ``after`` (a
        ``command_count``: the bench's long runs look at the new ones only).
        Raises AssertionError when none came in time.
        """
        test = match if callable(match) else (lambda command: command.name == match)

        def found():
            hits = [c for c in self._commands[after:]
                    if (since is None or c.at >= since) and test(c)]
            return hits[count - 1] if len(hits) >= count else None

        with self._lock:
            command = self._lock.wait_for(found, timeout)
            if command is None:
                raise AssertionError("the stand-in CamillaDSP got no %s (#%d) within %gs; "
                                     "it got %s" % (getattr(match, "__name__", match), count,
                                                    timeout, [c.name for c in self._commands]))
            return command

    # -- connections ------------------------------------------------------------

    def _opened(self, sock):
        """A new connection (on its own thread): its ``_Link``, or None to refuse it."""
        with self._lock:
            if self._refusing:
                self._refused += 1
                self._lock.notify_all()
                return None
            self._connections += 1
            link = _Link(self._connections, sock)
            self._links[link.number] = link
            self._lock.notify_all()
        self._local.link = link
        return link

    def _closed(self, link):
        with self._lock:
            self._links.pop(link.number, None)
            self._lock.notify_all()

    # -- answering --------------------------------------------------------------

    def _respond(self, message):
        """wsserver's responder: the replies (frames, actions) to one message."""
        if not isinstance(message, str) or message == '"None"':
            return []  # binary frames and the internal no-op get no reply
        link = self._local.link
        with self._lock:
            try:
                name, argument = _parse(message)
            except _Invalid as err:
                name, argument, replies = None, None, [_invalid(err)]
            self._commands.append(Command(name, argument, time.monotonic(), link.number,
                                          message))
            if name is not None:
                replies = self._replies(name, argument, link)
            if self._drop_left is not None:
                self._drop_left -= 1
                if self._drop_left == 0:
                    self._drop_left = None
                    replies.append(wsserver.HANGUP)
            self._lock.notify_all()
        return replies

    def _replies(self, name, argument, link):
        fault = self._take_fault(name)
        if fault is None:
            return [self._answer(name, argument, link)]
        kind, apply = fault
        if apply:
            self._answer(name, argument, link)
        return self._faulty(kind, name, link)

    def _take_fault(self, name):
        """``(kind, apply)`` of the fault for ``name`` now, or None; counts it down."""
        entry = self._faults.get(name)
        if entry is None:
            return None
        kind, times, apply = entry
        if times is not None:
            entry[1] -= 1
            if entry[1] == 0:
                del self._faults[name]
        return kind, apply

    def _faulty(self, kind, name, link):
        if kind == "stall":
            return [wsserver.wait(link.dropped), wsserver.HANGUP]
        if kind == "hangup":
            return [wsserver.HANGUP]
        if kind == "reset":
            return [wsserver.RESET]
        if kind == "invalid":
            return [_invalid("unknown variant `%s` (a stand-in fault)" % name)]
        if kind == "error":
            return [_reply(name, self._result("InvalidValueError", "something went wrong"))]
        if kind == "malformed":
            other = "GetVersion" if name == "GetState" else "GetState"
            return [_reply(other, "Ok", self._state if other == "GetState" else self.version)]
        if kind == "wrong_type":
            return [_reply(name, "Ok", {"unexpected": True})]
        return ["}{ not JSON, a stand-in fault"]  # garbage

    def _answer(self, name, argument, link):
        """The one reply text to a well-formed command."""
        known = _COMMANDS.get(name)
        if known is None or not self._knows(known):
            return _invalid("unknown variant `%s`" % name)
        takes_argument = known[2]
        if takes_argument != (argument is not None):
            return _invalid("invalid type for `%s`" % name)
        handler = getattr(self, "_cmd_" + name)
        try:
            value = handler(argument, link) if takes_argument else handler(link)
        except _Invalid as err:
            return _invalid(err)
        except _Failed as failed:
            return _reply(name, self._result(failed.error, failed.message), failed.value)
        return _reply(name, "Ok", value)

    def _knows(self, known):
        first, last = known[0], known[1]
        return self.major >= first and (last is None or self.major <= last)

    def _result(self, error, message=None):
        """This version's error result: "Error" up to 3.x, the named one from 4.x."""
        if self.major < 4:
            return "Error"
        return error if message is None else {error: message}

    # -- the commands: each returns the reply's value (_NO_VALUE: none) ---------

    def _cmd_GetVersion(self, link):
        return self.version

    def _cmd_GetState(self, link):
        return self._state

    def _cmd_GetConfigFilePath(self, link):
        return self.config_path

    _cmd_GetConfigName = _cmd_GetConfigFilePath

    def _cmd_GetVolume(self, link):
        return self._volumes[0]

    def _cmd_SetVolume(self, argument, link):
        self._volumes[0] = _clamp(_number(argument))
        return _NO_VALUE

    def _cmd_AdjustVolume(self, argument, link):
        return self._adjust(0, self._change(argument), lambda db: db)

    def _cmd_GetMute(self, link):
        return self._mutes[0]

    def _cmd_SetMute(self, argument, link):
        self._mutes[0] = _flag(argument)
        return _NO_VALUE

    def _cmd_ToggleMute(self, link):
        self._mutes[0] = not self._mutes[0]
        return self._mutes[0]

    def _cmd_GetFaders(self, link):
        return [{"volume": v, "mute": m} for v, m in zip(self._volumes, self._mutes)]

    def _cmd_GetFaderVolume(self, argument, link):
        fader = self._fader(_index(argument), [argument, 0.0])
        return [fader, self._volumes[fader]]

    def _cmd_SetFaderVolume(self, argument, link):
        fader, db = _pair(argument, _index, _number)
        self._volumes[self._fader(fader)] = _clamp(db)
        return _NO_VALUE

    def _cmd_AdjustFaderVolume(self, argument, link):
        fader, change = _pair(argument, _index, self._change)
        fader = self._fader(fader, [fader, change[0]])
        return self._adjust(fader, change, lambda db: [fader, db])

    def _cmd_GetFaderMute(self, argument, link):
        fader = self._fader(_index(argument), [argument, False])
        return [fader, self._mutes[fader]]

    def _cmd_SetFaderMute(self, argument, link):
        fader, mute = _pair(argument, _index, _flag)
        self._mutes[self._fader(fader)] = mute
        return _NO_VALUE

    def _cmd_ToggleFaderMute(self, argument, link):
        fader = self._fader(_index(argument), [argument, False])
        self._mutes[fader] = not self._mutes[fader]
        return [fader, self._mutes[fader]]

    def _cmd_GetCaptureSignalPeak(self, link):
        return list(self._peaks)

    def _cmd_GetCaptureSignalPeakSinceLast(self, link):
        if link.peaks_seen == self._peaks_generation:
            return []
        link.peaks_seen = self._peaks_generation
        return list(self._peaks)

    # -- argument checks --------------------------------------------------------

    def _fader(self, index, value=_NO_VALUE):
        """``index`` if it names a fader; else the command fails, its reply keeping ``value``."""
        if index >= FADERS:
            raise _Failed("InvalidFaderError", value=value)
        return index

    def _change(self, argument):
        """``(delta, low, high)`` of an Adjust argument; low and high None for a plain delta."""
        if isinstance(argument, list) and self.major >= 3:
            if len(argument) != 3:
                raise _Invalid("invalid length %d, expected [delta, min, max]" % len(argument))
            delta, low, high = (_number(item) for item in argument)
            return delta, low, high
        return _number(argument), None, None

    def _adjust(self, fader, change, shape):
        """Move ``fader`` by ``change``; its new volume as ``shape(db)`` for the reply."""
        delta, low, high = change
        now = self._volumes[fader]
        if low is not None and high < low:
            raise _Failed("InvalidValueError", "max is below min", shape(now))
        db = _clamp(now + delta)
        if low is not None:
            db = max(low, min(high, db))
        self._volumes[fader] = db
        return shape(db)


StandIn = StandInCamillaDSP  # the name the service tests use


def _parse(text):
    """``(name, argument)`` of a command's text (argument None when it has none)."""
    try:
        request = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as err:
        raise _Invalid(str(err)) from None
    if isinstance(request, str):
        return request, None
    if isinstance(request, dict) and len(request) == 1:
        (name, argument), = request.items()
        if argument is None:
            raise _Invalid("invalid type: null for `%s`" % name)
        return name, argument
    raise _Invalid("invalid type: expected a command name or a one-key object")


def _not_json(constant):
    raise ValueError("%s is not JSON" % constant)


def _reply(name, result, value=_NO_VALUE):
    body = {"result": result}
    if value is not _NO_VALUE:
        body["value"] = value
    return json.dumps({name: body})


def _invalid(error):
    return json.dumps({"Invalid": {"error": str(error)}})


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid("invalid type: %s, expected f32" % json.dumps(value))
    return float(value)


def _flag(value):
    if not isinstance(value, bool):
        raise _Invalid("invalid type: %s, expected a boolean" % json.dumps(value))
    return value


def _index(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid("invalid type: %s, expected usize" % json.dumps(value))
    return value


def _pair(argument, first, second):
    if not isinstance(argument, list) or len(argument) != 2:
        raise _Invalid("invalid type: %s, expected a tuple of size 2" % json.dumps(argument))
    return first(argument[0]), second(argument[1])


def _index_of(fader):
    if isinstance(fader, bool) or not isinstance(fader, int) or not 0 <= fader < FADERS:
        raise ValueError("a fader is 0 (Main) to %d, not %r" % (FADERS - 1, fader))
    return fader


def _clamp(db):
    return max(MIN_DB, min(MAX_DB, float(db)))


def _major(version):
    parts = str(version).split("-")[0].split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError("a CamillaDSP version is X.Y.Z, not %r" % (version,))
    return int(parts[0])


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
