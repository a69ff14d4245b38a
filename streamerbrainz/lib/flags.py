"""What a flag is, and the parsers that turn its raw strings into values.

Each room declares the flags it reads in its own ``flags.py``: a ``TITLE``
(the heading of its part of ``-help``), a ``SECTION`` (its part of the
settings file, where a key is the flag without ``KEY_PREFIX``, by default
the section and a dash), ``FLAGS``, a tuple of ``Flag``, and, when its
values need more than a type and bounds, ``check(values)``, which returns
its parsed ``Config`` attributes or raises ``ConfigError``. ``app.config``
gathers the rooms' tables into one; the command line, the
``STREAMERBRAINZ_*`` environment variables, the settings file, ``-help``,
the ``Config`` attributes and their defaults are all read from it. A flags
module imports this one alone, so reading a room's flags costs nothing else.
"""

import dataclasses
import math
import re

ENV_PREFIX = "STREAMERBRAINZ_"
KINDS = ("str", "int", "float", "bool", "list", "urls")


class ConfigError(Exception):
    """A usage or configuration error: one line, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str
    default: object
    help: str
    kind: str = "str"  # str, int, float, bool, list (repeatable, comma-separated) or urls
    metavar: str = ""
    bounds: tuple = ()  # int and float: (lowest, highest); 0 also allowed when off_at_zero
    off_at_zero: bool = False
    commands: tuple = ("run",)  # the sub-commands that read it
    field: object = None  # its Config attribute: None for the name in snake case, "" for none
    action: bool = False  # does something and exits (-help): no variable, no Config attribute
    live: bool = False  # SIGHUP applies a new value at once (else it waits for a restart)
    in_file: bool = True  # the settings file may set it (not a one-off like -since)

    @property
    def env(self):
        return ENV_PREFIX + self.name.upper().replace("-", "_")

    @property
    def attribute(self):
        """The name of the ``Config`` attribute that holds the value, or ""."""
        if self.field is not None:
            return self.field
        return "" if self.action else self.name.replace("-", "_")

    @property
    def typed_default(self):
        """The default as a user would type it: ``5``, ``false``, ``300``, "" for none."""
        return typed(self.default, self.kind)


def typed(value, kind="str"):
    """``value`` as a user types it on the command line or in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (tuple, list)):
        return (" " if kind == "urls" else ",").join(typed(item) for item in value)
    return str(value)


def convert(flag, raw, variable=""):
    """Turn one raw string (or list of strings) into the flag's type.

    ``variable`` names the environment variable ``raw`` came from, for the
    message when it is no value of the flag.
    """
    if flag.kind in ("list", "urls"):
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        # A URL may hold commas, never white space: split URLs on that.
        split = str.split if flag.kind == "urls" else (lambda item: item.split(","))
        return tuple(part.strip() for item in items for part in split(item) if part.strip())
    if flag.kind == "bool":
        if isinstance(raw, bool):
            return raw
        lowered = raw.strip().lower()
        if lowered in ("1", "t", "true", "yes", "on"):
            return True
        if lowered in ("", "0", "f", "false", "no", "off"):
            return False
        if variable:
            raise ConfigError(from_variable(variable, flag.name, raw, "true or false"))
        raise ConfigError("-%s: %r is not true or false" % (flag.name, raw))
    if flag.kind in ("int", "float"):
        low, high = flag.bounds
        return parse_number(flag.name, raw, low, high, integer=flag.kind == "int",
                            off_at_zero=flag.off_at_zero, variable=variable)
    return raw.strip()


def from_variable(variable, flag, raw, wanted):
    """The line for a bad value from the environment: the variable first, the flag last."""
    text = raw.strip() if isinstance(raw, str) else str(raw)
    cut = text[:MAX_SHOWN] + ("..." if len(text) > MAX_SHOWN else "")
    return "%s: %r is not %s (-%s)" % (variable, cut, wanted, flag)


MAX_NUMBER_LENGTH = 32
# ASCII digits only (re.ASCII): no "3_001", no Arabic-Indic or full-width digits.
_INTEGER = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_number(flag, raw, low, high, integer=False, off_at_zero=False, variable=""):
    """``raw`` as a finite number from ``low`` to ``high`` (or 0 when ``off_at_zero``).

    Refuses what ``int()``/``float()`` would take but a person did not mean
    as a setting: nan, inf, underscores, non-ASCII digits, huge values.
    """
    text = raw.strip() if isinstance(raw, str) else str(raw)
    pattern = _INTEGER if integer else _DECIMAL
    value = None
    if len(text) <= MAX_NUMBER_LENGTH and pattern.fullmatch(text):
        value = int(text) if integer else float(text)
    if value is not None and math.isfinite(value):
        if (off_at_zero and value == 0) or low <= value <= high:
            return value
    wanted = "%s between %s and %s%s" % ("a whole number" if integer else "a number",
                                         typed(low), typed(high),
                                         " (or 0 for off)" if off_at_zero else "")
    if variable:
        raise ConfigError(from_variable(variable, flag, text, wanted))
    raise ConfigError("-%s %s: not %s" % (flag, shown(text), wanted))


MAX_SHOWN = 60


def shown(text):
    """A user's value fit for a one-line message: control characters escaped, cut short."""
    from streamerbrainz.lib.log import escape_char  # only on the way to an error
    cut = text[:MAX_SHOWN] + ("..." if len(text) > MAX_SHOWN else "")
    return "".join(ch if ch.isprintable() else escape_char(ch) for ch in cut) or '""'
