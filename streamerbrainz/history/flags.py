"""The history room's flags: where the daemon keeps what it knew, and for how long."""

from streamerbrainz.lib.flags import Flag

TITLE = "Memory"
HELP_ORDER = 60  # where -help shows this room: lower first

FLAGS = (
    Flag("state-dir", "", "directory for the database of what played and each player's last "
         "state, kept across restarts (default: $STATE_DIRECTORY under systemd; empty: "
         "nothing is written)", metavar="DIR"),
    Flag("history-days", 365, "days of plays to keep; older ones are pruned once a day",
         "int", "DAYS", (1, 36500)),
)
