"""The flags, the frozen ``Config`` they make, and its validation.

Every flag has one definition here: the command line parser, the
``STREAMERBRAINZ_*`` environment variables and ``-help`` all read it.
Validation turns raw strings into a ``Config`` or raises ``ConfigError``
with one line that names the flag and the fix.
"""

import dataclasses
import ipaddress
import os
import shlex
import urllib.parse

from streamerbrainz.log import LEVELS


class ConfigError(Exception):
    """A usage or configuration error: one line, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str
    default: object
    help: str
    kind: str = "str"  # str, int, float, bool, list (repeatable, comma-separated) or urls
    metavar: str = ""

    @property
    def env(self):
        return "STREAMERBRAINZ_" + self.name.upper().replace("-", "_")


FLAGS = (
    Flag("webhooks-port", 3001, "HTTP listener port; 0 picks a free one (the log says which)",
         "int", "PORT"),
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
    Flag("plex-timeout", 5.0, "seconds to wait for one answer from Plex", "float", "SECONDS"),
    Flag("plex-notifications", False,
         "follow Plex's notification stream (no Plex Pass needed)", "bool"),
    Flag("plex-poll-interval", 0.0,
         "also ask Plex every SECONDS when nothing else did (0: off)", "float", "SECONDS"),
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
         "SECONDS"),
    Flag("idle-at-start", False,
         "when nothing plays at start, run -on-idle once after -idle-after seconds (turns "
         "off an amplifier left on by a crash or a power cut)", "bool"),
    Flag("hook-timeout", 10.0, "seconds a hook may run before its process group is killed",
         "float", "SECONDS"),
    Flag("notify-url", (), "URL to POST each change to as JSON; repeat (or, in the "
         "environment, separate with spaces) for several", "urls", "URL"),
    Flag("log-level", "info", "error, warn, info or debug", metavar="LEVEL"),
    Flag("url", "http://127.0.0.1:3001", "with status: the daemon to ask", metavar="URL"),
    Flag("version", False, "print the version and exit", "bool"),
    Flag("help", False, "print this help and exit", "bool"),
)

FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}

WEBHOOK_PATH = "/webhooks/plex"


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
    if flag.kind == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError("-%s: %r is not a whole number" % (flag.name, raw)) from None
    if flag.kind == "float":
        try:
            return float(raw.strip())
        except ValueError:
            raise ConfigError("-%s: %r is not a number of seconds" % (flag.name, raw)) from None
    return raw.strip()


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


def read_secret_file(path, flag):
    """Return the stripped contents of a one-line secret file, or raise ConfigError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(65536)
    except FileNotFoundError:
        raise ConfigError("-%s %s: no such file" % (flag, path)) from None
    except PermissionError:
        raise ConfigError("-%s %s: permission denied (the daemon's user must be able to read it)"
                          % (flag, path)) from None
    except IsADirectoryError:
        raise ConfigError("-%s %s: is a directory, not a file" % (flag, path)) from None
    except OSError as err:
        raise ConfigError("-%s %s: cannot read: %s" % (flag, path, err.strerror)) from None
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
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise ConfigError("-%s: must start with http:// or https://, e.g. %s" % (flag, example))
    if not parts.hostname:
        raise ConfigError("-%s: has no host name, e.g. %s" % (flag, example))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("-%s: must not hold a query, a fragment or a password "
                          "(put the token in -plex-token-file)" % flag)
    try:
        parts.port
    except ValueError:
        raise ConfigError("-%s: has an invalid port" % flag) from None
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


SECRET_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
MIN_SECRET_LENGTH = 16


HOOK_FLAGS = ("on-change", "on-play", "on-pause", "on-stop", "on-idle", "on-active")


def validate_notify_url(url):
    """Check a -notify-url; the message never repeats it (it may hold a password)."""
    example = "e.g. http://homeassistant.local:8123/api/webhook/ID"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port
    except ValueError:
        raise ConfigError("-notify-url: has an invalid host or port, %s" % example) from None
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
    if not 0 <= port <= 65535:
        raise ConfigError("-webhooks-port: %d is out of range (0 to 65535)" % port)
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
    if not 0 < timeout <= 300:
        raise ConfigError("-plex-timeout: must be more than 0 and at most 300 seconds")
    server = validate_server_url(values["plex-server-url"])
    plexamp = validate_server_url(values["plexamp-url"], "plexamp-url", "http://127.0.0.1:32500")
    url = validate_server_url(values["url"], "url", "http://127.0.0.1:3001")
    poll = values["plex-poll-interval"]
    if poll < 0 or 0 < poll < 1:
        raise ConfigError("-plex-poll-interval: must be 0 (off) or at least 1 second")
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
    for flag in ("idle-after", "hook-timeout"):
        if not 0 < values[flag] <= 86400:
            raise ConfigError("-%s: must be more than 0 and at most 86400 seconds" % flag)
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
