"""Stand-ins for the trigger sources that need no Plex Pass.

``NotifyingPlexStub`` is a ``PlexStub`` that also serves Plex's
Server-Sent Events notification stream
(``GET /:/eventsource/notifications?filters=playing``): the test pushes
events into every open stream, pings, or drops the streams to make the
daemon reconnect. ``PlexampStub`` is a headless Plexamp player: it answers
``/resources`` and long-polls ``/player/timeline/poll``, holding each
answer until the test changes the timeline or ``hold`` seconds pass (a
change made between two polls is answered at once). It also takes the
transport commands (``/player/playback/pause`` and the rest): it records
each, answers ``OK`` and changes its timeline as a player would, unless
the test makes it ignore a command (200 and nothing happens, as Plexamp
does) or answer late.

Both derive from ``httpstub.StubServer``: they bind to 127.0.0.1 on a free port,
record every request, and release whatever they hold when stopped.
"""

import collections
import json
import threading
from xml.sax.saxutils import quoteattr

from tests.support.httpstub import StubServer, start_server
from tests.support.plexstub import DEFAULT_TOKEN, SERVER_MACHINE_ID, UNAUTHORIZED_BODY, PlexStub

NOTIFICATIONS_PATH = "/:/eventsource/notifications"
PLEXAMP_MACHINE_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"

_CLOSE = object()



def play_notification(machine_id, state, session_key="53", rating_key="6260", view_offset=30496):
    """One PlaySessionStateNotification dict with the fields of a real capture."""
    return {
        "sessionKey": str(session_key),
        "clientIdentifier": machine_id,
        "guid": "",
        "ratingKey": str(rating_key),
        "url": "",
        "key": "/library/metadata/%s" % rating_key,
        "viewOffset": view_offset,
        "playQueueItemID": 7021,
        "playQueueID": 212,
        "state": state,
    }


def bare(notification):
    """The ``data:`` of a ``playing`` event as the SSE clients parse it: no wrapper."""
    return {"PlaySessionStateNotification": notification}


def wrapped(*notifications):
    """The ``data:`` of a ``playing`` event in the websocket's NotificationContainer shape."""
    return {"NotificationContainer": {"type": "playing", "size": len(notifications),
                                      "PlaySessionStateNotification": list(notifications)}}


def sse_event(event, data):
    """Encode one Server-Sent Event; ``data`` is a str or a JSON-ready object."""
    if not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    lines = ["event: %s" % event] + ["data: %s" % line for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class _Stream:
    """One open notification stream: a queue of byte strings to write."""

    def __init__(self):
        self.queue = collections.deque()
        self.closed = False


class NotifyingPlexStub(PlexStub):
    """A PlexStub that also serves the notification stream."""

    def __init__(self, token=DEFAULT_TOKEN, sessions=None, hold_streams=False, **kwargs):
        if sessions is not None:
            kwargs["sessions"] = sessions
        super().__init__(token=token, **kwargs)
        self._streams = []
        self.stream_count = 0  # streams ever opened (after the token check)
        self._gate = threading.Event()
        if not hold_streams:
            self._gate.set()

    # -- what the test does -------------------------------------------------

    def push(self, data):
        """Write ``data`` (bytes) to every open stream."""
        with self._lock:
            for stream in self._streams:
                stream.queue.append(data)
            self._lock.notify_all()

    def push_event(self, event, data):
        self.push(sse_event(event, data))

    def notify(self, *notifications, shape="bare"):
        """Push a ``playing`` event: one per notification (bare) or one wrapping all."""
        if shape == "bare":
            for notification in notifications:
                self.push_event("playing", bare(notification))
        else:
            self.push_event("playing", wrapped(*notifications))

    def release_streams(self):
        """Let held stream requests (``hold_streams=True``) get their answer."""
        self._gate.set()

    def ping(self):
        self.push_event("ping", "{}")

    def drop_streams(self):
        """Close every open stream (the daemon should reconnect)."""
        with self._lock:
            for stream in self._streams:
                stream.queue.append(_CLOSE)
            self._lock.notify_all()

    def open_streams(self):
        with self._lock:
            return len(self._streams)

    def wait_for_streams(self, n, timeout=5):
        """Wait until ``n`` streams were opened in all; return whether they were."""
        with self._lock:
            return self._lock.wait_for(lambda: self.stream_count >= n, timeout)

    def stream_requests(self):
        with self._lock:
            return [r for r in self.requests if r.path == NOTIFICATIONS_PATH]

    # -- serving ------------------------------------------------------------

    def handle(self, handler):
        path, _, _ = handler.path.partition("?")
        if path != NOTIFICATIONS_PATH:
            return super().handle(handler)
        self.record(handler)
        if handler.headers.get("X-Plex-Token") != self.token:
            handler.send_body(401, UNAUTHORIZED_BODY, "text/html")
            return None
        self._stream(handler)
        return None

    def _stream(self, handler):
        stream = _Stream()
        while not self._gate.wait(0.1):
            if self._stopping.is_set():
                return
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.send_header("X-Plex-Protocol", "1.0")
        handler.end_headers()
        with self._lock:
            self._streams.append(stream)
            self.stream_count += 1
            self._lock.notify_all()
        try:
            while True:
                with self._lock:
                    self._lock.wait_for(lambda: stream.queue or self._stopping.is_set(), 0.5)
                    if self._stopping.is_set():
                        return
                    items = list(stream.queue)
                    stream.queue.clear()
                for item in items:
                    if item is _CLOSE:
                        return
                    handler.wfile.write(item)
                handler.wfile.flush()
        except OSError:
            return
        finally:
            with self._lock:
                stream.closed = True
                self._streams.remove(stream)
                self._lock.notify_all()


# -- Plexamp ----------------------------------------------------------------

Timeline = collections.namedtuple(
    "Timeline", "state time duration rating_key title artist album")


def resources_xml(machine_id=PLEXAMP_MACHINE_ID, title="Pi", product="Plexamp"):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="1">'
            '<Player title=%s machineIdentifier=%s product=%s deviceClass="speaker" '
            'platform="Linux" platformVersion="6.6.51" protocol="plex" protocolVersion="1" '
            'protocolCapabilities="timeline,playback,playqueues,playqueues-creation" '
            'version="4.11.2"/></MediaContainer>\n'
            % (quoteattr(title), quoteattr(machine_id), quoteattr(product))).encode("utf-8")


