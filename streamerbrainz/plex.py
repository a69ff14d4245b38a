"""The Plex API client and the pure ``/status/sessions`` XML → ``Session`` parser.

The token travels only in the ``X-Plex-Token`` request header. Errors are
``PlexError`` with a ``kind`` the fetcher can reason about (``auth`` is never
retried) and a message that names no secret.
"""

import dataclasses
import hashlib
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from xml.parsers import expat

from streamerbrainz import __version__

MAX_ANSWER_BYTES = 16 * 1024 * 1024
# Stable per machine, as Plex asks of a client identifier.
CLIENT_IDENTIFIER = "streamerbrainz-" + hashlib.sha1(socket.gethostname().encode()).hexdigest()[:20]


class PlexError(Exception):
    """A failed request to Plex.

    ``kind`` is one of ``network``, ``timeout``, ``http``, ``auth``,
    ``certificate`` or ``malformed``; ``retryable`` says whether asking
    again may help.
    """

    def __init__(self, kind, message, status=0):
        super().__init__(message)
        self.kind = kind
        self.status = status

    @property
    def retryable(self):
        if self.kind in ("network", "timeout"):
            return True
        return self.kind == "http" and (self.status >= 500 or self.status == 429)


@dataclasses.dataclass(frozen=True)
class Session:
    """One media item playing on one player, as ``/status/sessions`` tells it."""

    machine_id: str = ""
    player_title: str = ""
    product: str = ""
    platform: str = ""
    state: str = ""
    session_key: str = ""
    rating_key: str = ""
    media_type: str = ""
    title: str = ""
    artist: str = ""
    album: str = ""
    duration_ms: int = 0
    view_offset_ms: int = 0


# Plex's media types by kind, in the order a player's current session is chosen.
MEDIA_KINDS = {"track": "music", "movie": "video", "episode": "video", "clip": "video",
               "video": "video", "trailer": "video", "photo": "photo"}
KIND_ORDER = ("photo", "video", "music")  # later wins
STATE_ORDER = ("paused", "buffering", "playing")  # later wins


def media_kind(media_type):
    """``music``, ``video``, ``photo`` or empty, from a Plex media ``type``."""
    return MEDIA_KINDS.get(media_type, "")


def artist_of(media_type, original_title, grandparent_title):
    """The artist to show: ``originalTitle`` only for music.

    On a track ``originalTitle`` is the track artist (a compilation's);
    on a movie or an episode it is the original-language title, never an
    artist.
    """
    if media_type == "track" and original_title:
        return original_title
    return grandparent_title


def to_int(value, default=0):
    """A whole number from a value Plex may send as text, a float or not at all."""
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


class _Refused(Exception):
    pass


def _refuse(*args):
    raise _Refused()


def parse_xml(data, what="Plex answer"):
    """Parse an XML answer into an Element, refusing any DOCTYPE or ENTITY declaration.

    Plex never sends one; refusing them stops entity-expansion and external
    entity attacks, whatever the document's encoding. Raises PlexError
    (``malformed``).
    """
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        return builder.close()
    except _Refused:
        raise PlexError("malformed", "%s holds a DOCTYPE or ENTITY declaration; refused"
                        % what) from None
    except (expat.ExpatError, LookupError, ValueError, AssertionError) as err:
        # LookupError, ValueError: an encoding expat does not know;
        # AssertionError: TreeBuilder.close() on a document with no element.
        raise PlexError("malformed", "%s is not valid XML (%s)" % (what, err)) from None


