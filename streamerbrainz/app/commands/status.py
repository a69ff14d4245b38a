"""``streamerbrainz status``: ask a running daemon for ``/state`` and print a table."""

import json
import math
import sys
import urllib.request

from streamerbrainz.lib import opener
from streamerbrainz import __version__
from streamerbrainz.app import cli
from streamerbrainz.plex import client as plex
from streamerbrainz.lib import table

MAX_ANSWER = 4 * 1024 * 1024
TIMEOUT = 5.0  # for the whole answer
TEXT_FIELDS = ("player", "state", "title", "artist", "since", "machine_id")
NUMBER_FIELDS = ("position_ms", "duration_ms")

COLUMNS = ("PLAYER", "STATE", "POSITION", "TRACK", "SINCE", "MACHINE IDENTIFIER")


def clock(ms):
    seconds = max(0, int(ms or 0)) // 1000
    hours, rest = divmod(seconds, 3600)
    return ("%d:%02d:%02d" % (hours, rest // 60, rest % 60) if hours
            else "%d:%02d" % (rest // 60, rest % 60))


def rows(document):
    result = []
    for player in document.get("players", []):
        track = " - ".join(part for part in (player.get("artist"), player.get("title")) if part)
        position = clock(player.get("position_ms"))
        if player.get("duration_ms"):
            position += " / " + clock(player.get("duration_ms"))
        since = (player.get("since") or "")[:19].replace("T", " ")
        result.append((player.get("player"), player.get("state"), position, track, since,
                       player.get("machine_id")))
    return result


def render(document):
    """The table a person reads, ending with whether anything plays, and CamillaDSP."""
    body = rows(document)
    if not body:
        text = "No players known yet.\n"
    else:
        text = table.render(COLUMNS, body) + "\n\nAny player playing: %s\n" % (
            "yes" if document.get("any_playing") else "no")
    camilladsp = document.get("camilladsp")
    if isinstance(camilladsp, dict):
        text += "CamillaDSP: %s\n" % camilladsp_line(camilladsp)
    return text


def camilladsp_line(status):
    """``connected 4.1.3, fader main, -23.0 dB, muted by the daemon (paused)`` or why not."""
    if not status.get("connected"):
        return table.cell("not connected" + (": %s" % status["error"] if status.get("error")
                                             else ""))
    parts = ["connected %s" % status.get("version", ""), "fader %s" % status.get("fader", "")]
    volume = status.get("volume_db")
    if isinstance(volume, (int, float)) and not isinstance(volume, bool):
        parts.append("%.1f dB" % volume)
    if status.get("mute") is True:
        parts.append("muted")
    last = status.get("last_action")
    if status.get("holding") and isinstance(last, dict):
        parts.append("held down by the daemon (%s)" % last.get("cause", ""))
    return table.cell(", ".join(parts))


def problem(document):
    """What makes ``document`` not a ``/state`` answer, or "" when it is one."""
    if not isinstance(document, dict):
        return "the answer is not a JSON object"
    players = document.get("players", [])
    if not isinstance(players, list):
        return '"players" is not a list'
    for index, player in enumerate(players):
        if not isinstance(player, dict):
            return "players[%d] is not an object" % index
        for key in TEXT_FIELDS:
            if not isinstance(player.get(key), (str, type(None))):
                return "players[%d].%s is not text" % (index, key)
        for key in NUMBER_FIELDS:
            value = player.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not math.isfinite(value)):
                return "players[%d].%s is not a number" % (index, key)
    return ""


def fetch(url):
    """The parsed ``/state`` document at ``url``, or raise ``StatusError`` with one line."""
    request = urllib.request.Request(url + "/state", headers={
        "Accept": "application/json", "User-Agent": "StreamerBrainz/" + __version__})
    try:
        body = opener.get_within(request, MAX_ANSWER, TIMEOUT, "the daemon at %s" % url)
    except plex.PlexError as err:
        hint = " (is it running? see -url)" if err.kind == "network" else ""
        raise StatusError(str(err) + hint) from None
    if body is None or len(body) > MAX_ANSWER:
        raise StatusError("%s/state answered more than %d MiB: not the daemon's state"
                          % (url, MAX_ANSWER // (1024 * 1024)))
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise StatusError("%s/state did not answer UTF-8 text (is -url a StreamerBrainz "
                          "daemon?)" % url) from None
    except (ValueError, RecursionError):
        raise StatusError("%s/state did not answer JSON (is -url a StreamerBrainz daemon?)"
                          % url) from None
    wrong = problem(document)
    if wrong:
        raise StatusError("%s/state is not the daemon's state: %s" % (url, wrong))
    return document


class StatusError(Exception):
    """Why ``status`` got no state to show: one line, exit status 1."""


def main(config, out=None):
    try:
        document = fetch(config.url)
    except StatusError as err:
        # One line whatever the far end sent: its bytes may end up in the reason.
        print("streamerbrainz: %s" % table.cell(str(err)), file=sys.stderr)
        return 1
    return cli.write_output(render(document), out)
