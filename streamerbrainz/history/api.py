"""What ``GET /history`` and ``GET /history/stats`` answer: ``(status, JSON body)``.

``app`` hands ``answer`` to the web room as a callable, bound to the
daemon's ``-state-dir``. Each request reads on a connection of its own
(``history.reader``), on the HTTP worker that asked.
"""

import time

from streamerbrainz.history import query as queries
from streamerbrainz.history.reader import Reader, ReadError, play_json

STATS_DAYS = 30  # /history/stats without since: the last 30 days
STATUS = {"missing": 404, "slow": 503, "unreadable": 503, "corrupt": 503, "newer": 503}


def answer(directory, what, query_string, now=None):
    """The answer to ``/history`` (``what`` "plays") or ``/history/stats`` ("stats")."""
    now = time.time() if now is None else now
    try:
        query = queries.from_url(query_string, now)
    except ValueError as err:
        return 400, {"error": str(err)}
    try:
        with Reader(directory) as reader:
            if what == "stats":
                if query.since is None:
                    query = queries.Query(player=query.player, until=query.until,
                                          since=now - STATS_DAYS * 86400)
                return 200, reader.stats(query)
            found, more = reader.plays(query)
    except ReadError as err:
        return STATUS[err.kind], {"error": str(err)}
    return 200, {"plays": [play_json(play) for play in found], "next": more}