def parse_sessions(data):
    """Parse a ``/status/sessions`` answer into a list of Session.

    Every child of ``MediaContainer`` with a ``Player`` child is a session;
    missing attributes become empty strings or zero. Raises PlexError
    (``malformed``) for anything that is not such a document.
    """
    root = parse_xml(data)
    if root.tag != "MediaContainer":
        raise PlexError("malformed", "Plex answer is not a MediaContainer (got <%s>)"
                        % root.tag[:40])
    sessions = []
    for item in root:
        player = item.find("Player")
        if player is None:
            continue
        get = item.attrib.get
        media_type = get("type", "") or item.tag.lower()
        sessions.append(Session(
            machine_id=player.get("machineIdentifier", ""),
            player_title=player.get("title", "") or player.get("product", ""),
            product=player.get("product", ""),
            platform=player.get("platform", ""),
            state=player.get("state", ""),
            session_key=get("sessionKey", ""),
            rating_key=get("ratingKey", ""),
            media_type=media_type,
            title=get("title", ""),
            artist=artist_of(media_type, get("originalTitle", ""), get("grandparentTitle", "")),
            album=get("parentTitle", ""),
            duration_ms=max(0, to_int(get("duration"))),
            view_offset_ms=max(0, to_int(get("viewOffset"))),
        ))
    return sessions


def _rank(values, value):
    return values.index(value) if value in values else -1


def session_order(session, preferred_kind=""):
    """How strongly ``session`` claims to be its player's current one (higher wins).

    Plex keeps one timeline per media type, so a player may hold paused
    music beside a playing slide show: the kind the trigger or the previous
    state named comes first, then music before video before photo, then
    playing before paused, and the highest ``sessionKey`` only breaks a tie.
    """
    kind = media_kind(session.media_type)
    key = session.session_key
    numeric = (1, int(key), "") if key.isascii() and key.isdigit() and len(key) <= 18 \
        else (0, 0, key)
    return (bool(preferred_kind) and kind == preferred_kind, _rank(KIND_ORDER, kind),
            _rank(STATE_ORDER, session.state)) + numeric


def current_by_player(sessions, preferred=None):
    """Map machine identifier → its current session (see ``session_order``).

    ``preferred`` maps a machine identifier to the media kind (``music``,
    ``video``, ``photo``) its trigger or its previous state named.
    """
    preferred = preferred or {}
    current, orders = {}, {}
    for session in sessions:
        order = session_order(session, preferred.get(session.machine_id, ""))
        if session.machine_id not in current or order > orders[session.machine_id]:
            current[session.machine_id] = session
            orders[session.machine_id] = order
    return current


