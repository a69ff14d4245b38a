"""``streamerbrainz players``: list what Plex is playing now, and on which player.

Shows each session's player with the machine identifier to pass to
``-plex-machine-id``, then the command line that starts the daemon.
"""

import sys

from streamerbrainz import plex, table

COLUMNS = ("PLAYER", "PRODUCT", "PLATFORM", "STATE", "MACHINE IDENTIFIER", "PLAYING")


def rows(sessions):
    """One tuple of column texts per session, sorted by player."""
    result = []
    for session in sorted(sessions, key=lambda s: (s.player_title.lower(), s.machine_id)):
        playing = " - ".join(part for part in (session.artist, session.title) if part)
        result.append((session.player_title or "(unnamed)", session.product,
                       session.platform, session.state, session.machine_id, playing))
    return result


def start_command(config, machine_id):
    parts = ["python -m streamerbrainz", "-plex-server-url", config.plex_server_url]
    if config.plex_token_file:
        parts += ["-plex-token-file", config.plex_token_file]
    parts += ["-plex-machine-id", machine_id]
    return " ".join(parts)


def main(config, out=None):
    out = out or sys.stdout
    client = plex.PlexClient(config.plex_server_url, config.plex_token, config.plex_timeout)
    try:
        sessions = client.sessions()
    except plex.PlexError as err:
        hint = ""
        if err.kind == "auth":
            hint = ": check the token in -plex-token-file"
        elif err.kind in ("network", "timeout"):
            hint = ": check -plex-server-url and that Plex is running"
        print("streamerbrainz: %s%s" % (err, hint), file=sys.stderr)
        return 1
    if not sessions:
        out.write("No active sessions on %s: start playing on the player you want to follow, "
                  "then run this again.\n" % config.plex_server_url)
        return 0
    body = rows(sessions)
    out.write(table.render(COLUMNS, body) + "\n\n")
    ids = list(dict.fromkeys(row[4] for row in body if row[4]))
    out.write("Start the daemon for a player with (pick its machine identifier):\n")
    for machine_id in ids:
        out.write("  %s\n" % start_command(config, machine_id))
    return 0
