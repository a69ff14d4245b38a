"""The HTTP routes: the webhook endpoint, the sources' bridges, health, state, events and
the history.

Routing, the webhook secret and source allow-list, body limits and small
JSON answers live here; how connections are accepted, read and bounded
lives in ``server``. The webhook answer goes out as soon as the event is
queued, before any Plex fetch.
"""

import hmac
import ipaddress
import json
import queue
import socket
import threading
import time
import urllib.parse

from streamerbrainz import __version__
from streamerbrainz.web import live
from streamerbrainz.lib import sse
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.networks import network
from streamerbrainz.lib.repeats import RepeatFilter
from streamerbrainz.web.server import (PREREAD_TOTAL, READ_DEADLINE, BoundedServer, DeadlineHandler,
                                   Refusal)

log = get_logger(__name__)

WEBHOOK_PATH = "/webhooks/plex"
SOURCES_PATH = "/sources/"  # + a source's name: what the bridges post
MAX_SOURCE_BODY = 16 * 1024
CONTROL_PATH = "/control/"  # + an action: the soft transport
MAX_CONTROL_BODY = 4096
HISTORY_PATHS = {"/history": "plays", "/history/stats": "stats"}
HISTORY_OFF = "no history is kept: start the daemon with -state-dir"

MAX_BODY = 8 * 1024 * 1024

ROUTES = {
    WEBHOOK_PATH: ("POST",),
    "/": ("GET", "HEAD"),
    "/healthz": ("GET", "HEAD"),
    "/state": ("GET", "HEAD"),
    "/events": ("GET",),
    "/history": ("GET", "HEAD"),
    "/history/stats": ("GET", "HEAD"),
    SOURCES_PATH: ("POST",),
    CONTROL_PATH: ("POST",),
}

SOURCE_REFUSED = "this address may not send source events (loopback only, unless -sources-allow)"
CONTROL_REFUSED = "this address may not control the players (loopback only, unless -control-allow)"
# The WARN for a refusal, by its message (the doors' own) or else by its status.
REFUSAL_WARNINGS = {
    SOURCE_REFUSED: "source event refused: address not in -sources-allow",
    CONTROL_REFUSED: "control refused: address not in -control-allow",
    403: "webhook refused: address not in -webhooks-allow",
    503: "read-ahead memory full; the slowest connection answered 503",
}


class WebhookHandler(DeadlineHandler):
    """One connection: answers the routes in ``ROUTES`` with small JSON bodies."""

    server_version = "StreamerBrainz/" + __version__

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        pass

    def log_request(self, code="-", size="-"):
        log.debug("http request", method=getattr(self, "command", ""),
                  path=loggable_path(getattr(self, "path", "")), status=code,
                  client=self.client_address[0])

    def send_error(self, code, message=None, explain=None):
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # never answer without a status line
        if code == 501 and getattr(self, "path", ""):
            self.route()  # an unknown method is the client's mistake: 404 or 405
            return
        phrase = self.responses.get(code, ("error",))[0]
        self.reply(code, {"error": message or phrase})

    def reply(self, status, body, headers=()):
        data = (json.dumps(body) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(data)

    def route(self):
        """Return the route when this method may use it; otherwise answer and return None."""
        path = self.server.resolve(urllib.parse.urlsplit(self.path).path)
        allowed = ROUTES.get(path)
        if allowed is None:
            self.reply(404, {"error": "not found"})
            return None
        if self.command not in allowed:
            self.reply(405, {"error": "method not allowed"}, [("Allow", ", ".join(allowed))])
            return None
        return path

    def do_GET(self):
        path = self.route()
        if path == "/events":
            self.stream_events()
        elif path == "/state":
            self.reply(200, self.server.state())
        elif path in HISTORY_PATHS:
            query = urllib.parse.urlsplit(self.path).query
            self.reply(*self.server.history(HISTORY_PATHS[path], query))
        elif path is not None:
            self.reply(200, self.server.health())

    do_HEAD = do_GET

    def stream_events(self):
        """Server-Sent Events: the state now, then each change, heartbeats between."""
        hub = self.server.hub
        subscriber = hub.subscribe(self.connection) if hub is not None else None
        if subscriber is None:
            self.close_connection = True
            self.reply(503, {"error": "too many event subscribers"}, [("Retry-After", "5")])
            return
        try:
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.connection.settimeout(READ_DEADLINE)
            # A small send buffer, so a listener that stops reading fills its
            # queue (and is dropped) after dozens of events, not megabytes.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            self.wfile.write(b"retry: 3000\n\n" + sse.encode("state", self.server.state()))
            while True:
                item = subscriber.next(live.HEARTBEAT_SECONDS)
                if item is None:
                    return
                self.wfile.write(item or b": heartbeat\n\n")
        except OSError:
            return
        finally:
            hub.unsubscribe(subscriber)

    def do_POST(self):
        path = self.route()
        if path is None:
            return
        if path == SOURCES_PATH:
            name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path[len(SOURCES_PATH):])
            self.reply(*self.server.accept_source(name, self.body, self.client_address[0]))
            return
        if path == CONTROL_PATH:
            self.reply(*self.control())
            return
        try:
            event, fetch, reason = self.server.read_webhook(
                self.headers.get("Content-Type", ""), self.body, self.server.followed)
        except ValueError as err:
            log.debug("webhook refused", error=str(err), client=self.client_address[0])
            self.reply(400, {"error": str(err)})
            return
        self.reply(*self.server.accept_event(event, fetch, reason))

    def control(self):
        """``POST /control/<action>``: refused from a web page, else the soft transport's answer.

        A browser on the LAN sends an ``Origin`` with a cross-site POST, and
        can send a form without one: so an ``Origin`` of another site, and
        any body that is not JSON, are refused before anything happens.
        """
        parts = urllib.parse.urlsplit(self.path)
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin is not None and origin not in ("http://" + host, "https://" + host):
            return 403, {"done": False, "reason": "a request from another site (Origin %s) "
                                                  "is refused" % origin[:100]}
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self.body and content_type != "application/json":
            return 415, {"done": False, "reason": "send no body, or application/json"}
        query = urllib.parse.parse_qs(parts.query)
        player = (query.get("player") or [""])[0]
        return self.server.control(parts.path[len(CONTROL_PATH):], player)

    def do_other(self):
        """A method no route allows: ``route()`` answers 404 or 405."""
        self.route()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_other

