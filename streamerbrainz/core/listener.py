"""The shape of everything that reacts to a change, and the loop that tells them in order.

A listener overrides the methods for the events it cares about; the others
do nothing. The daemon keeps one list, and its order is the order of
effects: for one change, each listener hears ``players_active`` (when the
change ends an idle spell) and then ``state_changed`` before the next
listener hears anything, so the hooks turn an amplifier on before the
play hook runs and before a later listener raises the volume. Every call is
isolated: one listener that fails is logged and never skips the next. All
calls come from the main loop's thread.
"""

from streamerbrainz.lib.log import get_logger

log = get_logger(__name__)


class Listener:
    """Reacts to changes; every method is called on the main loop's thread."""

    name = "listener"

    def players_active(self, change):
        """Something plays after the players were idle; ``change`` is what started it."""

    def state_changed(self, change):
        """A followed player changed state or track (a ``PlayerStateChanged``)."""

    def players_idle(self, last):
        """Nothing has played for the idle grace; ``last`` is the last change, or None."""

    def camilladsp_changed(self, status):
        """CamillaDSP's status changed (see ``camilladsp.service``): a dict, not to be changed."""


def tell(listeners, method, *args):
    """Call ``method`` of each listener in order; log and survive each failure."""
    for listener in listeners:
        try:
            getattr(listener, method)(*args)
        except Exception:
            log.exception("listener failed; carrying on", listener=listener.name, event=method)


def tell_change(listeners, change, became_active):
    """One change, listener by listener: ``players_active`` first when it ends an idle spell."""
    for listener in listeners:
        if became_active:
            tell((listener,), "players_active", change)
        tell((listener,), "state_changed", change)
