"""The hooks room's flags: commands to run on a change, and URLs to tell."""

from streamerbrainz.lib.flags import Flag

TITLE = "Hooks and notifications"
HELP_ORDER = 30  # where -help shows this room: lower first
SECTION = "hooks"  # its part of the settings file: [hooks] on-play = ..., timeout = 10
KEY_PREFIX = "hook-"

# One command each, gathered into Config.hooks as (flag, command) pairs.
EVENTS = (
    Flag("on-change", "", "command to run on every state or track change", metavar="CMD",
         field="", live=True),
    Flag("on-play", "", "command to run when a player starts playing", metavar="CMD",
         field="", live=True),
    Flag("on-pause", "", "command to run when a player pauses", metavar="CMD", field="",
         live=True),
    Flag("on-stop", "", "command to run when a player stops", metavar="CMD", field="",
         live=True),
    Flag("on-idle", "", "command to run once nothing has played for -idle-after seconds",
         metavar="CMD", field="", live=True),
    Flag("on-active", "", "command to run once something plays again after idle",
         metavar="CMD", field="", live=True),
)

FLAGS = EVENTS + (
    Flag("hook-timeout", 10.0, "seconds a hook may run before its process group is killed",
         "float", "SECONDS", (0.1, 86400), live=True),
    Flag("notify-url", (), "URL to POST each change to as JSON; repeat (or, in the "
         "environment, separate with spaces) for several", "urls", "URL", field="notify_urls",
         live=True),
)
