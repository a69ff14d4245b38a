"""The Plex room's flags: the server, its token, the players to follow, how to follow them.

``players`` reads the four that reach the server; the rest are the daemon's.
"""

from streamerbrainz.lib.flags import Flag

TITLE = "Plex"
HELP_ORDER = 10  # where -help shows this room: lower first
SECTION = "plex"  # its part of the settings file: [plex] server-url = ...

RUN_AND_PLAYERS = ("run", "players")

FLAGS = (
    Flag("plex-server-url", "",
         "Plex server URL, e.g. http://plex.home.arpa:32400; Plex is enabled when set",
         metavar="URL", commands=RUN_AND_PLAYERS),
    Flag("plex-token-file", "",
         "file holding the Plex token; when empty under systemd, "
         "$CREDENTIALS_DIRECTORY/plex-token", metavar="PATH", commands=RUN_AND_PLAYERS),
    Flag("plex-ca-file", "",
         "PEM file of the certificate authority that signed an https Plex server's "
         "certificate, used instead of the system's (verification stays on)", metavar="PATH",
         commands=RUN_AND_PLAYERS),
    Flag("plex-machine-id", (),
         "player machineIdentifier to follow; repeat or comma-separate for several; "
         "empty follows every player", "list", "ID", field="plex_machine_ids"),
    Flag("plex-timeout", 5.0,
         "seconds to wait for one answer from Plex (a fetch with its retries ends within "
         "three times this)", "float", "SECONDS", (0.1, 300), commands=RUN_AND_PLAYERS),
    Flag("plex-notifications", False,
         "follow Plex's notification stream (no Plex Pass needed)", "bool"),
    Flag("plex-poll-interval", 0.0,
         "also ask Plex this often, in seconds, when nothing else did (0: off; at least 1)",
         "float", "SECONDS", (1, 86400), off_at_zero=True),
    Flag("plexamp-url", "",
         "long-poll the local Plexamp player's timeline, e.g. http://127.0.0.1:32500 "
         "(no token needed)", metavar="URL"),
)
