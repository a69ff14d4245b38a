"""CamillaDSP's websocket commands and replies, as pure functions: no socket here.

A command is one JSON text frame: a string (``"GetVolume"``), or a one-key
object with its argument (``{"SetFaderVolume": [1, -20.0]}``). Every command
gets one reply keyed by its name, ``{"GetVolume": {"result": "Ok", "value":
-20.0}}``; ``result`` is ``"Ok"``, ``"Error"`` (1.x to 3.x), a 4.x error name
or a one-key object with a message; a command the server did not understand
(an older version, a typo) gets ``{"Invalid": {"error": ...}}``. Anything else
is a reply we cannot trust, and nothing is believed from it. The command
forms depend on the major version (``Commands``): 1.x has no Main volume,
2.x has faders but no ``GetFaders`` and no limits, 3.x and later have both.
"""

import json
import math

FADERS = ("main", "aux1", "aux2", "aux3", "aux4")
MIN_DB, MAX_DB = -150.0, 50.0  # what CamillaDSP clamps every volume to
NO_ARGUMENT = object()


class ReplyError(Exception):
    """A reply that says the command failed, or that cannot be read; one line, no secret.

    ``kind``: ``error`` (the command failed: ``name`` is CamillaDSP's result,
    e.g. ``InvalidFaderError``), ``invalid`` (the server did not understand
    the command) or ``malformed`` (not a reply to this command).
    """

    def __init__(self, kind, command, message, name=""):
        super().__init__("CamillaDSP %s: %s" % (command, message))
        self.kind = kind
        self.command = command
        self.name = name


def encode(command, argument=NO_ARGUMENT):
    """One command as the text of a frame; raises ValueError for NaN or infinity."""
    if argument is NO_ARGUMENT:
        return json.dumps(command)
    return json.dumps({command: argument}, allow_nan=False)


def decode(command, text):
    """The ``value`` of the reply to ``command`` (None when it has none), or raise ReplyError."""
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError):
        raise ReplyError("malformed", command, "the reply is not JSON") from None
    if not isinstance(reply, dict) or len(reply) != 1:
        raise ReplyError("malformed", command, "the reply is not one keyed object")
    (key, body), = reply.items()
    if key == "Invalid":
        detail = body.get("error", "") if isinstance(body, dict) else ""
        raise ReplyError("invalid", command, "not understood (%s)" % _short(detail or "no reason"),
                         "Invalid")
    if key != command:
        raise ReplyError("malformed", command, "the reply is for %s" % _short(key))
    if not isinstance(body, dict) or "result" not in body:
        raise ReplyError("malformed", command, "the reply has no result")
    result = body["result"]
    if result == "Ok":
        return body.get("value")
    if isinstance(result, str):
        raise ReplyError("error", command, "failed (%s)" % _short(result), result)
    if isinstance(result, dict) and len(result) == 1:
        (name, message), = result.items()
        raise ReplyError("error", command, "failed (%s: %s)" % (_short(name), _short(message)),
                         str(name))
    raise ReplyError("malformed", command, "the result cannot be read")


def _short(value, limit=200):
    text = value if isinstance(value, str) else json.dumps(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_version(text):
    """``(major, minor, patch)`` from a ``GetVersion`` value such as ``"4.1.3"``; ValueError else."""
    if not isinstance(text, str):
        raise ValueError("the version is not text")
    parts = text.strip().lstrip("v").split("-")[0].split(".")
    numbers = []
    for part in parts[:3]:
        if not part.isdigit() or len(part) > 6:
            raise ValueError("%r is not a version" % _short(text))
        numbers.append(int(part))
    if not numbers:
        raise ValueError("%r is not a version" % _short(text))
    return tuple(numbers + [0] * (3 - len(numbers)))


def volume_of(command, value):
    """A volume in dB from a reply value: a finite number, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ReplyError("malformed", command, "the volume is not a number")
    return float(value)


def mute_of(command, value):
    if not isinstance(value, bool):
        raise ReplyError("malformed", command, "the mute state is not true or false")
    return value


def peaks_of(command, value):
    """Capture peaks in dB, one per channel; an empty list when there is no new data yet."""
    if not isinstance(value, list):
        raise ReplyError("malformed", command, "the signal levels are not a list")
    return [volume_of(command, level) for level in value]


class Commands:
    """The command forms for one CamillaDSP version and one fader.

    Each method returns ``(command, argument)`` for ``encode``, and each
    ``read_*`` turns the reply's value into what it means. ``supported``
    is False for 1.x, which has no Main volume and no faders: the daemon
    says so and acts on nothing.
    """

    def __init__(self, version, fader="main"):
        self.version = version
        self.fader = fader
        self.index = FADERS.index(fader)
        major = version[0]
        self.supported = major >= 2
        self.has_limits = major >= 3
        self.has_get_faders = major >= 3
        self.has_peak_since_last = major >= 2

    def get_volume(self):
        if self.index == 0:
            return "GetVolume", NO_ARGUMENT
        return "GetFaderVolume", self.index

    def get_mute(self):
        if self.index == 0:
            return "GetMute", NO_ARGUMENT
        return "GetFaderMute", self.index

    def set_volume(self, db):
        db = clamp(db)
        if self.index == 0:
            return "SetVolume", db
        return "SetFaderVolume", [self.index, db]

    def set_mute(self, mute):
        if self.index == 0:
            return "SetMute", bool(mute)
        return "SetFaderMute", [self.index, bool(mute)]

    def cap_volume(self, low, high):
        """Keep the volume within ``[low, high]`` in one step (3.x and later only)."""
        if not self.has_limits:
            raise ValueError("CamillaDSP %d.x has no volume limits" % self.version[0])
        limits = [0.0, clamp(low), clamp(high)]
        if self.index == 0:
            return "AdjustVolume", limits
        return "AdjustFaderVolume", [self.index, limits]

    def capture_peak(self):
        if self.has_peak_since_last:
            return "GetCaptureSignalPeakSinceLast", NO_ARGUMENT
        return "GetCaptureSignalPeak", NO_ARGUMENT

    def read_volume(self, command, value):
        """The volume in a reply to ``get_volume``, ``cap_volume`` (or an Adjust*)."""
        return volume_of(command, self._fader_value(command, value))

    def read_mute(self, command, value):
        return mute_of(command, self._fader_value(command, value))

    def _fader_value(self, command, value):
        if not command.startswith(("GetFader", "AdjustFader", "ToggleFader")):
            return value
        if (not isinstance(value, list) or len(value) != 2 or isinstance(value[0], bool)
                or value[0] != self.index):
            raise ReplyError("malformed", command, "the reply is not for fader %d" % self.index)
        return value[1]


def clamp(db):
    """A volume within what CamillaDSP accepts; ValueError for NaN or infinity."""
    if isinstance(db, bool) or not isinstance(db, (int, float)) or not math.isfinite(db):
        raise ValueError("a volume must be a finite number of dB")
    return max(MIN_DB, min(MAX_DB, float(db)))