class _Connections:
    """Remembers the socket in use so another thread can cut it.

    The socket itself is kept, not the connection: urllib detaches it from
    the connection once the answer's headers are in, while its body may
    still be read (a notification stream is read for hours).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.current = None
        self.aborted = False

    def track(self, connection):
        with self.lock:
            self.current = connection.sock
            if self.aborted:
                self._shutdown(self.current)

    def abort(self):
        with self.lock:
            self.aborted = True
            if self.current is not None:
                self._shutdown(self.current)

    @staticmethod
    def _shutdown(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Tracked:
    """Mixed into a connection class: tells ``registry`` its socket once connected."""

    registry = None

    def connect(self):
        super().connect()
        self.registry.track(self)


class _TrackingHandler(urllib.request.AbstractHTTPHandler):
    """Opens http and https connections whose sockets ``registry`` can cut."""

    http_request = https_request = urllib.request.AbstractHTTPHandler.do_request_

    def __init__(self, registry, context=None):
        super().__init__()
        self.context = context
        extra = {"registry": registry}
        self.http_class = type("HTTPConnection", (_Tracked, http.client.HTTPConnection), extra)
        self.https_class = type("HTTPSConnection", (_Tracked, http.client.HTTPSConnection), extra)

    def http_open(self, req):
        return self.do_open(self.http_class, req)

    def https_open(self, req):
        return self.do_open(self.https_class, req, context=self.context)


def direct_opener(*handlers):
    """urllib with ``handlers`` and nothing that would send a request elsewhere.

    No proxy (the token must not travel through one), no redirect (a
    redirected POST would arrive as a GET without its body).
    """
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.UnknownHandler(),) + handlers + (
            urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler()):
        opener.add_handler(handler)
    return opener


class PlexClient:
    """Asks one Plex Media Server questions, one at a time, with a timeout.

    ``abort()`` (from another thread) cuts the request in flight short, so a
    hung server never holds up a shutdown. ``ca_file`` (PEM) replaces the
    system's certificate authorities for https; verification stays on.
    """

    def __init__(self, base_url, token, timeout=5.0, name="Plex", ca_file=""):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._connections = _Connections()
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._opener = direct_opener(_TrackingHandler(self._connections, context))

    def headers(self, accept="application/xml"):
        headers = {
            "Accept": accept,
            "X-Plex-Product": "StreamerBrainz",
            "X-Plex-Version": __version__,
            "X-Plex-Client-Identifier": CLIENT_IDENTIFIER,
            "X-Plex-Platform": "Python",
            "X-Plex-Device-Name": socket.gethostname(),
        }
        if self.token:
            headers["X-Plex-Token"] = self.token
        return headers

    def get(self, path, timeout=None):
        """GET ``path`` and return the body bytes, or raise PlexError."""
        timeout = self.timeout if timeout is None else timeout
        with self.open(path, timeout) as answer:
            try:
                body = read_capped(answer, MAX_ANSWER_BYTES)
            except socket.timeout:
                raise PlexError("timeout", "%s did not answer in time (timeout %gs)"
                                % (self.name, self.timeout)) from None
            except (OSError, http.client.HTTPException) as err:
                raise PlexError("network", "connection to %s failed: %s"
                                % (self.name, _describe(err))) from None
        if body is None:
            raise PlexError("malformed", "%s answer is larger than %d MiB; refused"
                            % (self.name, MAX_ANSWER_BYTES // (1024 * 1024)))
        return body

    def open(self, path, timeout=None, accept="application/xml", headers=None):
        """GET ``path`` and return the open answer (a file object), or raise PlexError.

        ``timeout`` applies to connecting and to every read after that.
        """
        all_headers = self.headers(accept)
        all_headers.update(headers or {})
        request = urllib.request.Request(self.base_url + path, headers=all_headers)
        timeout = self.timeout if timeout is None else timeout
        try:
            return self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code in (401, 403):
                raise PlexError("auth", "Plex rejected the token (%d)" % err.code,
                                err.code) from None
            raise PlexError("http", "%s answered %d %s" % (self.name, err.code, err.reason),
                            err.code) from None
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise certificate_error(self.name, reason) from None
            if isinstance(reason, socket.timeout):
                raise PlexError("timeout", "%s did not answer in time (timeout %gs)"
                                % (self.name, self.timeout)) from None
            raise PlexError("network", "cannot reach %s: %s"
                            % (self.name, _describe(reason))) from None
        except socket.timeout:
            raise PlexError("timeout", "%s did not answer in time (timeout %gs)"
                                % (self.name, self.timeout)) from None
        except (OSError, http.client.HTTPException) as err:
            if self._connections.aborted:
                raise PlexError("network", "request aborted by shutdown") from None
            raise PlexError("network", "connection to %s failed: %s"
                            % (self.name, _describe(err))) from None

    def sessions(self, timeout=None):
        """Return the list of Session now playing."""
        return parse_sessions(self.get("/status/sessions", timeout))

    def abort(self):
        """Cut the request in flight (if any) and refuse new ones."""
        self._connections.abort()


def certificate_error(name, err):
    """The PlexError for a certificate that failed verification, with both fixes."""
    reason = (getattr(err, "verify_message", "") or getattr(err, "reason", "") or
              "certificate verify failed").rstrip(".")
    return PlexError("certificate", "%s's https certificate was not accepted (%s): use the "
                     "https://....plex.direct:32400 address Plex shows under Settings > Network, "
                     "or give the certificate authority that signed it with -plex-ca-file"
                     % (name, reason))


def read_capped(answer, limit):
    """Read a whole answer in chunks; None when it is longer than ``limit``.

    One ``read(limit + 1)`` would make some Python versions allocate (and
    keep) a buffer of the full limit for every answer.
    """
    chunks, total = [], 0
    while True:
        chunk = answer.read(min(65536, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def _describe(err):
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    text = str(err) or type(err).__name__
    return text
