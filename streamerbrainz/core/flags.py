"""The core room's flags: when the players count as idle (see ``idle``), which are local."""

from streamerbrainz.lib.flags import ConfigError, Flag

TITLE = "Idle and local players"
HELP_ORDER = 40  # where -help shows this room: lower first
SECTION = "players"  # its part of the settings file: [players] idle-after = 300

FLAGS = (
    Flag("idle-after", 300.0, "seconds without playing before -on-idle runs", "float",
         "SECONDS", (0.1, 86400), live=True),
    Flag("idle-at-start", False,
         "when nothing plays at start, run -on-idle once after -idle-after seconds (turns "
         "off an amplifier left on by a crash or a power cut)", "bool"),
    Flag("local-player", (), "a machine id of this streamer's own player, which drives its "
         "volume; repeat or separate with commas (default: the Plexamp at -plexamp-url when "
         "set, else every followed player)", "list", "ID"),
    Flag("source-policy", "last-wins", "last-wins: when one of this streamer's sources starts "
         "while another plays, the other yields (the local Plexamp is soft-paused); off: "
         "they may play over each other", metavar="POLICY", live=True),
)


def check(values):
    """The room's settings that need more than a type; ConfigError with the fix."""
    policy = values["source-policy"].strip().lower()
    if policy not in ("last-wins", "off"):
        raise ConfigError("-source-policy: %r is not last-wins or off" % values["source-policy"])
    return {"source_policy": policy}
