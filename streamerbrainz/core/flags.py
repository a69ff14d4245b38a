"""The core room's flags: when the players count as idle (see ``idle``), which are local."""

from streamerbrainz.lib.flags import Flag

TITLE = "Idle and local players"
HELP_ORDER = 40  # where -help shows this room: lower first

FLAGS = (
    Flag("idle-after", 300.0, "seconds without playing before -on-idle runs", "float",
         "SECONDS", (0.1, 86400)),
    Flag("idle-at-start", False,
         "when nothing plays at start, run -on-idle once after -idle-after seconds (turns "
         "off an amplifier left on by a crash or a power cut)", "bool"),
    Flag("local-player", (), "a machine id of this streamer's own player, which drives its "
         "volume; repeat or separate with commas (default: the Plexamp at -plexamp-url when "
         "set, else every followed player)", "list", "ID"),
)
