"""SIGHUP's settings: which changed, which the daemon takes at once, and the Config it runs on.

Pure functions over the gathered values (``config.gather``) and ``Config``:
a flag marked ``live`` takes effect at once; any other changed flag waits
for a restart, its running value kept, so nothing half-applies.
"""

import dataclasses

from streamerbrainz.app import config

# A hook flag has no Config attribute of its own: they are gathered into Config.hooks.
_HOOKS = frozenset(config.HOOK_FLAGS)


def changed(old, new):
    """The names of the run flags whose value differs between two gathered values."""
    return [flag.name for flag in config.flags_of("run")
            if not flag.action and old.get(flag.name) != new.get(flag.name)]


def split(names):
    """``(live, restart)``: the changed names the daemon applies now, and those it cannot."""
    live = [name for name in names if config.FLAGS_BY_NAME[name].live]
    return live, [name for name in names if name not in live]


def applied(running, fresh, live):
    """The running Config with the ``live`` flags' attributes taken from ``fresh``."""
    attributes = set()
    for name in live:
        attributes.add("hooks" if name in _HOOKS else config.FLAGS_BY_NAME[name].attribute)
    return dataclasses.replace(running, **{name: getattr(fresh, name) for name in attributes})


def kept(old, new, restart):
    """The values the daemon runs on now: ``new``, but ``old`` for what waits for a restart.

    So a setting still waiting is named again at the next SIGHUP.
    """
    values = dict(new)
    values.update((name, old[name]) for name in restart)
    return values
