"""The web room's flags: where the daemon listens for Plex's webhooks, and whom it hears."""

from streamerbrainz.lib.flags import Flag

TITLE = "Webhooks"
HELP_ORDER = 20  # where -help shows this room: lower first
SECTION = "webhooks"  # its part of the settings file: [webhooks] port = 3001

FLAGS = (
    Flag("webhooks-port", 3001, "HTTP listener port; 0 picks a free one (the log says which)",
         "int", "PORT", (0, 65535)),
    Flag("webhooks-bind", "0.0.0.0",
         "address to listen on (127.0.0.1 behind a reverse proxy, :: for IPv6)", metavar="ADDR"),
    Flag("webhooks-secret-file", "",
         "file holding a secret; when set, only POST /webhooks/plex/<secret> is served; when "
         "empty under systemd, $CREDENTIALS_DIRECTORY/webhooks-secret", metavar="PATH"),
    Flag("webhooks-allow", (),
         "network allowed to POST webhooks (CIDR, IPv4 or IPv6); repeat or comma-separate; "
         "empty allows every address", "list", "CIDR"),
    Flag("sources-allow", (),
         "network allowed to POST /sources/<name> besides loopback, where the bridges run "
         "(CIDR); repeat or comma-separate", "list", "CIDR"),
    Flag("control-allow", (),
         "network allowed to POST /control/<action> besides loopback (Home Assistant on the "
         "LAN: CIDR); repeat or comma-separate", "list", "CIDR"),
)
