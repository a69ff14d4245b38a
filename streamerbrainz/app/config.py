"""The rooms' flags in one table, the frozen ``Config`` they make, and its validation.

Each room declares its flags in its ``flags.py`` (see ``lib.flags``); this
module gathers them: the command line parser, the ``STREAMERBRAINZ_*``
environment variables, ``-help`` and ``Config`` (its attributes and their
defaults) all read the one table. Validation turns raw strings into a
``Config`` or raises ``ConfigError`` with one line that names the flag, or
the environment variable a bad value came from, and the fix.
"""

import dataclasses
import importlib
import ipaddress
import os
import re
import stat
import urllib.parse

import streamerbrainz
from streamerbrainz.app import flags as app_flags
from streamerbrainz.hooks import flags as hooks_flags
from streamerbrainz.lib.flags import (  # noqa: F401 (the names the app and its tests use)
    ENV_PREFIX, ConfigError, Flag, convert, parse_number, shown)
from streamerbrainz.lib import networks
from streamerbrainz.lib.log import LEVELS


def find_rooms():
    """Every room's ``flags`` module (TITLE, HELP_ORDER, FLAGS), in the order -help shows them.

    A room's flags are its sub-package's ``flags.py`` with a ``FLAGS``
    table: a new room's flags need no line here.
    """
    names = set()
    for folder in streamerbrainz.__path__:
        try:
            names.update(entry.name for entry in os.scandir(folder)
                         if os.path.isfile(os.path.join(folder, entry.name, "flags.py")))
        except OSError:  # not a folder: a zipped install
            import pkgutil
            names.update(name for _, name, is_package in pkgutil.iter_modules([folder])
                         if is_package)
    rooms = [importlib.import_module("streamerbrainz.%s.flags" % name) for name in sorted(names)]
    rooms = [room for room in rooms if hasattr(room, "FLAGS")]  # lib.flags is the mechanism
    return tuple(sorted(rooms, key=lambda room: (room.HELP_ORDER, room.__name__)))


ROOMS = find_rooms()
COMMANDS = app_flags.COMMANDS

FLAGS = tuple(flag for room in ROOMS for flag in room.FLAGS)
FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}
HOOK_FLAGS = tuple(flag.name for flag in hooks_flags.EVENTS)


def reads(command, flag):
    """Whether ``command`` takes ``flag``: its own, and for ``config`` every flag of run."""
    return command in flag.commands or (command == "config" and "run" in flag.commands)


def flags_of(command):
    """The flags ``command`` reads, in the table's order."""
    return tuple(flag for flag in FLAGS if reads(command, flag))


_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": tuple, "urls": tuple}

# Attributes no flag holds as given: read from a flag's file, or made of several flags.
DERIVED = (
    ("webhooks_secret", str, dataclasses.field(default="", repr=False)),  # -webhooks-secret-file
    ("plex_token", str, dataclasses.field(default="", repr=False)),  # -plex-token-file
    ("hooks", tuple, dataclasses.field(default=())),  # (flag, command) pairs of HOOK_FLAGS
    ("mqtt_password", str, dataclasses.field(default="", repr=False)),  # -mqtt-password-file
)


def _plex_enabled(self):
    return bool(self.plex_server_url)



def _checked_defaults():
    """The attributes rooms' ``check`` makes of their flags' defaults (``off`` → None)."""
    defaults = {flag.name: flag.default for flag in FLAGS}
    checked = {}
    for room in ROOMS:
        if hasattr(room, "check"):
            checked.update(room.check(defaults))
    return checked


CHECKED_DEFAULTS = _checked_defaults()

# Frozen, one attribute per flag (its default the flag's, as checked) plus DERIVED.
Config = dataclasses.make_dataclass(
    "Config",
    [(flag.attribute, _TYPES[flag.kind],
      dataclasses.field(default=CHECKED_DEFAULTS.get(flag.attribute, flag.default)))
     for flag in FLAGS if flag.attribute] + list(DERIVED),
    frozen=True,
    namespace={"plex_enabled": property(_plex_enabled),
               "__doc__": "The settings, validated: one attribute per flag (see FLAGS)."})
Config.__module__ = __name__


class Values(dict):
    """Flag name → value; where each came from (``origins``: flag, environment, file, default)
    and, for a value not from the command line, the name a message about it starts with
    (``variables``: its environment variable, or its file, line and key)."""

    def __init__(self):
        super().__init__()
        self.variables = {}
        self.origins = {}


