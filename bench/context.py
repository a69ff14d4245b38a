"""What every measurement gets: the run's options, its rows and notes, its processes.

A measurement adds rows with ``ctx.row`` (or ``ctx.compare`` for two numbers
in one unit), each with a Target or an Info from bench/targets.py; the
row's target text and verdict come from that one object. Stand-ins and
processes started through the context are stopped after the measurement.
"""

import collections
import os

from bench import harness
from bench.figures import ms
from bench.targets import CONTEXT
from tests.support import daemon as tests_daemon

# The six cells of the table, then for --json the measurement, the figures
# behind the cells -- value (the daemon column's), floor (the floor
# column's), delta (the overhead/ratio column's) and their unit -- and the
# target's definition (None for context).
Row = collections.namedtuple(
    "Row", "metric daemon floor overhead target result measurement value floor_value delta unit "
    "check")
CELLS = 6


class Context:
    """The run's options and results, and what a measurement starts (stopped after it)."""

    def __init__(self, args, token_file, pycache=None):
        self.args = args
        self.pycache = pycache
        self.token_file = token_file
        self.rows = []
        self.notes = []  # (measurement, text)
        self.stops = []  # (label, seconds or None, exit status) for every SIGTERM sent
        self.measurement = None  # the one running, for rows and notes
        self.tmpdir = os.path.dirname(token_file)
        self._cleanups = []

    # -- rows and notes ---------------------------------------------------------

    def row(self, metric, daemon, floor="", overhead="", target=CONTEXT, value=None,
            floor_value=None, delta=None, unit=None, conditions=(), valid=True):
        """Add one row: the cells as written, the target, and the figures it is checked on.

        ``conditions`` are the truth values of the target's ``also`` names, in
        order; ``valid`` False says the figure could not be measured (a MISS).
        """
        result = target.verdict(value=value, floor=floor_value, delta=delta, unit=unit,
                                conditions=conditions, valid=valid)
        self.rows.append(Row(metric, daemon, floor, overhead, target.text(floor_value), result,
                             self.measurement, value, floor_value, delta, unit, target.spec()))

    def compare(self, metric, value, floor, unit, cell="%.2f", change="%+.2f", target=CONTEXT,
                **more):
        """A row of two figures in ``unit``: daemon, floor and overhead cells written from them."""
        suffix = " " + unit if unit else ""
        self.row(metric, cell % value + suffix, cell % floor + suffix,
                 change % (value - floor) + suffix, target, value=value, floor_value=floor,
                 delta=value - floor, unit=unit, **more)

    def note(self, text):
        self.notes.append((self.measurement, text))

    # -- cleanups (also what the tests' helpers call: ``addCleanup``) ----------------

    def add_cleanup(self, action):
        self._cleanups.append(action)

    addCleanup = add_cleanup

    def cleanup(self):
        while self._cleanups:
            action = self._cleanups.pop()
            try:
                action()
            except Exception as err:  # keep cleaning up
                self.note("cleanup failed: %s: %s" % (type(err).__name__, err))

    # -- processes --------------------------------------------------------------------

    def new_stub(self):
        """The tests' stand-in Plex serving the followed player's Track, stopped afterwards."""
        return tests_daemon.start_stub(self, sessions=harness.SESSIONS_XML, token=harness.TOKEN)

    def new_daemon(self, stub, wait_state=True, **kwargs):
        daemon = harness.Daemon(stub.url if stub is not None else None, self.token_file,
                                level="info", **kwargs)
        self.add_cleanup(daemon.close)
        daemon.wait_listening()
        if wait_state:
            daemon.wait_state("playing", timeout=10)  # the fetch at start-up
        return daemon

    def new_floor(self):
        floor = harness.Floor()
        self.add_cleanup(floor.close)
        floor.wait_ready()
        return floor

    def new_floor_server(self):
        server = harness.FloorServer()
        self.add_cleanup(server.close)
        server.wait_listening()
        return server

    def stop_daemon(self, daemon, label):
        """SIGTERM and wait up to 5 s (then SIGKILL); record how it went."""
        seconds, status = daemon.sigterm(timeout=5.0)
        self.stops.append((label, seconds, status))
        if seconds is None or status != 0:
            last = [line for line in daemon.tail if line][-1:] or ["(nothing)"]
            self.note("%s: SIGTERM -> %s, exit status %s; last log line: %s" % (
                label, "no exit within 5 s (killed)" if seconds is None else ms(seconds),
                status, last[0][:200]))
        return seconds, status

    def check_daemon(self, daemon, label):
        """Note anything the daemon complained about."""
        if daemon.complaints:
            shown = daemon.complaints[:5]
            more = len(daemon.complaints) - len(shown)
            self.note("%s: the daemon logged %d WARN/ERROR line(s)%s:\n      %s" % (
                label, len(daemon.complaints), " (first 5)" if more > 0 else "",
                "\n      ".join(line[:300] for line in shown)))


def next_toggle(current):
    """The webhook that changes the state, and the state it should produce."""
    if current == "playing":
        return "media.pause", "paused"
    return "media.play", "playing"