def timeline_xml(command_id, timeline):
    """A poll answer: music timeline (with a Track when there is one), video, photo."""
    music = ['type="music"', "state=%s" % quoteattr(timeline.state),
             'time="%d"' % timeline.time]
    track = ""
    if timeline.rating_key:
        music += ['duration="%d"' % timeline.duration,
                  "ratingKey=%s" % quoteattr(timeline.rating_key),
                  'key="/library/metadata/%s"' % timeline.rating_key,
                  'playQueueID="212" playQueueItemID="7021" playQueueVersion="3"',
                  'containerKey="/playQueues/212"', 'itemType="music"',
                  'volume="80" shuffle="0" repeat="0" controllable="playPause,stop,volume"',
                  # The server the music comes from, not the player (protocol §3.3).
                  'machineIdentifier="%s" protocol="https"' % SERVER_MACHINE_ID,
                  'address="192-168-1-10.0123456789abcdef.plex.direct" port="32400"']
        track = ('<Track title=%s grandparentTitle=%s parentTitle=%s ratingKey=%s '
                 'duration="%d" type="track" thumb="/library/metadata/6250/thumb/1"/>'
                 % (quoteattr(timeline.title), quoteattr(timeline.artist),
                    quoteattr(timeline.album), quoteattr(timeline.rating_key),
                    timeline.duration))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer commandID="%d" '
            'location="fullScreenMusic"><Timeline %s>%s</Timeline>'
            '<Timeline type="video" state="stopped" time="0"/>'
            '<Timeline type="photo" state="stopped" time="0"/></MediaContainer>\n'
            % (command_id, " ".join(music), track)).encode("utf-8")


STOPPED = Timeline("stopped", 0, 0, "", "", "", "")

PLAYBACK_PREFIX = "/player/playback/"
PLAYBACK_COMMANDS = ("play", "pause", "playPause", "stop", "skipNext", "skipPrevious")
NOT_FOUND = b"<html><body>404 Not Found</body></html>"

# One transport command as the stand-in received it; ``at`` is time.monotonic().
Command = collections.namedtuple("Command", "name command_id headers at")


def after(command, timeline):
    """The timeline a player shows after ``command``: ``timeline`` itself when nothing changes.

    Pause and play keep the track and the time; a skip moves to the
    neighbouring rating key (``Track <key>``, at 0 ms) and keeps the state;
    with nothing queued only stop does anything.
    """
    if command == "stop":
        return STOPPED
    if not timeline.rating_key:
        return timeline
    if command == "playPause":
        command = "pause" if timeline.state == "playing" else "play"
    if command == "pause" and timeline.state == "playing":
        return timeline._replace(state="paused")
    if command == "play" and timeline.state == "paused":
        return timeline._replace(state="playing")
    if command in ("skipNext", "skipPrevious"):
        step = 1 if command == "skipNext" else -1
        key = timeline.rating_key
        key = str(int(key) + step) if key.isdigit() else "%s%+d" % (key, step)
        return timeline._replace(time=0, rating_key=key, title="Track %s" % key)
    return timeline


def command_id_of(query):
    """The ``commandID`` of a parsed query as an int; None when missing or not a number."""
    value = (query.get("commandID") or [""])[0]
    return int(value) if value.isdigit() else None


