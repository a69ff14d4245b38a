"""Transport commands to a Plexamp player's local API (port 32500): play, pause, skip, stop.

One command is one ``GET /player/playback/<command>?type=music&commandID=N``
(protocol §2.1), with our client identifier and the player's machine
identifier in headers and no token (Plexamp needs none on the LAN or
loopback). Its whole answer must come within the timeout, through the
project's direct opener: no proxy.

Plexamp answers 200 ``OK`` to a command it then ignores, so a normal
return means only that the player took the request. Nothing here
confirms that the command took effect: the caller confirms it from the
timeline.
"""

import threading

from streamerbrainz.lib import opener
from streamerbrainz.plex import client as plex

COMMANDS = {
    "play": "play",
    "pause": "pause",
    "toggle": "playPause",
    "next": "skipNext",
    "previous": "skipPrevious",
    "stop": "stop",
}
COMMAND_PATH = "/player/playback/%s?type=music&commandID=%d"
MAX_ANSWER_BYTES = 4096  # the answer is the two bytes "OK"


class ControlError(opener.RequestError):
    """A command Plexamp did not take: ``Plexamp <url> <action>: <what happened>``."""


def to_command(action):
    """Plexamp's command for one of our action names; ValueError for any other."""
    if action not in COMMANDS:
        raise ValueError("unknown Plexamp action %r: use one of %s"
                         % (action, ", ".join(COMMANDS)))
    return COMMANDS[action]


def command_path(command, command_id):
    """The path (and query) of one Plexamp command."""
    return COMMAND_PATH % (command, command_id)


def command_headers(identification, client_id, machine_id, keep_token=False):
    """The headers of one command: the Plex client's ``identification``, then both identifiers.

    ``identification`` is what ``PlexClient.headers()`` sends (``X-Plex-Product``
    and the rest); a token in it is dropped, unless the command goes through
    the Plex server (``keep_token``), which wants it.
    """
    headers = dict(identification)
    if not keep_token:
        headers.pop("X-Plex-Token", None)
    headers["X-Plex-Client-Identifier"] = client_id
    headers["X-Plex-Target-Client-Identifier"] = machine_id
    return headers


class PlexampControl:
    """Sends transport commands to one Plexamp player, one at a time.

    Commands go one at a time, so they reach the player in the order of
    their commandID, which rises by one with each.
    """

    def __init__(self, base_url, client_id, machine_id, timeout=2.0, server=None):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.machine_id = machine_id
        self.timeout = timeout
        # Through the Plex server (its player proxy: the same path, the player named by
        # X-Plex-Target-Client-Identifier) when ``server`` is its PlexClient.
        self.via_server = server is not None
        # The name is what the client's own messages call it: "cannot reach the player: ...".
        self._client = server or plex.PlexClient(self.base_url, "", timeout, name="the player")
        self._lock = threading.Lock()
        self._command_id = 0

    def send(self, action):
        """Send one command; return its commandID once Plexamp answered 200.

        Raises ValueError for an unknown action (nothing is sent) and
        ControlError when Plexamp does not answer 200 within the timeout.
        """
        command = to_command(action)
        with self._lock:
            self._command_id += 1
            command_id = self._command_id
            headers = command_headers(self._client.headers(), self.client_id, self.machine_id,
                                      keep_token=self.via_server)
            deadline = opener.Deadline(self.timeout)
            try:
                with self._client.open(command_path(command, command_id), headers=headers,
                                       deadline=deadline) as answer:
                    status = answer.status
                    # Any body will do, "OK" or not: read a little of it, within the deadline.
                    opener.read_within(answer, MAX_ANSWER_BYTES, deadline, "the player")
            except opener.RequestError as err:
                raise self._failed(action, err) from None
        if status != 200:
            raise ControlError("http", "Plexamp %s %s: the player answered %d, not 200"
                               % (self.base_url, action, status), status)
        return command_id

    def _failed(self, action, err):
        if err.kind == "timeout":
            detail = "no answer within %gs" % self.timeout
        elif err.status:
            detail = "the player answered %d" % err.status
        else:
            detail = str(err)
        return ControlError(err.kind, "Plexamp %s %s: %s" % (self.base_url, action, detail),
                            err.status)
