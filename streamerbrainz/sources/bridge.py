"""The bridges: ``librespot-event`` and ``source-event``, small programs other players run.

librespot runs ``streamerbrainz librespot-event`` for every event, one at a
time, and waits for it: it must end quickly and with status 0 whatever
happens (librespot warns on any other), known event or not, daemon up or
down (then one line on stderr). shairport-sync runs ``streamerbrainz
source-event airplay playing`` from its hooks, with arguments only. Both
send one ``POST /sources/<name>`` to the daemon at ``-url`` (environment
``STREAMERBRAINZ_URL``, default ``http://127.0.0.1:3001``) over TCP, which
raspotify's sandbox allows (nothing in /tmp, no file of the daemon's).

Started once per event, so it imports as little as it can: no settings, no
room but the variable names of ``sources.librespot``.
"""

import json
import os
import socket
import sys
import time
import urllib.parse

from streamerbrainz.sources import librespot

DEFAULT_URL = "http://127.0.0.1:3001"
TIMEOUT = 3.0  # the whole exchange; a sink-running call may wait up to 2 s for a pause
MAX_ANSWER = 4096
MAX_VALUE = 2048
EXIT_OK, EXIT_USAGE = 0, 2
STATES = ("playing", "paused", "stopped", "buffering")  # sources.events.STATES

USAGE = {
    "librespot-event": "usage: streamerbrainz librespot-event [-url URL]  (run by librespot's "
                       "--onevent; reads PLAYER_EVENT and its variables)",
    "source-event": "usage: streamerbrainz source-event [-url URL] NAME "
                    "playing|paused|stopped|buffering [TITLE]",
}


class BridgeError(Exception):
    """The daemon could not be told; the text is the one line for stderr."""


def parse_args(command, argv, environ):
    """``(url, positional arguments)``; ValueError for a usage error."""
    url = environ.get("STREAMERBRAINZ_URL") or DEFAULT_URL
    rest = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, has_value, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name == "url":
            if not has_value:
                if not args:
                    raise ValueError("-url: needs a value")
                value = args.pop(0)
            url = value
        elif arg in ("-h", "-help", "--help"):
            raise ValueError(USAGE[command])
        elif arg.startswith("-") and len(arg) > 1:
            raise ValueError("flag provided but not defined: %s" % arg)
        else:
            rest.append(arg)
    return url, rest


def body_of(command, rest, environ):
    """``(source name, JSON body bytes)`` for the command; ValueError for a usage error."""
    if command == "librespot-event":
        if rest:
            raise ValueError("unexpected argument %r" % rest[0])
        variables = {name: environ[name][:MAX_VALUE] for name in librespot.VARIABLES
                     if name in environ}
        return "spotify", json.dumps({"librespot": variables}).encode("utf-8")
    if len(rest) not in (2, 3) or rest[1] not in STATES:
        raise ValueError(USAGE[command])
    document = {"state": rest[1]}
    if len(rest) == 3:
        document["title"] = rest[2][:MAX_VALUE]
    return rest[0], json.dumps(document).encode("utf-8")


def send(url, name, body, timeout=TIMEOUT):
    """POST ``body`` to ``url``'s ``/sources/<name>``, the whole exchange within ``timeout``.

    One HTTP/1.1 request on a plain socket (``http.client`` alone would
    double the bridge's start-up), read until the daemon closes.
    """
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise BridgeError("-url %s: use http://HOST:PORT, e.g. %s" % (url, DEFAULT_URL))
    where = "the daemon at %s" % url
    deadline = time.monotonic() + timeout
    host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
    request = ("POST /sources/%s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: streamerbrainz-bridge"
               "\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
               "Connection: close\r\n\r\n" % (urllib.parse.quote(name), host, port, len(body))
               ).encode("ascii") + body
    answer = b""
    try:
        with socket.create_connection((parts.hostname, port), timeout) as sock:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.sendall(request)
            while len(answer) < MAX_ANSWER:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(MAX_ANSWER - len(answer))
                if not data:
                    break
                answer += data
    except socket.timeout:
        raise BridgeError("cannot tell %s: no answer within %gs" % (where, timeout)) from None
    except OSError as err:
        raise BridgeError("cannot tell %s: %s" % (where, err.strerror or err)) from None
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
    if status == 200:
        return
    if not status:
        raise BridgeError("cannot tell %s: it answered no HTTP" % where)
    try:
        reason = json.loads(content.decode("utf-8")).get("error", "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        reason = ""
    raise BridgeError("%s answered %d%s" % (where, status,
                                            ": " + str(reason)[:200] if reason else ""))


def main(command, argv, environ=None):
    """Run one bridge call; return the exit status."""
    environ = os.environ if environ is None else environ
    try:
        url, rest = parse_args(command, argv, environ)
        name, body = body_of(command, rest, environ)
    except ValueError as err:
        print("streamerbrainz %s: %s" % (command, err), file=sys.stderr)
        return EXIT_OK if command == "librespot-event" else EXIT_USAGE
    try:
        send(url, name, body)
    except BridgeError as err:
        print("streamerbrainz %s: %s" % (command, err), file=sys.stderr)
    return EXIT_OK
