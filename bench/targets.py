"""Targets as data: a row's target text and its PASS/MISS check come from one definition.

``Target("<=", 4, "MiB", on="delta", form="{op} floor + {limit}")`` is both
the text ``<= floor + 4 MiB`` in the table and the check ``delta <= 4``
(the delta in MiB, converted from the row's unit if that is another one).
``Info("(context)")`` marks a row with no target: it is reported as ``info``.
"""

import operator

PASS, MISS, INFO, ERROR = "PASS", "MISS", "info", "ERROR"

_OPS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge,
        ">": operator.gt}

# A unit -> (what it measures, its size in that dimension's base unit).
_UNITS = {"s": ("time", 1.0), "ms": ("time", 1e-3),
          "MiB": ("size", 1.0), "KiB": ("size", 1.0 / 1024)}


def convert(value, unit, to):
    """``value`` in ``unit`` expressed in ``to`` (both from _UNITS, or the same unit)."""
    if value is None or not unit or not to or unit == to:
        return value
    (kind, size), (to_kind, to_size) = _UNITS[unit], _UNITS[to]
    if kind != to_kind:
        raise ValueError("cannot compare %s with %s" % (unit, to))
    return value * size / to_size


def _number(x):
    return "%g" % x


class Target:
    """One target: what is compared with what, and how the target column says it.

    ``op`` compares ``on`` (the row's ``value``, or its ``delta``, the figure
    in the overhead column) with ``limit`` in ``unit``. ``form`` writes the
    comparison from the same fields: ``{op}``, ``{limit}`` (limit and unit)
    and ``{floor}`` (the row's floor). ``also`` names further conditions:
    each is written after the comparison (joined with ``sep``) and the row
    must pass one truth value per name, in order. A target with no ``op``
    is its conditions alone (``Target(also=("alive", "200"))``).
    """

    def __init__(self, op=None, limit=None, unit="", on="value", form="{op} {limit}",
                 also=(), sep=", "):
        if op is not None and op not in _OPS:
            raise ValueError("unknown comparison %r" % (op,))
        if on not in ("value", "delta"):
            raise ValueError("on: value or delta, not %r" % (on,))
        if op is None and not also:
            raise ValueError("a target needs a comparison or a condition")
        if unit and unit not in _UNITS and not unit.startswith("/"):
            raise ValueError("unknown unit %r" % (unit,))
        self.op, self.limit, self.unit, self.on = op, limit, unit, on
        self.form = form if op is not None else ""
        self.also = tuple(also)
        self.sep = sep

    @property
    def limit_text(self):
        if not self.unit:
            return _number(self.limit)
        return _number(self.limit) + ("" if self.unit.startswith("/") else " ") + self.unit

    def text(self, floor=None):
        parts = []
        if self.form:
            parts.append(self.form.format(op=self.op, limit=self.limit_text,
                                          floor="?" if floor is None else _number(floor)))
        return self.sep.join(parts + list(self.also))

    def verdict(self, value=None, floor=None, delta=None, unit=None, conditions=(), valid=True):
        """PASS or MISS. ``valid`` False (the figure was not measured) is always a MISS."""
        conditions = tuple(conditions)
        if len(conditions) != len(self.also):
            raise ValueError("target %r checks %d condition(s) %r, the row gave %d"
                             % (self.text(floor), len(self.also), self.also, len(conditions)))
        if not valid or not all(conditions):
            return MISS
        if self.op is None:
            return PASS
        figure = value if self.on == "value" else delta
        if figure is None or figure != figure:  # not measured, or NaN
            return MISS
        figure = convert(figure, unit or self.unit, self.unit)
        return PASS if _OPS[self.op](figure, self.limit) else MISS

    def spec(self):
        """The definition as data (for --json)."""
        return {"op": self.op, "limit": self.limit, "unit": self.unit or None, "on": self.on,
                "also": list(self.also)}

    def __repr__(self):
        return "Target(%r)" % self.text()


class Info:
    """No target: the row is context, reported with ``verdict`` (``info``) and ``text``."""

    def __init__(self, text="(context)", verdict=INFO):
        self._text = text
        self._verdict = verdict

    def text(self, floor=None):
        return self._text

    def verdict(self, **figures):
        return self._verdict

    def spec(self):
        return None

    def __repr__(self):
        return "Info(%r)" % self._text


CONTEXT = Info("(context)")
FAILED = Info("", ERROR)

# A daemon told to stop: exit (the row's value, a duration) within 2 s, with status 0.
STOPPED = Target("<", 2, "s", also=("status 0",))
