"""The app room's flags: the log, the status command's daemon, -version and -help."""

from streamerbrainz.lib.flags import Flag

TITLE = "General"
HELP_ORDER = 90  # where -help shows this room: lower first

COMMANDS = ("run", "players", "status", "camilladsp", "history")

FLAGS = (
    Flag("log-level", "info", "error, warn, info or debug", metavar="LEVEL", commands=COMMANDS),
    Flag("url", "http://127.0.0.1:3001", "the running daemon to ask", metavar="URL",
         commands=("status",)),
    Flag("version", False, "print the version and exit", "bool", commands=COMMANDS,
         action=True),
    Flag("help", False, "print the flags with their defaults and exit", "bool",
         commands=COMMANDS, action=True),
)