def gather(cli_values, environ, command=None, file_values=None):
    """Merge command line values over environment values over the file's over defaults.

    With ``command``, only the variables and file settings of the flags it
    reads are read: the others keep their defaults. ``file_values`` maps a
    flag's name to ``(value, line, key)`` as ``settings_file.read`` returns:
    the value, parsed, ``PATH:LINE`` and ``[section] key``.
    """
    values = Values()
    file_values = file_values or {}
    for flag in FLAGS:
        name, read = flag.name, command is None or reads(command, flag)
        if name in cli_values:
            values[name] = convert(flag, cli_values[name])
            values.origins[name] = "flag"
        elif flag.env in environ and not flag.action and read:
            values[name] = convert(flag, environ[flag.env], flag.env)
            values.variables[name] = values.origins[name] = flag.env
        elif name in file_values and read:
            values[name], line, key = file_values[name]
            values.variables[name] = "%s: %s" % (line, key)
            values.origins[name] = line
        else:
            values[name] = flag.default
            values.origins[name] = "default"
    return values


SECRET_FILE_LIMIT = 64 * 1024
CA_FILE_LIMIT = 1024 * 1024
_OPEN_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))


def unknown_environment(environ):
    """``(variable, closest flag variable or "")`` for each ``STREAMERBRAINZ_*`` no flag reads.

    Only names: a value may be a secret.
    """
    known = [flag.env[len(ENV_PREFIX):] for flag in FLAGS if not flag.action]
    result = []
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX):]
        if name.startswith(ENV_PREFIX) and rest not in known:
            # Compared without the prefix, which every name shares.
            import difflib  # only for a variable that is no flag
            closest = difflib.get_close_matches(rest, known, n=1)
            result.append((name, ENV_PREFIX + closest[0] if closest else ""))
    return result


