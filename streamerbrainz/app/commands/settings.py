"""``streamerbrainz config``: the daemon's effective settings, and ``-check``.

One line per setting of ``run``: its name, its value and where it came
from (flag, the environment variable, the settings file and line,
systemd, default). No secret has a value of its own there: the token and
the webhook secret are shown as the files that hold them. ``-check`` has
already passed when this runs (the settings were validated, the files they
name read): it says so in one line and exits 0.
"""

from streamerbrainz.app import cli, config
from streamerbrainz.lib import table
from streamerbrainz.lib.flags import typed

COLUMNS = ("SETTING", "VALUE", "FROM")
# Config attributes a flag's value may come from elsewhere for: systemd's directories.
FROM_SYSTEMD = {
    "plex-token-file": ("plex_token_file", "systemd $CREDENTIALS_DIRECTORY"),
    "webhooks-secret-file": ("webhooks_secret_file", "systemd $CREDENTIALS_DIRECTORY"),
    "state-dir": ("state_dir", "systemd $STATE_DIRECTORY"),
    "mqtt-password-file": ("mqtt_password_file", "systemd $CREDENTIALS_DIRECTORY"),
}


def rows(cfg, values):
    """``(name, value, origin)`` for every flag ``run`` reads, in -help's order."""
    found = []
    for flag in config.flags_of("run"):
        if flag.action:
            continue
        value, origin = values[flag.name], values.origins.get(flag.name, "default")
        attribute, systemd = FROM_SYSTEMD.get(flag.name, ("", ""))
        if attribute and getattr(cfg, attribute) != value:
            value, origin = getattr(cfg, attribute), systemd
        found.append((flag.name, typed(value, flag.kind) or '""', origin))
    return found


def main(cfg, values, path):
    """Print the settings (or, with -check, that they are valid); the exit status."""
    if values["check"]:
        return cli.write_output("streamerbrainz: the settings are valid (%s)\n"
                                % (path or "no settings file"))
    return cli.write_output(table.render(COLUMNS, rows(cfg, values)) + "\n")
