"""StreamerBrainz: know what your Plex players are doing and act on it."""

__version__ = "0.1.0"
