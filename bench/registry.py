"""The measurements by name.

Each module ``bench/NAME.py`` registers its measurement under its ``--only``
name with ``@register("NAME")`` on a function taking the run's Context;
``bench/run.py`` lists the names in the order they run and loads them here.
"""

import importlib

_MEASUREMENTS = {}


def register(name):
    """Decorator: ``@register("rss")`` makes the function the measurement ``rss``."""
    def decorate(measure):
        known = _MEASUREMENTS.get(name)
        if known is not None and known.__module__ != measure.__module__:
            raise ValueError("measurement %r registered by %s and %s"
                             % (name, known.__module__, measure.__module__))
        _MEASUREMENTS[name] = measure
        return measure
    return decorate


def load(names):
    """``{name: measure}`` for ``names``, importing ``bench.NAME`` for each."""
    found = {}
    for name in names:
        importlib.import_module("bench." + name)
        if name not in _MEASUREMENTS:
            raise LookupError("bench/%s.py registers no measurement %r" % (name, name))
        found[name] = _MEASUREMENTS[name]
    return found

