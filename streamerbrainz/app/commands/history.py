"""``streamerbrainz history``: what played, read from the daemon's database.

Reads ``-state-dir`` (else ``$STATE_DIRECTORY``, else the example unit's
``/var/lib/streamerbrainz``) on a read-only connection of its own, so it
can run beside the daemon. Prints a table newest first, the JSON that
``GET /history`` answers (``-json``), or the counted plays in another
service's import format (``-export listenbrainz``). One line and exit 1
when there is no history to read; exit 2 for a bad ``-since``.
"""

import json
import sys
import time

from streamerbrainz.app import cli
from streamerbrainz.history import export, query as queries
from streamerbrainz.history.reader import Reader, ReadError, play_json
from streamerbrainz.lib import table

DEFAULT_DIR = "/var/lib/streamerbrainz"  # StateDirectory=streamerbrainz in the example unit
COLUMNS = ("STARTED", "PLAYER", "SOURCE", "ARTIST", "TITLE", "HEARD", "COUNTS", "ENDED BY")


def rows(plays):
    """One tuple of column texts per play."""
    return [(time.strftime("%Y-%m-%d %H:%M", time.localtime(play["started_at"])),
             play["player"] or play["machine_id"], play["source"], play["artist"],
             play["title"], minutes(play["listened_ms"]), "yes" if play["counted"] else "no",
             play["ended_by"] or ("playing" if play["ended_at"] is None else ""))
            for play in plays]


def minutes(ms):
    seconds = int(ms // 1000)
    return "%d:%02d" % (seconds // 60, seconds % 60)


def listing(plays, more, since):
    if not plays:
        return "No plays%s.\n" % (" since then" if since is not None else " yet")
    text = table.render(COLUMNS, rows(plays)) + "\n"
    if more is not None:
        text += "(older plays left out: give -limit or -since)\n"
    return text


def main(config, out=None, now=None):
    """Print the history on ``out`` (standard output); return the exit status."""
    now = time.time() if now is None else now
    words = {"player": config.player, "since": config.since}
    try:
        query = queries.from_words({k: v for k, v in words.items() if v}, now)
    except ValueError as err:
        print("streamerbrainz: -%s" % err, file=sys.stderr)
        return cli.EXIT_USAGE
    limit = 0 if config.export else config.limit
    query = queries.Query(limit=limit, player=query.player, since=query.since)
    try:
        with Reader(config.state_dir or DEFAULT_DIR) as reader:
            plays, more = reader.plays(query, counted_only=bool(config.export))
    except ReadError as err:
        print("streamerbrainz: %s" % table.cell(err), file=sys.stderr)
        return cli.EXIT_FAILURE
    if config.export:
        text = json.dumps(export.listenbrainz(plays), indent=1, ensure_ascii=False) + "\n"
    elif config.json:
        text = json.dumps({"plays": [play_json(play) for play in plays], "next": more},
                          indent=1, ensure_ascii=False) + "\n"
    else:
        text = listing(plays, more, query.since)
    return cli.write_output(text, out)