def read_regular_file(path, flag, limit, inspect=None):
    """Return the bytes of a regular file of at most ``limit`` bytes, or raise ConfigError.

    Opened without blocking and checked before reading: a FIFO, a device or
    a socket put where a secret belongs must not hang start-up or a reload.
    ``inspect(stat_result)`` may refuse the open file (raising ConfigError).
    """
    named = "-%s %s" % (flag, shown(path))
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise ConfigError("%s: no such file" % named) from None
    except PermissionError:
        raise ConfigError("%s: permission denied (the daemon's user must be able to read it)"
                          % named) from None
    except OSError as err:
        raise ConfigError("%s: cannot read: %s" % (named, err.strerror)) from None
    try:
        status = os.fstat(fd)
        mode = status.st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError("%s: is a directory, not a file" % named)
        if not stat.S_ISREG(mode):
            raise ConfigError("%s: not a regular file" % named)
        if inspect is not None:
            inspect(status)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise ConfigError("%s: cannot read: %s" % (named, err.strerror)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError("%s: larger than %d KiB, not a %s" % (
            named, limit // 1024, "certificate file" if limit >= CA_FILE_LIMIT else "secret"))
    return b"".join(chunks)


def read_secret_file(path, flag):
    """Return the stripped contents of a one-line secret file, or raise ConfigError."""
    data = read_regular_file(path, flag, SECRET_FILE_LIMIT)
    try:
        # utf-8-sig: an editor's byte-order mark is not part of the secret;
        # strip() takes a Windows line end with the rest of the white space.
        secret = data.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise ConfigError("-%s %s: is not text" % (flag, path)) from None
    if not secret:
        raise ConfigError("-%s %s: is empty" % (flag, path))
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in secret):
        raise ConfigError("-%s %s: must hold the secret alone on one line" % (flag, path))
    return secret


MIN_TOKEN_LENGTH = 8


def read_token(path, flag="plex-token-file"):
    """Read and check the Plex token (real ones are about 20 characters)."""
    token = read_secret_file(path, flag)
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError("-%s %s: holds %d characters, too few for a Plex token (they are "
                          "about 20); put the whole token in the file" % (flag, path, len(token)))
    return token


def validate_server_url(raw, flag="plex-server-url", example="http://plex.home.arpa:32400"):
    """Return the URL without a trailing slash, or raise ConfigError.

    The message never repeats the URL's query or user info: a token pasted
    there must not end up on a terminal or in a journal.
    """
    if not raw:
        return ""
    parts = split_url(raw, "-%s %s" % (flag, shown_url(raw)), example)
    if parts.scheme not in ("http", "https"):
        raise ConfigError("-%s: must start with http:// or https://, e.g. %s" % (flag, example))
    if not parts.hostname:
        raise ConfigError("-%s: has no host name, e.g. %s" % (flag, example))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("-%s: must not hold a query, a fragment or a password "
                          "(put the token in -plex-token-file)" % flag)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def shown_url(raw):
    """The URL for a message, or "" when it may hold a secret (user info, a query)."""
    if any(mark in raw for mark in "@?#"):
        return ""
    return shown(raw)


_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


def split_url(raw, named, example):
    """``urlsplit`` that raises ConfigError, never ValueError, and checks the port.

    ``named`` starts the message: the flag, and the URL when it is safe to show.
    """
    try:
        parts = urllib.parse.urlsplit(raw)
        hostinfo = parts.netloc.rpartition("@")[2]
        port = hostinfo.rpartition("]")[2].partition(":")[2] if ":" in hostinfo else ""
    except ValueError as err:
        raise ConfigError("%s: not a valid URL (%s), e.g. %s"
                          % (named.rstrip(), str(err).lower(), example)) from None
    if port and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        raise ConfigError("%s: the port is not a whole number between 1 and 65535, e.g. %s"
                          % (named.rstrip(), example))
    return parts


SECRET_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
MIN_SECRET_LENGTH = 16


def validate_notify_url(url):
    """Check a -notify-url; the message never repeats it (it may hold a password)."""
    example = "e.g. http://homeassistant.local:8123/api/webhook/ID"
    parts = split_url(url, "-notify-url", example[5:])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("-notify-url: must be an http:// or https:// URL with a host, %s"
                          % example)
    return url


def credential_path(raw, environ, name):
    """The flag's path, or systemd's ``$CREDENTIALS_DIRECTORY/name`` when that exists."""
    if raw:
        return raw
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        candidate = os.path.join(credentials, name)
        if os.path.exists(candidate):
            return candidate
    return ""


def read_webhooks_secret(path):
    """Read and check the webhook secret: it becomes part of a URL path."""
    secret = read_secret_file(path, "webhooks-secret-file")
    if not set(secret) <= SECRET_CHARACTERS or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError("-webhooks-secret-file %s: must be at least %d letters, digits, '-', "
                          "'_', '.' or '~' (make one with: python3 -c 'import secrets; "
                          "print(secrets.token_urlsafe(24))')" % (path, MIN_SECRET_LENGTH))
    return secret


def check_ca_file(path, server, flag="plex-ca-file", secure="https://",
                  needs="an https:// -plex-server-url"):
    """Check that ``path`` holds certificates ssl can load, for a server under ``secure``."""
    if not path:
        return ""
    if not server.startswith(secure):
        raise ConfigError("-%s: needs %s" % (flag, needs))
    import ssl
    read_regular_file(path, flag, CA_FILE_LIMIT)  # a FIFO must not hang ssl
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise ConfigError("-%s %s: no such file" % (flag, path)) from None
    except PermissionError:
        raise ConfigError("-%s %s: permission denied" % (flag, path)) from None
    except IsADirectoryError:
        raise ConfigError("-%s %s: is a directory, not a file" % (flag, path)) from None
    except (ssl.SSLError, ValueError):
        raise ConfigError("-%s %s: holds no PEM certificate (-----BEGIN "
                          "CERTIFICATE-----)" % (flag, path)) from None
    except OSError as err:
        raise ConfigError("-%s %s: cannot read: %s" % (flag, path, err.strerror)) from None
    return path


def parse_networks(items, flag="webhooks-allow"):
    """CIDR strings → networks; IPv4-mapped IPv6 networks become their IPv4 form."""
    found = []
    for item in items:
        try:
            found.append(networks.network(item))
        except ValueError:
            raise ConfigError("-%s: %r is not a network; use CIDR such as "
                              "192.168.1.0/24, 10.0.0.5 or fd00::/8" % (flag, item)) from None
    return tuple(found)


def build(values, environ, need_plex=False, read_secrets=True):
    """Validate gathered flag values and return a ``Config``.

    A value that came from the environment is refused under its variable's
    name, the flag's last: ``STREAMERBRAINZ_WEBHOOKS_BIND: ... (-webhooks-bind)``;
    one from the settings file under its file, line and key. Without
    ``read_secrets`` the token and secret files are not read (a reload
    reads them itself) and their Config attributes stay empty.
    """
    variables = dict(getattr(values, "variables", {}))
    try:
        return _build(values, environ, need_plex, variables, read_secrets)
    except ConfigError as err:
        raise ConfigError(from_environment(str(err), variables)) from None


_NAMED = re.compile(r"-([a-z][a-z0-9-]*)(?=[ :])")


def from_environment(message, variables):
    """``message`` (``-flag...: problem``) told of the variable when the flag's value came
    from one."""
    named = _NAMED.match(message)
    if not named or named.group(1) not in variables:
        return message
    flag = named.group(1)
    return "%s%s (-%s)" % (variables[flag], message[named.end():], flag)


def _build(values, environ, need_plex, variables, read_secrets=True):
    """``build``; drops from ``variables`` a flag whose file systemd's credentials gave."""
    settings = {flag.attribute: values[flag.name] for flag in FLAGS if flag.attribute}
    bind = values["webhooks-bind"]
    if not bind:
        raise ConfigError("-webhooks-bind: is empty (use 0.0.0.0 for every IPv4 address)")
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise ConfigError("-webhooks-bind: %r is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)"
                          % bind) from None
    level = values["log-level"].lower()
    if level not in LEVELS:
        raise ConfigError("-log-level: %r is not one of error, warn, info, debug"
                          % values["log-level"])
    server = validate_server_url(values["plex-server-url"])
    plexamp = validate_server_url(values["plexamp-url"], "plexamp-url", "http://127.0.0.1:32500")
    url = validate_server_url(values["url"], "url", "http://127.0.0.1:3001")
    poll = values["plex-poll-interval"]
    for flag, used in (("plex-notifications", values["plex-notifications"]),
                       ("plex-poll-interval", poll)):
        if used and not server:
            raise ConfigError("-%s: needs -plex-server-url" % flag)
    if need_plex and not server:
        raise ConfigError("-plex-server-url: required, e.g. http://plex.home.arpa:32400")
    token_file = credential_path(values["plex-token-file"], environ, "plex-token")
    if token_file != values["plex-token-file"]:
        variables.pop("plex-token-file", None)
    token = ""
    if server:
        if not token_file:
            raise ConfigError("-plex-token-file: required when -plex-server-url is set "
                              "(a file holding the Plex token)")
        token = read_token(token_file) if read_secrets else ""
    hooks = tuple((flag, values[flag]) for flag in HOOK_FLAGS if values[flag])
    if hooks:
        import shlex  # only with hooks: the hooks room splits them the same way
    for flag, command in hooks:
        try:
            if not shlex.split(command):
                raise ValueError("no command")
        except ValueError as err:
            raise ConfigError("-%s: cannot split %r like a shell would: %s"
                              % (flag, command, err)) from None
    notify_urls = tuple(validate_notify_url(url) for url in values["notify-url"])
    secret_file = credential_path(values["webhooks-secret-file"], environ, "webhooks-secret")
    if secret_file != values["webhooks-secret-file"]:
        variables.pop("webhooks-secret-file", None)
    secret = read_webhooks_secret(secret_file) if secret_file and read_secrets else ""
    mqtt_url = values["mqtt-url"]
    mqtt_password_file = ""
    if mqtt_url:
        mqtt_password_file = credential_path(values["mqtt-password-file"], environ,
                                             "mqtt-password")
        if mqtt_password_file != values["mqtt-password-file"]:
            variables.pop("mqtt-password-file", None)
    mqtt_password = (read_secret_file(mqtt_password_file, "mqtt-password-file")
                     if mqtt_password_file and read_secrets else "")
    # systemd's StateDirectory= sets $STATE_DIRECTORY (colon-separated when several).
    state_dir = values["state-dir"] or environ.get("STATE_DIRECTORY", "").split(":")[0]
    settings.update(
        webhooks_bind=bind,
        webhooks_secret_file=secret_file,
        webhooks_secret=secret,
        webhooks_allow=parse_networks(values["webhooks-allow"]),
        sources_allow=parse_networks(values["sources-allow"], "sources-allow"),
        control_allow=parse_networks(values["control-allow"], "control-allow"),
        state_dir=state_dir,
        plex_server_url=server,
        plex_token_file=token_file,
        plex_token=token,
        plex_ca_file=check_ca_file(values["plex-ca-file"], server),
        plex_machine_ids=tuple(dict.fromkeys(values["plex-machine-id"])),
        plexamp_url=plexamp,
        hooks=hooks,
        notify_urls=notify_urls,
        mqtt_password_file=mqtt_password_file or values["mqtt-password-file"],
        mqtt_password=mqtt_password,
        mqtt_ca_file=check_ca_file(values["mqtt-ca-file"], mqtt_url, "mqtt-ca-file",
                                   "mqtts://", "an mqtts:// -mqtt-url"),
        log_level=level,
        url=url,
    )
    for room in ROOMS:
        if hasattr(room, "check"):
            settings.update(room.check(values))
    return Config(**settings)
