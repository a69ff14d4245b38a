"""The Plex API client and the pure ``/status/sessions`` XML → ``Session`` parser.

The token travels only in the ``X-Plex-Token`` request header. Errors are
``PlexError`` with a ``kind`` the fetcher can reason about (``auth`` is never
retried) and a message that names no secret.
"""

import dataclasses
import ipaddress
import http.client
import socket
import ssl
from xml.parsers import expat

try:  # the same SHA-1 as hashlib's, without loading OpenSSL at start
    from _sha1 import sha1
except ImportError:  # pragma: no cover (a Python built without it)
    from hashlib import sha1

from streamerbrainz import __version__
from streamerbrainz.core.track import NO_TRACK, Track
from streamerbrainz.lib import opener
from streamerbrainz.lib.opener import RequestError as PlexError  # Plex's failures are requests' failures

HINT = "-plex-timeout"  # what a too slow answer's message names
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# A sessions answer holds about 20 elements per session, 5 deep: these
# bounds are thousands of sessions away, and keep a hostile answer small.
MAX_ELEMENTS = 100000
MAX_DEPTH = 64
MAX_DIGITS = 18  # fits a 64-bit integer; no Plex number is longer
# Stable per machine, as Plex asks of a client identifier.
CLIENT_IDENTIFIER = "streamerbrainz-" + sha1(socket.gethostname().encode()).hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class Session:
    """One media item playing on one player, as ``/status/sessions`` tells it."""

    machine_id: str = ""
    player: str = ""
    product: str = ""
    platform: str = ""
    state: str = ""
    track: Track = NO_TRACK
    position_ms: int = 0
    address: str = ""  # the player's LAN address (an IP literal), where its API listens


