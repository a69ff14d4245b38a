"""``streamerbrainz camilladsp``: the set-up check a user runs first.

Connects to ``-camilladsp-url``, prints the version, the processing state,
the configuration file and every fader, and exits 0; or prints one line
that names the problem and exits 1. It changes nothing.
"""

import sys
import time

from streamerbrainz.app import cli
from streamerbrainz.camilladsp.link import Link, ReplyError, WebSocketError
from streamerbrainz.lib import table

TIMEOUT = 3.0  # the whole check, connect included


def render(link, state, path, faders, driven):
    lines = ["CamillaDSP %s at %s" % (link.version, link.socket.peer),
             "state: %s" % table.cell(state),
             "config: %s" % table.cell(path or "(none)")]
    if not link.commands.supported:
        lines.append("version %s has no Main volume or faders: StreamerBrainz would change "
                     "nothing; upgrade CamillaDSP to 2.0 or later" % link.version)
        return "\n".join(lines) + "\n"
    rows = [(name, "%.1f" % reading.volume, "yes" if reading.mute else "no",
             "yes" if name == driven else "no")
            for name, reading in faders]
    lines += ["", table.render(("FADER", "VOLUME DB", "MUTE", "DRIVEN"), rows)]
    return "\n".join(lines) + "\n"


def main(config, out=None):
    if not config.camilladsp_url:
        print("streamerbrainz: -camilladsp-url: required, e.g. ws://127.0.0.1:1234",
              file=sys.stderr)
        return cli.EXIT_USAGE
    deadline = time.monotonic() + TIMEOUT
    link = Link(config.camilladsp_url, TIMEOUT, config.camilladsp_fader)
    try:
        link.open(deadline)
        state = link.call("GetState", deadline=deadline)
        path = link.config_path(deadline)
        faders = link.faders(deadline) if link.commands.supported else []
    except (WebSocketError, ReplyError) as err:
        print("streamerbrainz: %s" % table.cell(str(err)), file=sys.stderr)
        return cli.EXIT_FAILURE
    finally:
        link.close(0.2)
    return cli.write_output(render(link, state, path, faders, config.camilladsp_fader), out)
