"""The history room's flags: where the daemon keeps what it knew, for how long, and what
``streamerbrainz history`` shows of it."""

from streamerbrainz.lib.flags import ConfigError, Flag

TITLE = "Memory"
HELP_ORDER = 60  # where -help shows this room: lower first
SECTION = "history"  # its part of the settings file: [history] state-dir, days

EXPORTS = ("listenbrainz",)

FLAGS = (
    Flag("state-dir", "", "directory for the database of what played and each player's last "
         "state, kept across restarts (default: $STATE_DIRECTORY under systemd; empty: "
         "nothing is written; history reads /var/lib/streamerbrainz when both are empty)",
         metavar="DIR", commands=("run", "history")),
    Flag("history-days", 365, "days of plays to keep; older ones are pruned once a day",
         "int", "DAYS", (1, 36500)),
    Flag("since", "", "plays started since then: a time ago (7d, 12h), a date "
         "(2026-12-01) or Unix seconds; empty: all", metavar="WHEN",
         commands=("history",), in_file=False),
    Flag("player", "", "only this player (its name or machine identifier)",
         metavar="PLAYER", commands=("history",), in_file=False),
    Flag("limit", 50, "at most this many plays, newest first (-export takes all)",
         "int", "N", (1, 10000000), commands=("history",), in_file=False),
    Flag("json", False, "print JSON, as GET /history answers", "bool",
         commands=("history",), in_file=False),
    Flag("export", "", "print the counted plays for another service: listenbrainz "
         "(its import JSON)", metavar="FORMAT", commands=("history",), in_file=False),
)


def check(values):
    """The export format, checked; the other values go through as parsed."""
    export = values["export"].strip().lower()
    if export and export not in EXPORTS:
        raise ConfigError("-export: %r is not one of %s" % (values["export"], ", ".join(EXPORTS)))
    return {"export": export}
