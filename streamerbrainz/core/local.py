"""Which players are the streamer's own: the ones whose pauses may touch its volume.

A phone or the kitchen's Plexamp pausing must never mute this streamer.
``-local-player`` names them; without it, the Plexamp at ``-plexamp-url``
is (once its ``/resources`` has told its machine id), and without that
every followed player is, as on a streamer that plays its own Plexamp only.
"""


class LocalPlayers:
    """``local(machine_id)``: whether that player is local. Any thread may ask.

    ``plexamp_id`` is a callable that returns the local Plexamp's machine
    id, or None while it is not known (then no player is local).
    """

    def __init__(self, machine_ids=(), plexamp_id=None):
        self.machine_ids = frozenset(machine_ids)
        self.plexamp_id = plexamp_id

    def __call__(self, machine_id):
        if self.machine_ids:
            return machine_id in self.machine_ids
        if self.plexamp_id is not None:
            known = self.plexamp_id()
            return known is not None and known == machine_id
        return True

    def describe(self):
        """For the start-up log line: the ids, ``plexamp`` or ``*``."""
        if self.machine_ids:
            return ",".join(sorted(self.machine_ids))
        return "plexamp" if self.plexamp_id is not None else "*"
