"""``streamerbrainz players``: list what Plex is playing now, and on which player.

Shows each session's player with the machine identifier to pass to
``-plex-machine-id``, then the command line that starts the daemon.
"""

import os
import shutil
import sys

from streamerbrainz.app import cli
from streamerbrainz.plex import client as plex
from streamerbrainz.lib import table

COLUMNS = ("PLAYER", "PRODUCT", "PLATFORM", "STATE", "MACHINE IDENTIFIER", "PLAYING")


def rows(sessions):
    """One tuple of column texts per session, sorted by player."""
    result = []
    for session in sorted(sessions, key=lambda s: (s.player.lower(), s.machine_id)):
        playing = " - ".join(part for part in (session.track.artist, session.track.title) if part)
        result.append((session.player or "(unnamed)", session.product,
                       session.platform, session.state, session.machine_id, playing))
    return result


def program(argv0=None, executable=None):
    """The command that started this one, as the user would type it again.

    ``python3 -m streamerbrainz`` (the interpreter's own name when the
    shell finds that very interpreter, else its path) or the console script.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if os.path.basename(argv0) in ("__main__.py", "-m", "-c", ""):
        return "%s -m streamerbrainz" % _as_typed(executable or sys.executable or "python3")
    return _as_typed(argv0)


def _as_typed(path):
    """``path``'s bare name when ``$PATH`` finds the same file under it, else ``path``."""
    name = os.path.basename(path)
    found = shutil.which(name)
    if found and os.path.realpath(found) == os.path.realpath(path):
        return name
    return path


def start_command(config, machine_id, command=None):
    parts = [command or program(), "-plex-server-url", config.plex_server_url]
    if config.plex_token_file:
        parts += ["-plex-token-file", config.plex_token_file]
    if config.plex_ca_file:
        parts += ["-plex-ca-file", config.plex_ca_file]
    parts += ["-plex-machine-id", machine_id]
    return " ".join(parts)


def settings_lines(config, machine_ids):
    """The settings-file lines that say the same, without the token file (systemd's own)."""
    lines = ["[plex]", "server-url = %s" % config.plex_server_url]
    if config.plex_ca_file:
        lines.append("ca-file = %s" % config.plex_ca_file)
    lines.append("machine-id = %s" % ", ".join(machine_ids))
    return lines


def main(config, out=None):
    """List the sessions on ``out`` (standard output); return the exit status."""
    client = plex.PlexClient(config.plex_server_url, config.plex_token, config.plex_timeout,
                             ca_file=config.plex_ca_file)
    try:
        sessions = client.sessions()
    except plex.PlexError as err:
        hint = ""
        if err.kind == "auth":
            hint = ": check the token in -plex-token-file"
        elif err.kind in ("network", "timeout", "malformed", "http"):
            hint = ": check -plex-server-url and that Plex is running"
        print("streamerbrainz: %s%s" % (table.cell(err), hint), file=sys.stderr)
        return 1
    return cli.write_output(listing(config, sessions), out)


def listing(config, sessions):
    """The whole text ``players`` prints for ``sessions``."""
    if not sessions:
        return ("No active sessions on %s: start playing on the player you want to follow, "
                "then run this again.\n" % config.plex_server_url)
    body = rows(sessions)
    parts = [table.render(COLUMNS, body) + "\n\n"]
    ids = list(dict.fromkeys(row[4] for row in body if row[4]))
    parts.append("Start the daemon for a player with (pick its machine identifier):\n")
    command = program()
    for machine_id in ids:
        parts.append("  %s\n" % start_command(config, machine_id, command))
    parts.append("\nOr put in the settings file, /etc/streamerbrainz/streamerbrainz.conf\n"
                 "(keep the machine identifiers to follow; the systemd unit passes the\n"
                 "token file itself):\n")
    for line in settings_lines(config, ids):
        parts.append("  %s\n" % line)
    return "".join(parts)
