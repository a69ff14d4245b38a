"""``streamerbrainz status``: ask a running daemon for ``/state`` and print a table."""

import json
import socket
import sys
import urllib.error
import urllib.request

from streamerbrainz import __version__, table

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
    """The table a person reads, ending with whether anything plays."""
    body = rows(document)
    if not body:
        return "No players known yet.\n"
    return table.render(COLUMNS, body) + "\n\nAny player playing: %s\n" % (
        "yes" if document.get("any_playing") else "no")


def main(config, out=None):
    out = out or sys.stdout
    request = urllib.request.Request(config.url + "/state", headers={
        "Accept": "application/json", "User-Agent": "StreamerBrainz/" + __version__})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            document = json.loads(answer.read(4 * 1024 * 1024))
    except urllib.error.HTTPError as err:
        print("streamerbrainz: %s answered %d %s" % (config.url, err.code, err.reason),
              file=sys.stderr)
        return 1
    except (urllib.error.URLError, socket.timeout, OSError) as err:
        reason = getattr(err, "reason", err)
        reason = getattr(reason, "strerror", None) or str(reason)
        print("streamerbrainz: cannot reach the daemon at %s: %s (is it running? see -url)"
              % (config.url, reason.lower()), file=sys.stderr)
        return 1
    except ValueError:
        print("streamerbrainz: %s/state did not answer JSON" % config.url, file=sys.stderr)
        return 1
    out.write(render(document))
    return 0