def loggable_path(path):
    """The request path with any webhook secret masked."""
    path = urllib.parse.urlsplit(path).path[:200]
    if path.startswith(WEBHOOK_PATH + "/"):
        return WEBHOOK_PATH + "/\u2026"
    return path


def in_any(ip, networks):
    """Whether ``ip`` is in one of ``networks`` (of its own IP version)."""
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(address):
    """An ``ipaddress`` object for a peer address, IPv4-mapped IPv6 unwrapped."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


class WebhookServer(BoundedServer):
    """The daemon's HTTP server: what the routes need, on a bounded server."""

    def __init__(self, address, triggers, read_webhook, followed=(), plex_enabled=True, health=None,
                 state=None, hub=None, secret="", allow=(), max_connections=32,
                 max_body=MAX_BODY, max_preread=PREREAD_TOTAL, read_source=None,
                 sources_allow=(), control=None, control_allow=(), settle_source=None,
                 history=None):
        super().__init__(address, WebhookHandler, max_connections, max_body, max_preread)
        self.triggers = triggers
        self.read_webhook = read_webhook
        self.followed = frozenset(followed)
        self.plex_enabled = plex_enabled
        self._health = health or (lambda: {})
        self._state = state or (lambda: {"players": [], "any_playing": False})
        self.hub = hub
        self.secret = secret
        self.allow = tuple(network(item) for item in allow)
        self.read_source = read_source  # (name, body, now) -> Trigger, or ValueError
        self.sources_allow = tuple(network(item) for item in sources_allow)
        self._control = control  # (action, player) -> (status, body)
        self.settle_source = settle_source  # (trigger) -> None, once what it starts has yielded
        self.control_allow = tuple(network(item) for item in control_allow)
        self._history = history  # (what, query string) -> (status, body)
        self._refusals = RepeatFilter()  # the accept thread's
        self._full = RepeatFilter()  # the workers', under _full_lock
        self._full_lock = threading.Lock()

    def health(self):
        return self._health()

    def state(self):
        return self._state()

    def history(self, what, query):
        """The history's answer for ``what`` (plays or stats): ``(status, body)``."""
        if self._history is None:
            return 404, {"error": HISTORY_OFF}
        return self._history(what, query)

    def resolve(self, path):
        """Map a request path to its route; a wrong or missing secret maps to nothing."""
        secret = self.secret
        if path.startswith(WEBHOOK_PATH + "/"):
            given = path[len(WEBHOOK_PATH) + 1:].encode("utf-8", "surrogateescape")
            if secret and hmac.compare_digest(given, secret.encode("utf-8")):
                return WEBHOOK_PATH
            return None
        if path == WEBHOOK_PATH and secret:
            return None
        for prefix in (SOURCES_PATH, CONTROL_PATH):
            if path.startswith(prefix) and len(path) > len(prefix):
                return prefix
        return path

    def screen(self, head, address):
        """Refuse from the head alone: an unknown path (or secret), a method, a source."""
        path = self.resolve(urllib.parse.urlsplit(head.target).path)
        allowed = ROUTES.get(path)
        if allowed is None:
            return Refusal(404, "not found")
        if head.method not in allowed:
            return Refusal(405, "method not allowed", [("Allow", ", ".join(allowed))])
        if path == SOURCES_PATH:
            if self.read_source is None or not self.source_allowed(address[0]):
                return Refusal(403, SOURCE_REFUSED)
            if head.length > MAX_SOURCE_BODY:
                return Refusal(413, "a source event is at most %d bytes" % MAX_SOURCE_BODY)
            return None
        if path == CONTROL_PATH:
            if self._control is None or not self.in_networks(address[0], self.control_allow):
                return Refusal(403, CONTROL_REFUSED)
            if head.length > MAX_CONTROL_BODY:
                return Refusal(413, "a control request is at most %d bytes" % MAX_CONTROL_BODY)
            return None
        if head.method == "POST" and not self.allowed(address[0]):
            return Refusal(403, "this address may not send webhooks")
        return None

    def source_allowed(self, address):
        """Whether ``address`` may POST source events: loopback, or ``-sources-allow``."""
        return self.in_networks(address, self.sources_allow)

    @staticmethod
    def in_networks(address, networks):
        """Whether ``address`` is loopback or in one of ``networks``."""
        ip = client_ip(address)
        return ip is not None and (ip.is_loopback or in_any(ip, networks))

    def control(self, action, player):
        """The soft transport's answer to ``action`` for ``player``: ``(status, body)``."""
        return self._control(action, player)

    def allowed(self, address):
        """Whether ``address`` may POST webhooks (``-webhooks-allow``)."""
        if not self.allow:
            return True
        ip = client_ip(address)
        return ip is not None and in_any(ip, self.allow)

    def log_refusal(self, status, address, message=""):
        """Log refusals without flooding: one WARN a minute for each kind, all sources."""
        kind = message if message in REFUSAL_WARNINGS else status
        message = REFUSAL_WARNINGS.get(kind)
        if message is None:
            log.debug("request refused", status=status, client=address[0])
            return
        log_now, repeats = self._refusals.check(kind, time.monotonic())
        if log_now:
            fields = {"repeated": repeats} if repeats else {}
            log.warn(message, client=address[0], **fields)
        else:
            log.debug(message, client=address[0])

    def accept_source(self, name, body, client):
        """Queue a bridge's event for the state keeper; return ``(status, body[, headers])``."""
        try:
            event = self.read_source(name, body, time.monotonic())
        except ValueError as err:
            log.debug("source event refused", error=str(err), client=client)
            return 400, {"error": str(err)}
        try:
            self.triggers.put_nowait(event)
        except queue.Full:
            return 503, {"error": "too many events queued; retry"}, [("Retry-After", "1")]
        log.debug("source event received", source=event.origin, event=event.event,
                  state=event.state or "")
        if self.settle_source is not None:
            self.settle_source(event)
        return 200, {"status": "queued"}

    def accept_event(self, event, fetch=True, reason=""):
        """Queue a trigger for the state keeper; return ``(status, body[, headers])``."""
        fields = dict(event=event.event or "(empty)", machine_id=event.machine_id,
                      player=event.player)
        if fetch and not self.plex_enabled:
            fetch, reason = False, "Plex is not enabled"
        if not fetch:
            log.debug("webhook ignored", reason=reason, **fields)
            return 200, {"status": "ignored", "reason": reason}
        try:
            self.triggers.put_nowait(event)
        except queue.Full:
            with self._full_lock:
                log_now, repeats = self._full.check("full", time.monotonic())
            if log_now:
                extra = {"repeated": repeats} if repeats else {}
                log.warn("webhook queue full; answering 503", **fields, **extra)
            return 503, {"error": "too many webhooks queued; retry"}, [("Retry-After", "1")]
        log.debug("webhook received", **fields)
        return 200, {"status": "queued"}
