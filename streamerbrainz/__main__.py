"""``python -m streamerbrainz``: run the command line."""

import sys

from streamerbrainz.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
