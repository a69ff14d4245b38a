"""StreamerBrainz benchmark: ``python -m bench`` or ``python bench/run.py``.

Runs the real daemon (``python -m streamerbrainz``, through the tests'
harness in tests/support/) beside the tests' stand-in Plex server and
prints one table. Every figure stands beside a floor measured in the same
run, with its target and PASS or MISS. These are measurements, not tests:
the exit status is 0 even when a target is missed (2 for a usage error, 1
when the benchmark itself could not run). ``--json FILE`` also writes every
row, the notes and what was measured (git head, Python, date) to FILE.

One module per measurement, in the order below (``--only`` takes these
names, comma-separated); each module's docstring says what it measures and
against which floor:

  latency    bench/latency.py    webhook POST -> ``Plex state changed`` line
  burst      bench/burst.py      100 concurrent webhooks while Plex takes 30 ms
  rss        bench/rss.py        VmRSS after start and after many webhooks
  startup    bench/startup.py    spawn -> ``webhooks server listening``
  idle       bench/idle.py       CPU and wake-ups over a quiet window, SIGTERM
  soak       bench/soak.py       100,000 requests while Plex misbehaves
  slowloris  bench/slowloris.py  500 idle connections beside real webhooks
  sources    bench/sources.py    each trigger source -> state line
  hooks      bench/hooks.py      webhook -> an -on-change hook's first action
  hostile    bench/hostile.py    the worst attacks at once, against the budget
  camilladsp bench/camilladsp.py a change -> CamillaDSP's command, fades, quiet, RSS
  bridges    bench/bridges.py    librespot-event's start, the handover to Spotify, quiet
  history    bench/history.py    a change -> its row committed, reads of 100,000 plays, start, RSS
  mqtt       bench/mqtt.py       a change -> its PUBLISH on the wire, a stalled broker, idle pings

Adding one: write ``bench/NAME.py`` with ``@register("NAME")`` on a function
of the Context (bench/context.py), its targets as ``Target`` data
(bench/targets.py), and add NAME to MEASUREMENTS below where it should run.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

# The repository root, so that ``python bench/run.py`` finds ``bench`` and
# ``tests.support`` (for the stand-in Plex server) as ``python -m bench`` does.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bench import harness, registry  # noqa: E402
from bench.context import CELLS, Context  # noqa: E402
from bench.figures import ms  # noqa: E402
from bench.targets import ERROR, FAILED, MISS, PASS, STOPPED  # noqa: E402

MEASUREMENTS = ("latency", "burst", "rss", "startup", "idle", "soak", "slowloris", "sources",
                "hooks", "hostile", "camilladsp", "bridges", "history", "mqtt")


def print_table(rows, out):
    header = ("metric", "daemon", "floor", "overhead/ratio", "target", "result")
    table = [header] + [row[:CELLS] for row in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(CELLS)]

    def line(row):
        return " | ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()

    out.write(line(header) + "\n")
    out.write("-+-".join("-" * w for w in widths) + "\n")
    for row in table[1:]:
        out.write(line(row) + "\n")


def warm_up(ctx):
    """Start the floor and the daemon once each, so that both find their bytecode cached."""
    from bench import clients
    floor = ctx.new_floor()
    floor.close()
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    content_type, body = clients.webhook("media.pause", "multipart")
    clients.post_once(daemon.port, content_type, body)
    daemon.wait_state("paused")
    ctx.stop_daemon(daemon, "warm-up")


def _git(*args):
    return subprocess.run(["git"] + list(args), cwd=harness.REPO_ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True,
                          timeout=5).stdout.strip()


def describe_code():
    """``(short head and whether streamerbrainz/ has uncommitted changes, full head or None)``."""
    try:
        head = _git("rev-parse", "HEAD")
        short = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "streamerbrainz")
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    if not head:
        return "unknown", None
    return short + (" + uncommitted changes in streamerbrainz/" if dirty else ""), head


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure the StreamerBrainz daemon against floors "
        "measured in the same run.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer iterations and a 5 s idle window, for a smoke run")
    parser.add_argument("--only", default="",
                        help="comma-separated subset of: " + ", ".join(MEASUREMENTS))
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write every row, the notes, the git head, the Python "
                        "version and the date to FILE as JSON")
    parser.add_argument("--idle-seconds", type=float, default=None,
                        help="length of the idle window (default 30, 5 with --quick)")
    parser.add_argument("--hostile-seconds", type=float, default=None,
                        help="length of the hostile window (default 30, 8 with --quick)")
    parser.add_argument("--bytecode", choices=("cache", "inherit"), default="cache",
                        help="cache: every subprocess keeps .pyc files in a temporary "
                        "PYTHONPYCACHEPREFIX, warmed before measuring (default); inherit: "
                        "leave PYTHONDONTWRITEBYTECODE and friends as the environment has them")
    parser.add_argument("--soak-webhooks", type=int, default=None,
                        help="requests the soak sends (default 100,000, 10,000 with --quick)")
    parser.add_argument("--soak-rate", type=float, default=600.0,
                        help="requests per second the soak paces itself at (default 600)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in MEASUREMENTS]
    if unknown:
        parser.error("--only: unknown measurement(s) %s; choose from %s"
                     % (", ".join(unknown), ", ".join(MEASUREMENTS)))
    args.selected = only or list(MEASUREMENTS)
    if args.idle_seconds is None:
        args.idle_seconds = 5.0 if args.quick else 30.0
    if args.idle_seconds <= 0:
        parser.error("--idle-seconds: must be more than 0")
    if args.hostile_seconds is None:
        args.hostile_seconds = 8.0 if args.quick else 30.0
    if not 1 <= args.hostile_seconds <= 3600:
        parser.error("--hostile-seconds: from 1 to 3600")
    args.webhooks = 50 if args.quick else 300
    args.keepalive_requests = 10 if args.quick else 30
    args.bursts = 1 if args.quick else 3
    args.rss_counts = (400, 2000) if args.quick else (2000, 10000)
    args.startup_runs = 3 if args.quick else 10
    if args.soak_webhooks is None:
        args.soak_webhooks = 10000 if args.quick else 100000
    if args.soak_webhooks < 100 or args.soak_rate <= 0:
        parser.error("--soak-webhooks: at least 100; --soak-rate: more than 0")
    args.source_changes = 50 if args.quick else 100
    args.hook_changes = 50 if args.quick else 150
    return args


def stop_summary(ctx):
    """The row for every SIGTERM the run sent: each daemon stopped within 2 s with status 0."""
    done = [seconds for _, seconds, status in ctx.stops if seconds is not None]
    hung = [label for label, seconds, _ in ctx.stops if seconds is None]
    bad = [label for label, seconds, status in ctx.stops
           if seconds is not None and status != 0]
    ctx.measurement = None
    ctx.row("SIGTERM -> exit, each daemon stopped in this run (%d)" % len(ctx.stops),
            "max %s%s%s" % (ms(max(done)) if done else "-",
                            "; %d never exited" % len(hung) if hung else "",
                            "; %d non-zero" % len(bad) if bad else ""),
            "", "", STOPPED, value=max(done) * 1000 if done else None, unit="ms",
            conditions=[not bad], valid=not hung)


def _plain(value):
    """A figure for JSON: NaN and infinities (not JSON) become null."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    return value


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def write_json(path, ctx, about, seconds):
    rows = [{"measurement": row.measurement or "run", "name": row.metric,
             "value": _plain(row.value), "floor": _plain(row.floor_value),
             "delta": _plain(row.delta), "unit": row.unit, "target": row.target,
             "verdict": row.result, "check": row.check,
             "cells": {"daemon": row.daemon, "floor": row.floor, "overhead": row.overhead}}
            for row in ctx.rows]
    notes = [{"measurement": measurement or "run", "text": text}
             for measurement, text in ctx.notes]
    document = dict(about)
    document.update({
        "load_average_end": _load(),
        "seconds": {name: round(s, 3) for name, s in seconds.items()},
        "rows": rows,
        "notes": notes,
        "summary": summary_counts(ctx.rows),
    })
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".bench-", suffix=".json", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, allow_nan=False)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def summary_counts(rows):
    return {"met": sum(1 for row in rows if row.result == PASS),
            "targets": sum(1 for row in rows if row.result in (PASS, MISS, ERROR)),
            "missed": sum(1 for row in rows if row.result in (MISS, ERROR))}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"):
        print("bench: needs Linux /proc (VmRSS, context switches)", file=sys.stderr)
        return 1
    measures = registry.load(args.selected)
    out = sys.stdout
    try:
        from streamerbrainz import __version__ as version
    except Exception:
        version = "?"
    code, head = describe_code()
    started = datetime.datetime.now(datetime.timezone.utc)
    about = {
        "streamerbrainz": version, "git_head": head, "code": code,
        "date": started.isoformat(timespec="seconds"),
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "executable": sys.executable, "system": platform.system(), "machine": platform.machine(),
        "nproc": os.cpu_count() or 0, "quick": args.quick, "measurements": args.selected,
        "bytecode": args.bytecode, "load_average_start": _load(),
    }
    out.write("StreamerBrainz %s (%s) benchmark\n" % (version, code))
    out.write("Python %s (%s) %s; %s %s, nproc=%d; stand-in Plex: %s; bytecode: %s%s\n" % (
        platform.python_version(), platform.python_implementation(), sys.executable,
        platform.system(), platform.machine(), os.cpu_count() or 0,
        "tests/support/plexstub.py",
        "cached in a temporary PYTHONPYCACHEPREFIX" if args.bytecode == "cache"
        else "as the environment says", "; --quick" if args.quick else ""))
    out.write("load average at start: %s (other work on the machine skews every figure)\n"
              % " ".join("%.2f" % x for x in os.getloadavg()))
    out.flush()

    tmpdir = tempfile.mkdtemp(prefix="sbz-bench-")
    ctx = None
    seconds = {}
    try:
        token_file = os.path.join(tmpdir, "plex-token")
        with open(token_file, "w") as handle:
            handle.write(harness.TOKEN + "\n")
        os.chmod(token_file, 0o600)
        pycache = None
        if args.bytecode == "cache":
            pycache = os.path.join(tmpdir, "pycache")
            harness.use_bytecode_cache(pycache)
        ctx = Context(args, token_file, pycache)
        if pycache:
            out.write("  warming the bytecode cache ...\n")
            out.flush()
            try:
                warm_up(ctx)
            except Exception as err:
                ctx.note("warm-up failed: %s: %s" % (type(err).__name__, err))
            finally:
                ctx.cleanup()
        for name in args.selected:
            t0 = time.perf_counter()
            out.write("  running %s ...\n" % name)
            out.flush()
            ctx.measurement = name
            try:
                measures[name](ctx)
            except Exception as err:
                ctx.row(name, "failed", "", "", FAILED)
                ctx.note("%s failed: %s: %s\n%s" % (name, type(err).__name__, err,
                                                     traceback.format_exc()))
            finally:
                ctx.cleanup()
                ctx.measurement = None
            seconds[name] = time.perf_counter() - t0
            out.write("  %s done in %.1f s\n" % (name, seconds[name]))
            out.flush()
    except KeyboardInterrupt:
        out.write("interrupted\n")
    finally:
        if ctx is not None:
            ctx.cleanup()
        shutil.rmtree(tmpdir, ignore_errors=True)
    if ctx is None:
        return 1

    if ctx.stops:
        stop_summary(ctx)
    out.write("\n")
    print_table(ctx.rows, out)
    if ctx.notes:
        out.write("\nNotes:\n")
        for _, note in ctx.notes:
            out.write("  - " + note.rstrip() + "\n")
    out.write("\nload average at the end: %s\n" % " ".join("%.2f" % x for x in os.getloadavg()))
    counts = summary_counts(ctx.rows)
    out.write("\n%d of %d targets met%s\n" % (
        counts["met"], counts["targets"],
        "" if not counts["missed"] else "; %d MISS/ERROR (measurements, not tests: exit "
        "status 0)" % counts["missed"]))
    if args.json:
        try:
            write_json(args.json, ctx, about, seconds)
        except (OSError, ValueError) as err:
            print("bench: cannot write %s: %s" % (args.json, err), file=sys.stderr)
            return 1
        out.write("results written to %s\n" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
