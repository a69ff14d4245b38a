"""The settings file: one INI section per room, read with ``configparser``.

A key is its flag without the room's prefix (``[plex] server-url`` for
-plex-server-url, ``[webhooks] port`` for -webhooks-port); lists are
comma-separated or one per line, booleans yes/no, true/false or on/off;
nothing is interpolated (a ``%`` in a hook command is a ``%``). ``read``
returns each setting the file holds, parsed, with the line it is on, or
refuses the whole file with one line that names the file, the line, the
key and the fix: an unknown section or key, a duplicate, a bad value, a
secret written as a value, a file that others may write (it names
commands the daemon runs).
"""

import os
import stat

from streamerbrainz.app import config
from streamerbrainz.lib.flags import ConfigError, convert, shown

FILE_NAME = "streamerbrainz.conf"
DEFAULT_PATH = "/etc/streamerbrainz/" + FILE_NAME
FILE_LIMIT = 1024 * 1024
BOOLEANS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
# configparser's DEFAULT section would lend its keys to every room: no name a person writes.
NO_DEFAULT_SECTION = "\0"


def _sections():
    """``{section: {key: Flag}}`` for the flags a file may set, in -help's order."""
    found = {}
    for room in config.ROOMS:
        prefix = getattr(room, "KEY_PREFIX", room.SECTION + "-")
        keys = found.setdefault(room.SECTION, {})
        for flag in room.FLAGS:
            if flag.in_file and not flag.action:
                keys[flag.name[len(prefix):] if flag.name.startswith(prefix) else flag.name] = flag
    return found


SECTIONS = _sections()
PLACES = {flag.name: (section, key) for section, keys in SECTIONS.items()
          for key, flag in keys.items()}


def place(flag_name):
    """``[section] key`` of a flag in the file, or "" when the file cannot set it."""
    section, key = PLACES.get(flag_name, ("", ""))
    return "[%s] %s" % (section, key) if section else ""


def locate(given, environ):
    """``(path, required)``: the file to read ("" for none), and whether it must exist.

    ``given`` is -config's value, or None when neither the command line nor
    the environment set it (an empty -config means no file).
    """
    if given is not None:
        return given, bool(given)
    directory = environ.get("CONFIGURATION_DIRECTORY", "").split(":")[0]
    if directory:
        return os.path.join(directory, FILE_NAME), False
    return DEFAULT_PATH, False


def read(path, required=True):
    """The settings in ``path``: ``{flag name: (value, "PATH:LINE", "[section] key")}``.

    A file that is not there is an error when ``required`` (``-config``
    named it), else no settings. Raises ConfigError with one line.
    """
    if not path or (not required and not os.path.lexists(path)):
        return {}
    import configparser  # only when there is a file: a start without one costs nothing
    data = config.read_regular_file(path, "config", FILE_LIMIT,
                                    inspect=lambda status: _refuse_writable(path, status))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ConfigError("%s:%d: is not UTF-8 text" % (path, line)) from None
    parser = configparser.ConfigParser(
        interpolation=None, strict=True, delimiters=("=",), comment_prefixes=("#", ";"),
        inline_comment_prefixes=None, empty_lines_in_values=False,
        default_section=NO_DEFAULT_SECTION)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as err:
        raise ConfigError(_syntax(path, err, configparser)) from None
    lines = _key_lines(text)
    found = {}
    for section in parser.sections():
        if section not in SECTIONS:
            raise ConfigError("%s:%d: [%s]: unknown section; %s" % (
                path, lines.get((section, None), 0), shown(section),
                _suggest(section, SECTIONS, "[%s]", "the sections are " + ", ".join(
                    "[%s]" % name for name in SECTIONS))))
        for key, raw in parser.items(section):
            where = "%s:%d" % (path, lines.get((section, key), 0))
            flag = _flag(section, key, where)
            found[flag.name] = (_value(flag, raw, "%s: [%s] %s" % (where, section, key)), where,
                                "[%s] %s" % (section, key))
    return found


def _refuse_writable(path, status):
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError("%s: may be written by its group or by anyone, and it names commands "
                          "the daemon runs; make it the owner's alone (chmod go-w %s)"
                          % (shown(path), shown(path)))


def _syntax(path, err, configparser):
    """One line for what ``configparser`` could not read."""
    if isinstance(err, configparser.DuplicateOptionError):
        return "%s:%d: [%s] %s: set twice; keep one" % (path, err.lineno, err.section,
                                                         err.option)
    if isinstance(err, configparser.DuplicateSectionError):
        return "%s:%d: [%s]: a second time; put its keys under the first" % (
            path, err.lineno, err.section)
    if isinstance(err, configparser.MissingSectionHeaderError):
        return "%s:%d: a setting before any [section]; put it under its room's, e.g. [plex]" % (
            path, err.lineno)
    if isinstance(err, configparser.ParsingError) and err.errors:
        # The line itself is not repeated: it may be a token pasted where it does not belong.
        return "%s:%d: not key = value, a [section] or a # comment" % (path, err.errors[0][0])
    return "%s: cannot be read as settings: %s" % (path, str(err).splitlines()[0])


def _key_lines(text):
    """``{(section, key): line}`` and ``{(section, None): line}`` of a file configparser read.

    Mirrors its reading: comments and blank lines skipped, an indented line
    after a key continues its value.
    """
    found, section, in_value = {}, None, False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if in_value and line[0].isspace():
            continue
        if stripped.startswith("[") and "]" in stripped:  # configparser's rule: up to the last
            section, in_value = stripped[1:stripped.rindex("]")], False
            found.setdefault((section, None), number)
            continue
        key = stripped.partition("=")[0].strip().lower()
        found.setdefault((section, key), number)
        in_value = True
    return found


def _flag(section, key, where):
    """The Flag that ``[section] key`` sets; ConfigError naming the fix."""
    keys = SECTIONS[section]
    if key in keys:
        return keys[key]
    named = "%s: [%s] %s" % (where, section, shown(key))
    if key + "-file" in keys:
        raise ConfigError("%s: a secret is never a value in this file; put it alone in a file "
                          "only the daemon's user reads and set %s-file to its path"
                          % (named, key))
    elsewhere = [name for name, others in SECTIONS.items() if key in others]
    if elsewhere:
        raise ConfigError("%s: not a key of [%s]; it belongs in [%s]"
                          % (named, section, elsewhere[0]))
    raise ConfigError("%s: unknown key; %s" % (named, _suggest(
        key, keys, "%s", "the keys of [%s] are %s" % (section, ", ".join(keys)))))


def _suggest(name, known, form, otherwise):
    import difflib  # only on the way to an error
    close = difflib.get_close_matches(name, list(known), n=1)
    return "did you mean %s?" % (form % close[0]) if close else otherwise


def _value(flag, raw, named):
    """A file's raw string as the flag's value; ConfigError under ``named``."""
    if flag.kind in ("list", "urls"):
        return convert(flag, [line for line in raw.splitlines() if line.strip()], named)
    if "\n" in raw:
        raise ConfigError("%s: a value on several lines; only a list may (put it on one)"
                          % named)
    if flag.kind == "bool":
        word = raw.strip().lower()
        if word not in BOOLEANS:
            raise ConfigError("%s: %s is not yes or no (yes/no, true/false, on/off)"
                              % (named, shown(raw.strip())))
        return BOOLEANS[word]
    return convert(flag, raw, named)