class PlexampStub(StubServer):
    """A headless Plexamp on 127.0.0.1: ``/resources``, the timeline long poll, the commands."""

    name = "plexamp-stub"
    server_version = "Plexamp-stub/1.0"
    extra_headers = (("Access-Control-Allow-Origin", "*"),)

    def __init__(self, machine_id=PLEXAMP_MACHINE_ID, title="Pi", hold=1.0):
        super().__init__()
        self.machine_id = machine_id
        self.title = title
        self.hold = hold
        self._timeline = STOPPED
        self._version = 0
        self._answered = -1  # the first poll is answered at once
        self.polls = 0
        self._commands = []
        self._ignoring = {}  # command -> how many more to ignore (None: all)
        self._delays = {}  # command -> seconds before its answer

    def set_timeline(self, state, time_ms=0, duration=0, rating_key="", title="", artist="",
                     album=""):
        """Change the music timeline; a poll in flight answers at once."""
        self._change(Timeline(state, time_ms, duration, rating_key, title, artist, album))

    def _change(self, timeline):
        with self._lock:
            self._timeline = timeline
            self._version += 1
            self._lock.notify_all()

    def timeline(self):
        """The music timeline now (a ``Timeline``)."""
        with self._lock:
            return self._timeline

    def ignore(self, command, times=None):
        """Answer ``command`` OK and do nothing, ``times`` more times (None: always; 0: stop)."""
        self._known(command)
        with self._lock:
            self._ignoring[command] = times

    def delay(self, command, seconds):
        """Answer ``command`` ``seconds`` late (0: at once); it takes effect as it arrives."""
        self._known(command)
        with self._lock:
            self._delays[command] = seconds

    @staticmethod
    def _known(command):
        if command not in PLAYBACK_COMMANDS:
            raise ValueError("the stand-in knows no command %r: use one of %s"
                             % (command, ", ".join(PLAYBACK_COMMANDS)))

    def commands(self, name=None):
        """The commands received (named ``name``, if given), oldest first."""
        with self._lock:
            return [c for c in self._commands if name is None or c.name == name]

    def wait_for_command(self, name, count=1, timeout=5):
        """Wait until ``count`` commands named ``name`` arrived; return whether they did."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.commands(name)) >= count, timeout)

    def poll_requests(self):
        with self._lock:
            return [r for r in self.requests if r.path == "/player/timeline/poll"]

    def wait_for_polls(self, n, timeout=5):
        with self._lock:
            return self._lock.wait_for(lambda: self.polls >= n, timeout)

    def handle(self, handler):
        with self._lock:  # re-entrant: the poll is recorded and counted at once
            request = self.record(handler)
            path, params = request.path, request.query
            if path == "/player/timeline/poll":
                self.polls += 1
            version = self._version
        if path == "/resources":
            handler.send_body(200, resources_xml(self.machine_id, self.title))
            return
        if path.startswith(PLAYBACK_PREFIX) and path[len(PLAYBACK_PREFIX):] in PLAYBACK_COMMANDS:
            self._command(handler, request)
            return
        if path != "/player/timeline/poll":
            handler.send_body(404, NOT_FOUND, "text/html")
            return
        command_id = int((params.get("commandID") or ["0"])[0] or 0)
        with self._lock:
            # A change since the last answer is answered at once; otherwise the
            # poll is held until the next change or ``hold`` seconds.
            if params.get("wait") == ["1"] and version == self._answered:
                self._lock.wait_for(
                    lambda: self._version != version or self._stopping.is_set(), self.hold)
            timeline = self._timeline
            self._answered = self._version
        if self._stopping.is_set():
            handler.close_connection = True
            return
        handler.send_body(200, timeline_xml(command_id, timeline))

    def _command(self, handler, request):
        name = request.path[len(PLAYBACK_PREFIX):]
        with self._lock:
            left = self._ignoring.get(name, 0)
            if left is None or left > 0:
                if left:
                    self._ignoring[name] = left - 1
            else:
                timeline = after(name, self._timeline)
                if timeline != self._timeline:
                    self._change(timeline)
            self._commands.append(Command(name, command_id_of(request.query), request.headers,
                                          request.at))
            self._lock.notify_all()
            delay = self._delays.get(name, 0)
        if delay and self.until_stopped(delay):
            handler.close_connection = True
            return
        handler.send_body(200, b"OK", "text/plain")


def start_notifying_stub(testcase, sessions, token=DEFAULT_TOKEN, hold_streams=False):
    return start_server(testcase, NotifyingPlexStub(token=token, sessions=sessions,
                                                    hold_streams=hold_streams))


def start_plexamp(testcase, **kwargs):
    return start_server(testcase, PlexampStub(**kwargs))