def ip_literal(text):
    """``text`` when it is an IP address (the Player's ``address``), else ''."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return ""


# States a notification or a timeline reports that decide the player's state;
# "buffering" and "error" leave it to the session.
REPORTED_STATES = {"playing": "playing", "paused": "paused", "stopped": "stopped"}
KIND_ORDER = ("photo", "video", "music")  # later wins
STATE_ORDER = ("paused", "buffering", "playing")  # later wins


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
    """A whole number from a value Plex may send as text, a float or not at all.

    Anything of more than ``MAX_DIGITS`` digits gives ``default``: no
    string of any length can raise.
    """
    if isinstance(value, int):
        return int(value) if abs(value) < 10 ** MAX_DIGITS else default
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DIGITS + 2:  # a sign and a decimal point
            return default
        if text.isascii() and text.isdigit():
            return int(text) if len(text) <= MAX_DIGITS else default
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default
    return number if abs(number) < 10 ** MAX_DIGITS else default


class _Refused(Exception):
    pass


def _refuse(*args):
    raise _Refused()


class BoundedParser:
    """expat, refusing DOCTYPE and ENTITY declarations and bounding elements and depth.

    Plex never sends a declaration; refusing them stops entity-expansion and
    external entity attacks, whatever the document's encoding. Subclasses
    override ``start`` and ``end``; ``feed`` raises only PlexError
    (``malformed``), naming the bound an answer broke.
    """

    def __init__(self, what="Plex answer", max_elements=MAX_ELEMENTS, max_depth=MAX_DEPTH):
        self.what = what
        self.max_elements = max_elements
        self.max_depth = max_depth
        self.elements = 0
        self.depth = 0
        self.refusal = None
        parser = expat.ParserCreate()
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.ExternalEntityRefHandler = _refuse
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self.data
        self._parser = parser

    def _start(self, name, attrs):
        self.elements += 1
        self.depth += 1
        if self.elements > self.max_elements:
            self.refusal = "more than %d elements" % self.max_elements
            raise _Refused()
        if self.depth > self.max_depth:
            self.refusal = "elements nested more than %d deep" % self.max_depth
            raise _Refused()
        self.start(name, attrs, self.depth)

    def _end(self, name):
        self.end(name, self.depth)
        self.depth -= 1

    def start(self, name, attrs, depth):
        pass

    def end(self, name, depth):
        pass

    def data(self, text):
        pass

    def feed(self, data, final=False):
        try:
            self._parser.Parse(data, final)
        except _Refused:
            if self.refusal:
                raise PlexError("malformed", "%s holds %s; refused" % (self.what, self.refusal)) \
                    from None
            raise PlexError("malformed", "%s holds a DOCTYPE or ENTITY declaration; refused"
                            % self.what) from None
        except (expat.ExpatError, LookupError, ValueError, RecursionError) as err:
            # LookupError, ValueError: an encoding expat does not know.
            raise PlexError("malformed", "%s is not valid XML (%s)" % (self.what, err)) from None
        if final and not self.elements:
            raise PlexError("malformed", "%s is not valid XML (no element found)" % self.what)


class _TreeParser(BoundedParser):
    def __init__(self, what, max_elements):
        super().__init__(what, max_elements)
        import xml.etree.ElementTree as ElementTree  # the first answer parsed as a tree
        self.builder = ElementTree.TreeBuilder()

    def start(self, name, attrs, depth):
        self.builder.start(name, attrs)

    def end(self, name, depth):
        self.builder.end(name)

    def data(self, text):
        self.builder.data(text)


def parse_xml(data, what="Plex answer", max_elements=MAX_ELEMENTS):
    """Parse an XML answer into an Element, within the bounds of ``BoundedParser``.

    Raises PlexError (``malformed``).
    """
    parser = _TreeParser(what, max_elements)
    parser.feed(data, True)
    try:
        return parser.builder.close()
    except AssertionError:
        raise PlexError("malformed", "%s is not valid XML" % what) from None


class SessionsParser(BoundedParser):
    """Builds the Session list of a ``/status/sessions`` answer as it streams in.

    Only the current item's attributes and its first ``Player`` are kept,
    never the whole tree.
    """

    def __init__(self):
        super().__init__("Plex answer")
        self.sessions = []
        self._item = None
        self._player = None

    def start(self, name, attrs, depth):
        if depth == 1 and name != "MediaContainer":
            raise PlexError("malformed", "Plex answer is not a MediaContainer (got <%s>)"
                            % name[:40])
        if depth == 2:
            self._item, self._player = (name, attrs), None
        elif depth == 3 and name == "Player" and self._player is None:
            self._player = attrs

    def end(self, name, depth):
        if depth == 2 and self._player is not None:
            self.sessions.append(session_from(self._item[0], self._item[1], self._player))
        if depth == 2:
            self._item = self._player = None


def session_from(tag, item, player):
    """A Session from one item's attributes and its Player's."""
    get = item.get
    media_type = get("type", "") or tag.lower()
    return Session(
        machine_id=player.get("machineIdentifier", ""),
        player=player.get("title", "") or player.get("product", ""),
        product=player.get("product", ""),
        platform=player.get("platform", ""),
        state=player.get("state", ""),
        track=Track(
            title=get("title", ""),
            artist=artist_of(media_type, get("originalTitle", ""), get("grandparentTitle", "")),
            album=get("parentTitle", ""),
            duration_ms=max(0, to_int(get("duration"))),
            rating_key=get("ratingKey", ""),
            session_key=get("sessionKey", ""),
            media_type=media_type,
        ),
        position_ms=max(0, to_int(get("viewOffset"))),
        address=ip_literal(player.get("address", "")),
    )


def parse_sessions(data):
    """Parse a ``/status/sessions`` answer into a list of Session.

    Every child of ``MediaContainer`` with a ``Player`` child is a session;
    missing attributes become empty strings or zero. Raises PlexError
    (``malformed``) for anything that is not such a document.
    """
    parser = SessionsParser()
    parser.feed(data, True)
    return parser.sessions


def _rank(values, value):
    return values.index(value) if value in values else -1


def session_order(session, preferred_kind=""):
    """How strongly ``session`` claims to be its player's current one (higher wins).

    Plex keeps one timeline per media type, so a player may hold paused
    music beside a playing slide show: the kind the trigger or the previous
    state named comes first, then music before video before photo, then
    playing before paused, and the highest ``sessionKey`` only breaks a tie.
    """
    kind = session.track.kind()
    key = session.track.session_key
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
        self._connections = opener.Connections()
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._context = context
        self._opener = None  # urllib's, built at the first open(): sessions() needs none
        # sessions() only: the one question asked again and again, by one thread
        self._kept = opener.KeptConnection(self.base_url, self._connections,
                                           context or (ssl.create_default_context()
                                                       if self.base_url.startswith("https")
                                                       else None))

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

    def get(self, path, timeout=None, limit=MAX_ANSWER_BYTES):
        """GET ``path`` and return the body bytes, or raise PlexError.

        ``timeout`` bounds the whole answer, connect to last byte.
        """
        deadline = opener.Deadline(self.timeout if timeout is None else timeout)
        with self.open(path, deadline=deadline) as answer:
            body = opener.read_within(answer, limit, deadline, self.name, hint=HINT)
        if body is None:
            raise PlexError("malformed", "%s answer is larger than %s; refused"
                            % (self.name, opener.size_text(limit)))
        return body

    def open(self, path, timeout=None, accept="application/xml", headers=None, deadline=None):
        """GET ``path`` and return the open answer (a file object), or raise PlexError.

        ``deadline`` (else one of ``timeout`` seconds) bounds connecting, the
        head and every read after that; ``deadline.extend`` moves it on.
        """
        import urllib.error
        import urllib.request
        if self._opener is None:
            self._opener = opener.direct_opener(opener.tracking_handler(self._connections,
                                                                        self._context))
        all_headers = self.headers(accept)
        all_headers.update(headers or {})
        request = urllib.request.Request(self.base_url + path, headers=all_headers)
        if deadline is None:
            deadline = opener.Deadline(self.timeout if timeout is None else timeout)
        self._connections.deadline = deadline
        try:
            return self._opener.open(request, timeout=max(0.001, deadline.remaining()))
        except urllib.error.HTTPError as err:
            err.close()
            raise self._refused(err.code, err.reason) from None
        except urllib.error.URLError as err:
            raise self._unreachable(err.reason, deadline) from None
        except (OSError, http.client.HTTPException) as err:
            raise self._broken(err, deadline) from None

    def _refused(self, status, reason):
        """The PlexError for an answer that is no 2xx."""
        if status in (401, 403):
            return PlexError("auth", "Plex rejected the token (%d)" % status, status)
        return PlexError("http", "%s answered %d %s" % (self.name, status, reason), status)

    def _unreachable(self, reason, deadline):
        """The PlexError for a connection that could not be made (``reason``: its error)."""
        if isinstance(reason, ssl.SSLCertVerificationError):
            return certificate_error(self.name, reason)
        if isinstance(reason, socket.timeout):
            return opener.too_slow(self.name, deadline, HINT)
        return PlexError("network", "cannot reach %s: %s" % (self.name, opener.describe(reason)))

    def _broken(self, err, deadline):
        """The PlexError for a connection that failed once made."""
        if isinstance(err, socket.timeout):
            return opener.too_slow(self.name, deadline, HINT)
        if self._connections.aborted:
            return PlexError("network", "request aborted by shutdown")
        return PlexError("network", "connection to %s failed: %s"
                         % (self.name, opener.describe(err)))

    def sessions(self, timeout=None):
        """Return the list of Session now playing, parsed as the answer streams in.

        Asked on a connection kept open from one call to the next.
        """
        deadline = opener.Deadline(self.timeout if timeout is None else timeout)
        parser = SessionsParser()
        answer = self._kept_get("/status/sessions", deadline)
        whole = None
        try:
            whole = opener.read_within(answer, MAX_ANSWER_BYTES, deadline, self.name,
                                       parser.feed, hint=HINT)
        finally:
            self._kept.done(answer, whole is not None)
        if whole is None:
            raise PlexError("malformed", "%s answer is larger than %s; refused"
                            % (self.name, opener.size_text(MAX_ANSWER_BYTES)))
        parser.feed(b"", True)
        return parser.sessions

    def _kept_get(self, path, deadline):
        """GET ``path`` on the kept connection: the answer, its head read; PlexError as open's."""
        if self._connections.aborted:
            raise PlexError("network", "request aborted by shutdown")
        try:
            answer = self._kept.get(path, self.headers(), deadline)
        except opener.ConnectFailed as err:
            raise self._unreachable(err.reason, deadline) from None
        except (OSError, http.client.HTTPException) as err:
            raise self._broken(err, deadline) from None
        if not 200 <= answer.status < 300:
            self._kept.close()
            raise self._refused(answer.status, answer.reason)
        return answer

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
