"""The bridges other players run once per event: ``librespot-event`` and ``source-event``.

They start from ``python -m streamerbrainz`` without the settings of every
room (``sources.bridge`` reads its own ``-url``), so that librespot, which
waits for each event's program, is held up as little as possible.
"""

NAMES = {
    "librespot-event": "tell the daemon of a librespot event (librespot's --onevent)",
    "source-event": "tell the daemon that NAME plays, paused or stopped (shairport-sync)",
}


def main(name, argv, environ=None):
    from streamerbrainz.sources import bridge
    return bridge.main(name, argv, environ)
