"""``python -m streamerbrainz``: run the command line.

The bridges (``librespot-event``, ``source-event``) run once per event of
another player: they start here without loading the settings of every room.
"""

import sys

from streamerbrainz.app import bridges


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in bridges.NAMES:
        return bridges.main(argv[0], argv[1:])
    from streamerbrainz.app.cli import main as command_line
    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
