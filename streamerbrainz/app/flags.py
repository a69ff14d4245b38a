"""The app room's flags: the log, the status command's daemon, -version and -help."""

from streamerbrainz.lib.flags import Flag

TITLE = "General"
HELP_ORDER = 90  # where -help shows this room: lower first
SECTION = "general"  # its part of the settings file: [general] log-level = debug

COMMANDS = ("run", "players", "status", "camilladsp", "history", "config")

FLAGS = (
    Flag("config", "", "the settings file (default: $CONFIGURATION_DIRECTORY/streamerbrainz.conf "
         "under systemd, else /etc/streamerbrainz/streamerbrainz.conf when it exists; empty "
         "here: none)", metavar="PATH", commands=COMMANDS, in_file=False),
    Flag("log-level", "info", "error, warn, info or debug", metavar="LEVEL", commands=COMMANDS,
         live=True),
    Flag("url", "http://127.0.0.1:3001", "the running daemon to ask", metavar="URL",
         commands=("status",)),
    Flag("check", False, "validate the settings (file, environment, flags, the files they "
         "name) and exit 0, or 2 with the first error", "bool", commands=("config",),
         in_file=False),
    Flag("version", False, "print the version and exit", "bool", commands=COMMANDS,
         action=True),
    Flag("help", False, "print the flags with their defaults and exit", "bool",
         commands=COMMANDS, action=True),
)
