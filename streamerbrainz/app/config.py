"""The flags, the frozen ``Config`` they make, and its validation.

Every flag has one definition here: the command line parser, the
``STREAMERBRAINZ_*`` environment variables and ``-help`` all read it.
Validation turns raw strings into a ``Config`` or raises ``ConfigError``
with one line that names the flag and the fix.
"""

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import shlex
import stat
import urllib.parse

from streamerbrainz.lib.log import LEVELS, escape_char


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

    @property
    def env(self):
        return "STREAMERBRAINZ_" + self.name.upper().replace("-", "_")


FLAGS = (
    Flag("webhooks-port", 3001, "HTTP listener port; 0 picks a free one (the log says which)",
         "int", "PORT", (0, 65535)),
    Flag("webhooks-bind", "0.0.0.0",
         "address to listen on (127.0.0.1 behind a reverse proxy, :: for IPv6)", metavar="ADDR"),
    Flag("webhooks-secret-file", "",
         "file holding a secret; when set, only POST /webhooks/plex/<secret> is served; when "
         "empty under systemd, $CREDENTIALS_DIRECTORY/webhooks-secret", metavar="PATH"),
    Flag("webhooks-allow", (),
         "network allowed to POST webhooks (CIDR, IPv4 or IPv6); repeat or comma-separate; "
         "empty allows every address", "list", "CIDR"),
    Flag("plex-server-url", "",
         "Plex server URL, e.g. http://plex.home.arpa:32400; Plex is enabled when set",
         metavar="URL"),
    Flag("plex-token-file", "",
         "file holding the Plex token; when empty under systemd, "
         "$CREDENTIALS_DIRECTORY/plex-token",
         metavar="PATH"),
    Flag("plex-ca-file", "",
         "PEM file of the certificate authority that signed an https Plex server's "
         "certificate, used instead of the system's (verification stays on)", metavar="PATH"),
    Flag("plex-machine-id", (),
         "player machineIdentifier to follow; repeat or comma-separate for several; "
         "empty follows every player", "list", "ID"),
    Flag("plex-timeout", 5.0, "seconds to wait for one answer from Plex", "float", "SECONDS",
         (0.1, 300)),
    Flag("plex-notifications", False,
         "follow Plex's notification stream (no Plex Pass needed)", "bool"),
    Flag("plex-poll-interval", 0.0,
         "also ask Plex every SECONDS when nothing else did (0: off)", "float", "SECONDS",
         (1, 86400), off_at_zero=True),
    Flag("plexamp-url", "",
         "long-poll the local Plexamp player's timeline, e.g. http://127.0.0.1:32500 "
         "(no token needed)", metavar="URL"),
    Flag("on-change", "", "command to run on every state or track change", metavar="CMD"),
    Flag("on-play", "", "command to run when a player starts playing", metavar="CMD"),
    Flag("on-pause", "", "command to run when a player pauses", metavar="CMD"),
    Flag("on-stop", "", "command to run when a player stops", metavar="CMD"),
    Flag("on-idle", "", "command to run once nothing has played for -idle-after seconds",
         metavar="CMD"),
    Flag("on-active", "", "command to run once something plays again after idle",
         metavar="CMD"),
    Flag("idle-after", 300.0, "seconds without playing before -on-idle runs", "float",
         "SECONDS", (0.1, 86400)),
    Flag("idle-at-start", False,
         "when nothing plays at start, run -on-idle once after -idle-after seconds (turns "
         "off an amplifier left on by a crash or a power cut)", "bool"),
    Flag("hook-timeout", 10.0, "seconds a hook may run before its process group is killed",
         "float", "SECONDS", (0.1, 86400)),
    Flag("notify-url", (), "URL to POST each change to as JSON; repeat (or, in the "
         "environment, separate with spaces) for several", "urls", "URL"),
    Flag("log-level", "info", "error, warn, info or debug", metavar="LEVEL"),
    Flag("url", "http://127.0.0.1:3001", "with status: the daemon to ask", metavar="URL"),
    Flag("version", False, "print the version and exit", "bool"),
    Flag("help", False, "print this help and exit", "bool"),
)

FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}


@dataclasses.dataclass(frozen=True)
class Config:
    webhooks_port: int = 3001
    webhooks_bind: str = "0.0.0.0"
    webhooks_secret_file: str = ""
    webhooks_secret: str = dataclasses.field(default="", repr=False)
    webhooks_allow: tuple = ()
    plex_server_url: str = ""
    plex_token_file: str = ""
    plex_token: str = dataclasses.field(default="", repr=False)
    plex_ca_file: str = ""
    plex_machine_ids: tuple = ()
    plex_timeout: float = 5.0
    plex_notifications: bool = False
    plex_poll_interval: float = 0.0
    plexamp_url: str = ""
    hooks: tuple = ()  # (flag, command) pairs
    idle_after: float = 300.0
    idle_at_start: bool = False
    hook_timeout: float = 10.0
    notify_urls: tuple = ()
    log_level: str = "info"
    url: str = "http://127.0.0.1:3001"

    @property
    def plex_enabled(self):
        return bool(self.plex_server_url)


def convert(flag, raw):
    """Turn one raw string (or list of strings) into the flag's type."""
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
        raise ConfigError("-%s: %r is not true or false" % (flag.name, raw))
    if flag.kind in ("int", "float"):
        low, high = flag.bounds
        return parse_number(flag.name, raw, low, high, integer=flag.kind == "int",
                            off_at_zero=flag.off_at_zero)
    return raw.strip()


MAX_NUMBER_LENGTH = 32
# ASCII digits only (re.ASCII): no "3_001", no Arabic-Indic or full-width digits.
_INTEGER = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_number(flag, raw, low, high, integer=False, off_at_zero=False):
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
    what = "a whole number" if integer else "a number"
    off = " (or 0 for off)" if off_at_zero else ""
    raise ConfigError("-%s %s: not %s between %s and %s%s"
                      % (flag, shown(text), what, _plain(low), _plain(high), off))


def _plain(number):
    return "%g" % number


MAX_SHOWN = 60


def shown(text):
    """A user's value fit for a one-line message: control characters escaped, cut short."""
    cut = text[:MAX_SHOWN] + ("..." if len(text) > MAX_SHOWN else "")
    return "".join(ch if ch.isprintable() else escape_char(ch) for ch in cut) or '""'


def gather(cli_values, environ):
    """Merge command line values over environment values over defaults."""
    values = {}
    for flag in FLAGS:
        if flag.name in cli_values:
            values[flag.name] = convert(flag, cli_values[flag.name])
        elif flag.env in environ and flag.name not in ("help", "version"):
            values[flag.name] = convert(flag, environ[flag.env])
        else:
            values[flag.name] = flag.default
    return values


SECRET_FILE_LIMIT = 64 * 1024
CA_FILE_LIMIT = 1024 * 1024
_OPEN_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))


ENV_PREFIX = "STREAMERBRAINZ_"


def unknown_environment(environ):
    """``(variable, closest flag variable or "")`` for each ``STREAMERBRAINZ_*`` no flag reads.

    Only names: a value may be a secret.
    """
    known = [flag.env[len(ENV_PREFIX):] for flag in FLAGS
             if flag.name not in ("help", "version")]
    result = []
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX):]
        if name.startswith(ENV_PREFIX) and rest not in known:
            # Compared without the prefix, which every name shares.
            closest = difflib.get_close_matches(rest, known, n=1)
            result.append((name, ENV_PREFIX + closest[0] if closest else ""))
    return result


def read_regular_file(path, flag, limit):
    """Return the bytes of a regular file of at most ``limit`` bytes, or raise ConfigError.

    Opened without blocking and checked before reading: a FIFO, a device or
    a socket put where a secret belongs must not hang start-up or a reload.
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
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError("%s: is a directory, not a file" % named)
        if not stat.S_ISREG(mode):
            raise ConfigError("%s: not a regular file" % named)
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


HOOK_FLAGS = ("on-change", "on-play", "on-pause", "on-stop", "on-idle", "on-active")


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


def check_ca_file(path, server):
    """Check that ``path`` holds certificates ssl can load, for an https server."""
    if not path:
        return ""
    if not server.startswith("https://"):
        raise ConfigError("-plex-ca-file: needs an https:// -plex-server-url")
    import ssl
    read_regular_file(path, "plex-ca-file", CA_FILE_LIMIT)  # a FIFO must not hang ssl
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise ConfigError("-plex-ca-file %s: no such file" % path) from None
    except PermissionError:
        raise ConfigError("-plex-ca-file %s: permission denied" % path) from None
    except IsADirectoryError:
        raise ConfigError("-plex-ca-file %s: is a directory, not a file" % path) from None
    except (ssl.SSLError, ValueError):
        raise ConfigError("-plex-ca-file %s: holds no PEM certificate (-----BEGIN "
                          "CERTIFICATE-----)" % path) from None
    except OSError as err:
        raise ConfigError("-plex-ca-file %s: cannot read: %s" % (path, err.strerror)) from None
    return path


def parse_networks(items):
    """CIDR strings → networks; IPv4-mapped IPv6 networks become their IPv4 form."""
    networks = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError("-webhooks-allow: %r is not a network; use CIDR such as "
                              "192.168.1.0/24, 10.0.0.5 or fd00::/8" % item) from None
        mapped = getattr(network.network_address, "ipv4_mapped", None)
        if mapped is not None and network.prefixlen >= 96:
            network = ipaddress.ip_network((mapped, network.prefixlen - 96))
        networks.append(network)
    return tuple(networks)


def build(values, environ, need_plex=False):
    """Validate gathered flag values and return a ``Config``."""
    port = values["webhooks-port"]
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
    timeout = values["plex-timeout"]
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
    token = ""
    if server:
        if not token_file:
            raise ConfigError("-plex-token-file: required when -plex-server-url is set "
                              "(a file holding the Plex token)")
        token = read_token(token_file)
    hooks = tuple((flag, values[flag]) for flag in HOOK_FLAGS if values[flag])
    for flag, command in hooks:
        try:
            if not shlex.split(command):
                raise ValueError("no command")
        except ValueError as err:
            raise ConfigError("-%s: cannot split %r like a shell would: %s"
                              % (flag, command, err)) from None
    notify_urls = tuple(validate_notify_url(url) for url in values["notify-url"])
    secret_file = credential_path(values["webhooks-secret-file"], environ, "webhooks-secret")
    secret = read_webhooks_secret(secret_file) if secret_file else ""
    return Config(
        webhooks_port=port,
        webhooks_bind=bind,
        webhooks_secret_file=secret_file,
        webhooks_secret=secret,
        webhooks_allow=parse_networks(values["webhooks-allow"]),
        plex_server_url=server,
        plex_token_file=token_file,
        plex_token=token,
        plex_ca_file=check_ca_file(values["plex-ca-file"], server),
        plex_machine_ids=tuple(dict.fromkeys(values["plex-machine-id"])),
        plex_timeout=timeout,
        plex_notifications=values["plex-notifications"],
        plex_poll_interval=poll,
        plexamp_url=plexamp,
        hooks=hooks,
        idle_after=values["idle-after"],
        idle_at_start=values["idle-at-start"],
        hook_timeout=values["hook-timeout"],
        notify_urls=notify_urls,
        log_level=level,
        url=url,
    )
