"""End to end: hooks and HTTP notifications of the real daemon, and the example scripts.

The daemon runs as a subprocess beside the stand-in Plex (tests/support).
Hooks are tiny ``sh`` scripts written to a temporary directory that append
what they saw (their name, arguments and whole environment) to one file, so
the file's order is the order the hooks ran in. Notifications go to the
stand-in ``Receiver`` on loopback (tests/support/httpstub.py). The
scripts under ``examples/hooks/`` run with fake ``gpioset``, ``amixer``,
``mosquitto_pub`` and ``curl`` first on ``PATH`` that record their argv.
Every wait is for a condition with a deadline.
"""

import base64
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from streamerbrainz import __version__
from tests.support import webhooks
from tests.support.daemon import (MACHINE_ID, REPO_ROOT, E2ECase, parse_log_line, run_cli,
                                  process_gone, state_pattern, wait_for)
from tests.support.httpstub import Receiver, start_server
from tests.support.plexstub import DEFAULT_TOKEN
from tests.support.webhooks import fixture

EXAMPLES = os.path.join(REPO_ROOT, "examples", "hooks")
TITLE = "Once in a Lifetime"
NEXT_TITLE = "Burning Down the House"
ARTIST = "Talking Heads"
ALBUM = "Once in a Lifetime: The Best Of"
SB_NAMES = ("SB_EVENT", "SB_STATE", "SB_PREVIOUS_STATE", "SB_TITLE", "SB_ARTIST", "SB_ALBUM",
            "SB_DURATION_MS", "SB_POSITION_MS", "SB_MACHINE_ID", "SB_PLAYER", "SB_PRODUCT",
            "SB_RATING_KEY", "SB_SESSION_KEY", "SB_SOURCE")
JSON_KEYS = sorted([name[3:].lower() for name in SB_NAMES] + ["at"])

# Appends one record: "hook=NAME", "arg=..." lines, then the environment, then "--end--".
RECORD_SCRIPT = """#!/bin/sh
out=$1
name=$2
shift 2
{
  printf 'hook=%s\\n' "$name"
  for arg in "$@"; do printf 'arg=%s\\n' "$arg"; done
  printf -- '--env--\\n'
  env
  printf -- '--end--\\n'
} >>"$out"
echo "recorded $name"
"""

# A fake command for the example scripts: appends its name and argv (unit
# separator between them) to $STUB_LOG, one call a line.
STUB_RECORD = """#!/bin/sh
{
  printf '%s' "${0##*/}"
  for arg in "$@"; do printf '\\037%s' "$arg"; done
  printf '\\n'
} >>"$STUB_LOG"
"""
STUBS = {
    "amixer": STUB_RECORD,
    "mosquitto_pub": STUB_RECORD,
    "curl": STUB_RECORD + """body=$(cat)
printf 'curl-stdin\\037%s\\n' "$body" >>"$STUB_LOG"
""",
    # Like libgpiod's gpioset: --version (not recorded), else hold the line until SIGTERM.
    "gpioset": """#!/bin/sh
if [ "$1" = --version ]; then
  echo "${STUB_GPIOSET_VERSION:-gpioset v2.2.1 (libgpiod v2.2.1)}"
  exit 0
fi
""" + STUB_RECORD.split("\n", 1)[1] + """echo $$ >>"$STUB_LOG.holders"
if [ -n "${STUB_GPIOSET_FAIL:-}" ]; then
  echo "gpioset: unable to request lines on chip '/dev/$2': Device or resource busy" >&2
  exit 1
fi
trap 'kill $! 2>/dev/null; exit 0' TERM
sleep 30 &
wait
""",
}


def write_script(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    return path


def terminate(pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def parse_records(text):
    """The complete records in a recorder's file, oldest first."""
    records, current, in_env = [], None, False
    for line in text.split("\n"):
        if current is None:
            if line.startswith("hook="):
                current, in_env = {"hook": line[5:], "args": [], "env": {}, "raw": ""}, False
            continue
        if line == "--end--":
            records.append(current)
            current = None
        elif line == "--env--" and not in_env:
            in_env = True
        elif in_env:
            current["raw"] += line + "\n"
            name, sep, value = line.partition("=")
            if sep and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                current["env"][name] = value
        elif line.startswith("arg="):
            current["args"].append(line[4:])
    return records


def next_track_payload():
    """The media.play Plex sends when the queue moves on to the next track."""
    payload = json.loads(fixture("payload_play.json"))
    payload["Metadata"].update(ratingKey="6261", key="/library/metadata/6261",
                               title=NEXT_TITLE, index=4)
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def log_time(line):
    return datetime.datetime.fromisoformat(parse_log_line(line).timestamp)


# -- the base class -------------------------------------------------------------

class HookCase(E2ECase):
    """E2ECase plus a temporary directory, a recorder script and helpers to read it."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="sbz-e2e-hooks-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out = os.path.join(self.dir, "records")
        self.recorder = write_script(self.dir, "record", RECORD_SCRIPT)

    def hook(self, name, *args):
        """A command for -NAME that records under ``name``."""
        return " ".join(shlex.quote(word) for word in [self.recorder, self.out, name] + list(args))

    def hook_flags(self, *names):
        flags = []
        for name in names:
            flags += ["-" + name, self.hook(name)]
        return flags

    def records(self):
        return parse_records(read_text(self.out))

    def wait_records(self, n, timeout=5):
        """Wait until ``n`` records exist; return them all."""
        wait_for(lambda: len(self.records()) >= n, timeout)
        records = self.records()
        if len(records) < n:
            self.fail("expected %d hook records, found %d: %r\nlog:\n%s" % (
                n, len(records), [r["hook"] for r in records], self.daemon.log()))
        return records

    def summary(self, records=None):
        return [(r["hook"], r["env"].get("SB_EVENT")) for r in
                (self.records() if records is None else records)]

    def send_next_track(self):
        self.set_sessions("sessions_next_track.xml")
        content_type, body = webhooks.multipart_body(next_track_payload())
        return self.check_accepted(*webhooks.post(self.daemon.port, body, content_type))

    def play(self, n):
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        self.wait_state("playing", n)

    def pause(self, n):
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        return self.wait_state("paused", n)

    def stop(self, n):
        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop.json")
        self.wait_state("stopped", n)

    def receiver(self, status=204, hold_first=False):
        """A stand-in for -notify-url (tests/support/httpstub.py), stopped at cleanup."""
        return start_server(self, Receiver(status, hold_first))


# -- commands: environment, order, idle and active --------------------------------

class HookEnvironmentTests(HookCase):

    def test_each_hook_gets_its_change_in_its_environment_and_no_secret(self):
        credentials = tempfile.mkdtemp(prefix="sbz-credentials-")
        self.addCleanup(shutil.rmtree, credentials, True)
        # The same token the daemon reads with -plex-token-file (tests.support).
        with open(os.path.join(credentials, "plex-token"), "w") as handle:
            handle.write(DEFAULT_TOKEN + "\n")
        on_change = write_script(self.dir, "on-change.sh", "#!/bin/sh\nexec %s\n"
                                 % self.hook("on-change"))
        env = {"CREDENTIALS_DIRECTORY": credentials,
               "STREAMERBRAINZ_PLEX_TOKEN": DEFAULT_TOKEN,  # no such flag; still withheld
               "STREAMERBRAINZ_LOG_LEVEL": "debug",
               "SB_TITLE": "a stale title", "SB_STALE": "stale",
               "SBZ_TEST_MARKER": "kept"}
        args = ["-on-change", on_change,  # an executable path as it is
                "-on-stop", self.hook("on-stop", "two words", "it's")]
        args += self.hook_flags("on-play", "on-pause", "on-idle", "on-active")
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args, env=env)

        self.play(1)
        self.pause(1)
        self.set_sessions("sessions_track.xml")
        self.send("payload_resume.json")
        self.wait_state("playing", 2)
        self.send_next_track()
        self.wait_state("playing", 3)
        self.stop(1)
        records = self.wait_records(10)

        self.assertEqual(self.summary(records), [
            ("on-active", "active"), ("on-change", "play"), ("on-play", "play"),
            ("on-change", "pause"), ("on-pause", "pause"),
            ("on-change", "play"), ("on-play", "play"),
            ("on-change", "track"),
            ("on-change", "stop"), ("on-stop", "stop"),
        ], self.daemon.log())
        expected = [  # state, previous state, title
            ("playing", "stopped", TITLE), ("playing", "stopped", TITLE),
            ("playing", "stopped", TITLE), ("paused", "playing", TITLE),
            ("paused", "playing", TITLE), ("playing", "paused", TITLE),
            ("playing", "paused", TITLE), ("playing", "playing", NEXT_TITLE),
            ("stopped", "playing", NEXT_TITLE), ("stopped", "playing", NEXT_TITLE),
        ]
        for record, (state, previous, title) in zip(records, expected):
            with self.subTest(hook=record["hook"], event=record["env"].get("SB_EVENT")):
                env_ = record["env"]
                self.assertEqual(sorted(n for n in env_ if n.startswith("SB_")), sorted(SB_NAMES))
                self.assertEqual(env_["SB_STATE"], state)
                self.assertEqual(env_["SB_PREVIOUS_STATE"], previous)
                self.assertEqual(env_["SB_TITLE"], title)
                self.assertEqual(env_["SB_ARTIST"], ARTIST)
                self.assertEqual(env_["SB_ALBUM"], ALBUM)
                self.assertEqual(env_["SB_MACHINE_ID"], MACHINE_ID)
                self.assertEqual(env_["SB_PLAYER"], "Office")
                self.assertEqual(env_["SB_PRODUCT"], "Plexamp")
                first_track = title == TITLE
                self.assertEqual(env_["SB_RATING_KEY"], "6260" if first_track else "6261")
                self.assertEqual(env_["SB_SESSION_KEY"], "53" if first_track else "54")
                self.assertEqual(env_["SB_DURATION_MS"], "259560" if first_track else "263280")
                self.assertRegex(env_["SB_POSITION_MS"], r"^\d+$")
                # Nothing that leads to the daemon's secrets or settings.
                self.assertNotIn("CREDENTIALS_DIRECTORY", env_)
                self.assertEqual([n for n in env_ if n.startswith("STREAMERBRAINZ_")], [])
                self.assertNotIn(DEFAULT_TOKEN, record["raw"])
                self.assertNotIn(credentials, record["raw"])
                self.assertEqual(env_.get("SBZ_TEST_MARKER"), "kept")
        self.assertEqual(records[3]["env"]["SB_POSITION_MS"], "30496")  # paused: as Plex said
        self.assertGreaterEqual(int(records[1]["env"]["SB_POSITION_MS"]), 30496)
        self.assertEqual(records[9]["args"], ["two words", "it's"])
        for record in records[:9]:
            self.assertEqual(record["args"], [])
        # Each run is logged at DEBUG: started (command, pid, event) and finished.
        started = [parse_log_line(line).fields for line in self.daemon.matching("hook started")]
        self.assertEqual([(f["hook"], f["event"]) for f in started], self.summary(records))
        self.assertEqual(started[1]["command"], on_change)
        self.assertRegex(started[1]["pid"], r"^\d+$")
        for line in map(parse_log_line, self.daemon.wait_for_lines("hook finished", 10)):
            self.assertEqual(line.level, "DEBUG")
            self.assertEqual(line.fields["exit_status"], "0")
            self.assertEqual(line.fields["output"], "recorded " + line.fields["hook"])
        # The one warning is for the variable that is no flag; it names no value.
        warns = [parse_log_line(line) for line in self.daemon.matching("[WARN]")]
        self.assertEqual([(w.message, w.fields) for w in warns], [
            ("unknown environment variable ignored",
             {"variable": "STREAMERBRAINZ_PLEX_TOKEN",
              "closest": "STREAMERBRAINZ_PLEX_TOKEN_FILE"})], self.daemon.log())

    def test_no_hook_sees_a_variable_whose_value_holds_the_token_or_the_secret(self):
        # README: a hook inherits the daemon's environment "without any
        # variable whose value holds the Plex token or the webhook secret",
        # whatever the variable is called.
        secret = "Qm4~Zr7.Lx2_Vn9-Hk5pTs3d"
        secret_file = os.path.join(self.dir, "webhooks-secret")
        with open(secret_file, "w") as handle:
            handle.write(secret + "\n")
        leaking = {"MY_NOTE": "prefix" + DEFAULT_TOKEN + "suffix",
                   "PLAIN_COPY": DEFAULT_TOKEN,
                   "BACKUP_URL": "https://sbz:%s@backup.home.arpa/" % secret,
                   "ZZ_LAST": secret + " and " + DEFAULT_TOKEN}
        innocent = {"SBZ_TEST_MARKER": "kept", "AMP_GPIO_LINE": "17"}
        args = ["-webhooks-secret-file", secret_file, "-idle-at-start", "-idle-after", "0.2",
                "-on-idle", self.hook("on-idle")]
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args,
                                   env=dict(leaking, **innocent))
        self.daemon.wait_for_line("players idle", timeout=5)
        (record,) = self.wait_records(1)
        self.assertEqual((record["hook"], record["env"].get("SB_EVENT")), ("on-idle", "idle"))
        for name, value in innocent.items():
            self.assertEqual(record["env"].get(name), value, "%s did not reach the hook" % name)
        self.assertEqual(sorted(set(leaking) & set(record["env"])), [],
                         "variables holding the token or the secret reached the hook")
        self.assertNotIn(DEFAULT_TOKEN, record["raw"], "the token reached the hook")
        self.assertNotIn(secret, record["raw"], "the webhook secret reached the hook")


class IdleActiveTests(HookCase):

    def test_on_idle_once_after_the_grace_and_on_active_once_per_wake(self):
        grace = 0.3
        args = self.hook_flags("on-change", "on-play", "on-pause", "on-stop", "on-idle",
                               "on-active") + ["-idle-after", str(grace)]
        # The daemon starts with the player paused: that is idle already.
        self.start_plex_and_daemon("sessions_track_paused.xml", extra_args=args)
        self.wait_state("paused", 1)
        self.wait_records(2)
        self.assertFalse(wait_for(lambda: len(self.records()) > 2, 3 * grace),
                         "nothing may run while the daemon starts idle: %r" % self.summary())
        self.assertEqual(self.daemon.count("players idle"), 0, self.daemon.log())

        self.play(1)
        self.wait_records(5)
        mark = self.daemon.mark()
        self.pause(2)
        paused_line = self.daemon.wait_for_line(state_pattern("paused"), start=mark)
        idle_line = self.daemon.wait_for_line("players idle", timeout=5, start=mark)
        records = self.wait_records(8)
        waited = (log_time(idle_line) - log_time(paused_line)).total_seconds()
        self.assertGreaterEqual(waited, grace - 0.002, "on-idle ran before the grace ran out")
        self.assertEqual(parse_log_line(idle_line).level, "INFO")
        self.assertEqual(parse_log_line(idle_line).fields["idle_after_s"], str(grace))
        idle = records[7]
        self.assertEqual((idle["hook"], idle["env"]["SB_EVENT"]), ("on-idle", "idle"))
        self.assertEqual(idle["env"]["SB_STATE"], "paused")  # the last change
        self.assertEqual(idle["env"]["SB_TITLE"], TITLE)

        self.stop(1)  # stopping while idle: no second on-idle
        self.play(2)
        records = self.wait_records(13)
        self.assertEqual(self.summary(records), [
            ("on-change", "pause"), ("on-pause", "pause"),
            ("on-active", "active"), ("on-change", "play"), ("on-play", "play"),
            ("on-change", "pause"), ("on-pause", "pause"),
            ("on-idle", "idle"),
            ("on-change", "stop"), ("on-stop", "stop"),
            ("on-active", "active"), ("on-change", "play"), ("on-play", "play"),
        ], self.daemon.log())
        self.assertEqual(self.daemon.count("players idle"), 1, self.daemon.log())
        self.assertEqual(self.daemon.count("players active"), 2, self.daemon.log())
        active = parse_log_line(self.daemon.matching("players active")[0]).fields
        self.assertEqual(active["machine_id"], MACHINE_ID)
        self.assertEqual(active["player"], "Office")

    def test_no_idle_between_tracks_in_a_short_pause_or_at_shutdown(self):
        grace = 1.0
        args = self.hook_flags("on-change", "on-idle", "on-active") + ["-idle-after", str(grace)]
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args)
        self.play(1)
        self.send_next_track()
        self.wait_state("playing", 2)
        mark = self.daemon.mark()
        self.pause(1)
        self.set_sessions("sessions_track.xml")
        self.send("payload_resume.json")
        self.wait_state("playing", 3)
        lines = self.daemon.matching(re.compile(r"Plex state changed state=(paused|playing)"),
                                     start=mark)
        short = (log_time(lines[1]) - log_time(lines[0])).total_seconds()
        self.assertLess(short, grace, "too slow to test a pause shorter than the grace")
        self.send_next_track()
        self.wait_state("playing", 4)
        mark = self.daemon.mark()
        self.pause(2)
        self.wait_records(7)
        self.daemon.terminate()  # within the grace of that pause
        self.assertEqual(self.daemon.wait_exit(5), 0, self.daemon.log())
        paused_line = self.daemon.matching(state_pattern("paused"), start=mark)[0]
        shutdown_line = self.daemon.matching("shutting down", start=mark)[0]
        self.assertLess((log_time(shutdown_line) - log_time(paused_line)).total_seconds(), grace,
                        "too slow to test a shutdown within the grace")

        self.assertEqual(self.daemon.count("players idle"), 0, self.daemon.log())
        self.assertEqual(self.summary(), [
            ("on-active", "active"), ("on-change", "play"),
            ("on-change", "track"),
            ("on-change", "pause"), ("on-change", "play"),
            ("on-change", "track"),
            ("on-change", "pause"),
        ], self.daemon.log())
        self.assertEqual(self.daemon.count("players active"), 1)


# -- commands that hang or fail ------------------------------------------------------

class MisbehavingHookTests(HookCase):

    def test_a_hook_that_hangs_is_killed_with_its_group_and_later_hooks_run_in_order(self):
        timeout = 0.8
        hang = write_script(self.dir, "hang.sh", """#!/bin/sh
%s
sleep 60 &
echo $! >"%s/grandchild"
echo $$ >"%s/child"
wait
""" % (self.hook("on-play"), self.dir, self.dir))
        args = self.hook_flags("on-change", "on-pause") + ["-on-play", hang,
                                                           "-hook-timeout", str(timeout)]
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args)
        self.play(1)
        self.wait_records(2)
        pids = {}
        for name in ("child", "grandchild"):
            path = os.path.join(self.dir, name)
            self.assertTrue(wait_for(lambda: read_text(path).endswith("\n")), name)
            pids[name] = int(read_text(path))
        self.assertFalse(process_gone(pids["grandchild"]))

        # While the hook hangs, webhooks are answered and changes tracked at once.
        self.set_sessions("sessions_track_paused.xml")
        started = time.monotonic()
        self.send("payload_pause.json")
        self.assertLess(time.monotonic() - started, 1.0, "the webhook answer waited for a hook")
        self.wait_state("paused", 1)
        self.assertEqual(self.daemon.count("hook timed out"), 0,
                         "the change was held up by the hanging hook\n" + self.daemon.log())

        line = self.daemon.wait_for_line("hook timed out; killed its process group", timeout=5)
        record = parse_log_line(line)
        self.assertEqual(record.level, "WARN")
        self.assertEqual(record.fields["hook"], "on-play")
        self.assertEqual(record.fields["command"], hang)
        self.assertEqual(float(record.fields["timeout_s"]), timeout)
        records = self.wait_records(4)
        self.assertEqual(self.summary(records), [
            ("on-change", "play"), ("on-play", "play"),
            ("on-change", "pause"), ("on-pause", "pause"),
        ])
        for name, pid in pids.items():
            self.assertTrue(wait_for(lambda: process_gone(pid), 3), "the hook's %s survived" % name)
        # The hooks after the hanging one started only once it was killed.
        lines = self.daemon.lines()
        timed_out_at = lines.index(line)
        after = [parse_log_line(l).fields.get("hook") for l in lines[timed_out_at:]
                 if "hook started" in l]
        self.assertEqual(after, ["on-change", "on-pause"])

    def test_a_hook_that_fails_is_logged_and_changes_nothing_else(self):
        fail = write_script(self.dir, "fail.sh", """#!/bin/sh
echo "relay: cannot open /dev/gpiochip0"
echo "second line" >&2
exit 3
""")
        missing = os.path.join(self.dir, "no-such-hook")
        args = self.hook_flags("on-change") + ["-on-play", fail, "-on-pause", missing]
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args)
        self.play(1)
        failed = parse_log_line(self.daemon.wait_for_line("hook failed"))
        self.assertEqual(failed.level, "WARN")
        self.assertEqual(failed.fields["hook"], "on-play")
        self.assertEqual(failed.fields["exit_status"], "3")
        self.assertEqual(failed.fields["output"], "relay: cannot open /dev/gpiochip0\nsecond line")
        self.pause(1)
        could_not = parse_log_line(self.daemon.wait_for_line("hook could not start"))
        self.assertEqual(could_not.level, "WARN")
        self.assertEqual(could_not.fields["hook"], "on-pause")
        self.assertEqual(could_not.fields["command"], missing)
        self.play(2)
        self.daemon.wait_for_lines("hook failed", 2)
        records = self.wait_records(3)

        self.assertEqual(self.summary(records), [("on-change", "play"), ("on-change", "pause"),
                                                 ("on-change", "play")])
        self.assertEqual(self.changes(), [("playing", TITLE), ("paused", TITLE),
                                          ("playing", TITLE)])
        status, _, body = webhooks.get(self.daemon.port, "/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(self.daemon.running())
        self.assertEqual(self.daemon.count("[ERROR]"), 0, self.daemon.log())
        self.assertEqual(self.daemon.count("Traceback"), 0, self.daemon.log())
        warns = [parse_log_line(l).message for l in self.daemon.matching("[WARN]")]
        self.assertEqual(warns, ["hook failed", "hook could not start", "hook failed"])


# -- HTTP notifications --------------------------------------------------------------

class NotifyUrlTests(HookCase):

    def test_posts_json_with_its_headers_in_order_across_a_burst(self):
        receiver = self.receiver(204, hold_first=True)  # the first answer waits: a queue builds
        gate = os.path.join(self.dir, "gate")
        on_change = write_script(self.dir, "on-change.sh", """#!/bin/sh
%s
while [ ! -e "%s" ]; do sleep 0.01; done
""" % (self.hook("on-change"), gate))
        url = "http://127.0.0.1:%d/api/webhook/sbz" % receiver.port
        self.start_plex_and_daemon("sessions_empty.xml",
                                   extra_args=["-notify-url", url, "-on-change", on_change])
        self.set_sessions("sessions_track.xml")  # the webhook's event decides the state
        for n in range(20):
            if n % 2 == 0:
                self.send("payload_play.json")
                self.wait_state("playing", n // 2 + 1)
            else:
                self.send("payload_pause.json")
                self.wait_state("paused", n // 2 + 1)
        self.assertLessEqual(len(self.records()), 1, "the hooks were not held up")
        self.assertLessEqual(len(receiver.received()), 1, "the notifications were not held up")
        with open(gate, "w"):
            pass
        receiver.gate.set()

        self.assertTrue(wait_for(lambda: len(receiver.received()) >= 21, 10),
                        "%d notifications\n%s" % (len(receiver.received()), self.daemon.log()))
        records = self.wait_records(20)
        self.assertEqual([r["env"]["SB_EVENT"] for r in records], ["play", "pause"] * 10)
        bodies = []
        for request in receiver.received():
            self.assertEqual(request.raw_path, "/api/webhook/sbz")
            self.assertEqual(request.headers["Content-Type"], "application/json")
            self.assertEqual(request.headers["User-Agent"], "StreamerBrainz/" + __version__)
            bodies.append(json.loads(request.body.decode("utf-8")))
        self.assertEqual(len(bodies), 21)
        self.assertEqual([b["event"] for b in bodies], ["active"] + ["play", "pause"] * 10)
        self.assertEqual([b["state"] for b in bodies],
                         ["playing"] + ["playing", "paused"] * 10)
        self.assertEqual([b["previous_state"] for b in bodies[1:]],
                         ["stopped", "playing"] + ["paused", "playing"] * 9)
        now = datetime.datetime.now(datetime.timezone.utc)
        for body in bodies:
            self.assertEqual(sorted(body), JSON_KEYS)
            self.assertEqual(body["title"], TITLE)
            self.assertEqual(body["artist"], ARTIST)
            self.assertEqual(body["album"], ALBUM)
            self.assertEqual(body["machine_id"], MACHINE_ID)
            self.assertEqual(body["player"], "Office")
            self.assertEqual(body["product"], "Plexamp")
            self.assertEqual(body["rating_key"], "6260")
            self.assertEqual(body["session_key"], "53")
            self.assertEqual(body["duration_ms"], 259560)
            self.assertIsInstance(body["position_ms"], int)
            at = datetime.datetime.fromisoformat(body["at"])
            self.assertIsNotNone(at.tzinfo)
            self.assertLess(abs((now - at).total_seconds()), 60)
        stamps = [datetime.datetime.fromisoformat(b["at"]) for b in bodies[1:]]
        self.assertEqual(stamps, sorted(stamps))
        self.assertEqual(self.daemon.count("[WARN]"), 0, self.daemon.log())

    def test_gives_up_after_three_attempts_with_one_warn_and_shows_no_secret(self):
        receiver = self.receiver(500)
        base = "127.0.0.1:%d" % receiver.port
        urls = ["http://%s/fail?token=abc123secret" % base,
                "http://sbzuser:sbzpass-Q7@%s/auth?token=abc123secret" % base]
        args = []
        for url in urls:
            args += ["-notify-url", url]
        # Started paused: one change (no "active"), so one notification per URL.
        self.start_plex_and_daemon("sessions_track_paused.xml", extra_args=args)
        self.wait_state("paused", 1)
        warns = self.daemon.wait_for_lines("notification failed; giving up", 2, timeout=15)
        by_url = {}
        for line in warns:
            record = parse_log_line(line)
            self.assertEqual(record.level, "WARN")
            by_url.setdefault(record.fields["url"], []).append(record.fields)
        self.assertEqual(sorted(by_url), ["http://%s/auth" % base, "http://%s/fail" % base])
        fail = by_url["http://%s/fail" % base]
        self.assertEqual(len(fail), 1)
        self.assertEqual(fail[0]["event"], "pause")
        self.assertEqual(fail[0]["attempts"], "3")
        self.assertIn("500", fail[0]["error"])
        self.assertEqual(len(receiver.received("/fail")), 3)
        # The user info went as Basic authentication on each attempt, not in the URL.
        auth = receiver.received("/auth")
        self.assertEqual(len(auth), 3)
        for request in auth:
            self.assertEqual(request.raw_path, "/auth?token=abc123secret")
            self.assertEqual(request.headers.get("Authorization"),
                             "Basic " + base64.b64encode(b"sbzuser:sbzpass-Q7").decode("ascii"))
        for request in receiver.received("/fail"):
            self.assertNotIn("Authorization", request.headers)
        retries = [parse_log_line(l) for l in self.daemon.matching("notification failed; retrying")]
        self.assertEqual(sorted((r.fields["url"], r.fields["attempt"]) for r in retries), [
            ("http://%s/auth" % base, "1"), ("http://%s/auth" % base, "2"),
            ("http://%s/fail" % base, "1"), ("http://%s/fail" % base, "2")])
        for record in retries:
            self.assertEqual(record.level, "DEBUG")

        self.daemon.stop()
        self.assertEqual(len(receiver.received("/fail")), 3, "tried again after giving up")
        self.assertEqual(self.daemon.count("notification failed; giving up"), 2)
        log = self.daemon.log()
        for secret in ("sbzuser", "sbzpass-Q7", "abc123secret", "token="):
            self.assertNotIn(secret, log)


    def test_a_notify_url_with_a_bad_port_is_a_usage_error(self):
        result = run_cli(["-webhooks-port", "0", "-webhooks-bind", "127.0.0.1",
                          "-notify-url", "http://user:pw@127.0.0.1:99999/hook"], timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertIn("-notify-url", result.stderr)
        self.assertNotIn("pw", result.stderr)


# -- the example scripts --------------------------------------------------------------

SHELLS = [shell for shell in (["sh"], ["dash"], ["busybox", "sh"]) if shutil.which(shell[0])]
SCRIPTS = ("amp-relay.sh", "home-assistant.sh", "mqtt.sh", "alsa-mute.sh")


class ExampleStubs:
    """A directory of fake commands first on PATH, and what they recorded."""

    def __init__(self, testcase):
        self.dir = tempfile.mkdtemp(prefix="sbz-stubs-")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        testcase.addCleanup(self.stop_holders)
        self.log = os.path.join(self.dir, "calls")
        for name, text in STUBS.items():
            write_script(self.dir, name, text)
        os.symlink(sys.executable, os.path.join(self.dir, "python3"))
        self.pidfile = os.path.join(self.dir, "amp.pid")

    def env(self, **extra):
        env = {"PATH": self.dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
               "STUB_LOG": self.log, "AMP_PIDFILE": self.pidfile, "LANG": "C.UTF-8"}
        env.update(extra)
        return env

    def calls(self, name=None):
        try:
            with open(self.log, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        calls = [line.split("\x1f") for line in lines]
        return [call for call in calls if name is None or call[0] == name]

    def holders(self):
        try:
            with open(self.log + ".holders") as handle:
                return [int(pid) for pid in handle.read().split()]
        except FileNotFoundError:
            return []

    def held(self):
        """The pid in the amp script's pid file."""
        with open(self.pidfile) as handle:
            return int(handle.read())

    def stop_holders(self):
        for pid in self.holders():
            terminate(pid)


def sb_env(event, state, previous="stopped", title=TITLE):
    return {"SB_EVENT": event, "SB_STATE": state, "SB_PREVIOUS_STATE": previous,
            "SB_TITLE": title, "SB_ARTIST": ARTIST, "SB_ALBUM": ALBUM,
            "SB_DURATION_MS": "259560", "SB_POSITION_MS": "30496", "SB_MACHINE_ID": MACHINE_ID,
            "SB_PLAYER": "Office", "SB_PRODUCT": "Plexamp", "SB_RATING_KEY": "6260",
            "SB_SESSION_KEY": "53"}


def expected_json(env):
    body = {name[3:].lower(): value for name, value in env.items() if name.startswith("SB_")}
    body["duration_ms"] = int(body["duration_ms"])
    body["position_ms"] = int(body["position_ms"])
    return body


class ExampleScriptTests(unittest.TestCase):

    def run_script(self, name, env, shell=("sh",), expect=0):
        result = subprocess.run(list(shell) + [os.path.join(EXAMPLES, name)], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=20, universal_newlines=True)
        self.assertEqual(result.returncode, expect,
                         "%s under %s: %s%s" % (name, " ".join(shell), result.stdout,
                                                result.stderr))
        return result

    def test_scripts_parse_under_every_shell_and_are_executable(self):
        self.assertTrue(SHELLS)
        for name in SCRIPTS:
            path = os.path.join(EXAMPLES, name)
            with open(path) as handle:
                text = handle.read()
            self.assertTrue(text.startswith("#!/bin/sh\n"), name)
            self.assertTrue(os.stat(path).st_mode & stat.S_IXUSR, "%s is not executable" % name)
            self.assertRegex(text, r"-on-[a-z]+ +/opt/streamerbrainz/examples/hooks/%s"
                             % re.escape(name), "the header shows the flag to use")
            for shell in SHELLS:
                with self.subTest(script=name, shell=shell):
                    result = subprocess.run(list(shell) + ["-n", path], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, timeout=10)
                    self.assertEqual(result.returncode, 0, result.stdout)

    def test_alsa_mute_mutes_when_paused_or_stopped_and_unmutes_when_playing(self):
        for shell in SHELLS:
            stubs = ExampleStubs(self)
            for state in ("playing", "paused", "stopped", "buffering"):
                self.run_script("alsa-mute.sh", stubs.env(**sb_env("x", state),
                                                           ALSA_CARD="sndrpihifiberry",
                                                           ALSA_CONTROL="Digital"), shell)
            self.run_script("alsa-mute.sh", stubs.env(**sb_env("idle", "paused")), shell)
            self.assertEqual(stubs.calls(), [
                ["amixer", "-q", "-c", "sndrpihifiberry", "sset", "Digital", "unmute"],
                ["amixer", "-q", "-c", "sndrpihifiberry", "sset", "Digital", "mute"],
                ["amixer", "-q", "-c", "sndrpihifiberry", "sset", "Digital", "mute"],
                ["amixer", "-q", "-c", "0", "sset", "Master", "mute"],
            ], shell)

    def test_mqtt_publishes_the_change_as_json_retained(self):
        hostile = 'Say "Hi"\n\\ \u00e9 {"x": 1}'
        for shell in SHELLS:
            stubs = ExampleStubs(self)
            env = sb_env("play", "playing", title=hostile)
            self.run_script("mqtt.sh", stubs.env(**env, MQTT_HOST="broker.home.arpa"), shell)
            self.run_script("mqtt.sh", stubs.env(**sb_env("pause", "paused", "playing"),
                                                  MQTT_USER="sbz", MQTT_PASSWORD="pw 1",
                                                  MQTT_TOPIC="hifi/state"), shell)
            calls = stubs.calls("mosquitto_pub")
            self.assertEqual(len(calls), 2, shell)
            self.assertEqual(calls[0][1:-1], ["-h", "broker.home.arpa", "-p", "1883", "-t",
                                              "streamerbrainz/state", "-r", "-q", "1", "-m"])
            self.assertEqual(json.loads(calls[0][-1]), expected_json(env))
            self.assertEqual(calls[1][1:-1], ["-h", "localhost", "-p", "1883", "-t", "hifi/state",
                                              "-r", "-q", "1", "-u", "sbz", "-P", "pw 1", "-m"])
            self.assertEqual(json.loads(calls[1][-1])["event"], "pause")

    def test_home_assistant_posts_the_change_as_json(self):
        hostile = 'Say "Hi"\n\\ \u00e9 </script>'
        url = "http://ha.home.arpa:8123/api/webhook/streamerbrainz-Xy7"
        for shell in SHELLS:
            stubs = ExampleStubs(self)
            env = sb_env("stop", "stopped", "playing", title=hostile)
            self.run_script("home-assistant.sh", stubs.env(**env, HA_WEBHOOK_URL=url), shell)
            calls = stubs.calls()
            self.assertEqual([call[0] for call in calls], ["curl", "curl-stdin"], shell)
            argv = calls[0][1:]
            self.assertEqual(argv[-1], url)
            self.assertIn("--fail", argv)
            self.assertEqual(argv[argv.index("--data-binary") + 1], "@-")
            self.assertEqual(argv[argv.index("--header") + 1], "Content-Type: application/json")
            self.assertEqual(argv[argv.index("--max-time") + 1], "5")
            self.assertEqual(json.loads(calls[1][1]), expected_json(env))

    def test_amp_relay_holds_the_line_on_when_active_and_off_when_idle(self):
        for shell in SHELLS:
            stubs = ExampleStubs(self)
            result = self.run_script("amp-relay.sh", stubs.env(**sb_env("active", "playing")),
                                     shell)
            self.assertIn("set to 1", result.stdout)
            first = stubs.held()
            self.assertFalse(process_gone(first), "nothing holds the line")
            self.run_script("amp-relay.sh", stubs.env(**sb_env("idle", "paused")), shell)
            second = stubs.held()
            self.assertNotEqual(first, second)
            self.assertTrue(wait_for(lambda: process_gone(first), 3),
                            "the gpioset holding the line on still runs")
            self.assertFalse(process_gone(second))
            self.run_script("amp-relay.sh", stubs.env(**sb_env("play", "playing")), shell)
            self.assertEqual(stubs.held(), second, "only active and idle switch the relay")
            self.assertEqual(stubs.calls("gpioset"), [
                ["gpioset", "-c", "gpiochip0", "17=1"],
                ["gpioset", "-c", "gpiochip0", "17=0"],
            ], shell)
            self.assertEqual(stubs.holders(), [first, second])

    def test_amp_relay_with_libgpiod_v1_and_its_settings(self):
        stubs = ExampleStubs(self)
        env = stubs.env(**sb_env("active", "playing"), AMP_GPIO_CHIP="gpiochip4",
                        AMP_GPIO_LINE="27", AMP_GPIO_ON="0", AMP_GPIO_OFF="1",
                        STUB_GPIOSET_VERSION="gpioset (libgpiod) v1.6.3")
        self.run_script("amp-relay.sh", env)
        self.run_script("amp-relay.sh", dict(env, SB_EVENT="idle"))
        self.assertEqual(stubs.calls("gpioset"), [
            ["gpioset", "--mode=signal", "gpiochip4", "27=0"],
            ["gpioset", "--mode=signal", "gpiochip4", "27=1"],
        ])

    def test_amp_relay_reports_a_gpioset_that_fails_and_kills_only_its_gpioset(self):
        stubs = ExampleStubs(self)
        # A stale pid file naming some other process: it must survive.
        other = subprocess.Popen(["sleep", "30"])
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        with open(stubs.pidfile, "w") as handle:
            handle.write("%d\n" % other.pid)
        result = self.run_script("amp-relay.sh", stubs.env(**sb_env("active", "playing"),
                                                           STUB_GPIOSET_FAIL="1"), expect=1)
        self.assertIn("Device or resource busy", result.stderr)
        self.assertIsNone(other.poll(), "the script killed a process that was not its gpioset")


class ExamplesThroughTheDaemonTests(HookCase):
    """The example scripts as the README shows them, run by the daemon itself."""

    def test_examples_run_by_the_daemon(self):
        stubs = ExampleStubs(self)
        env = stubs.env(ALSA_CARD="1", ALSA_CONTROL="Digital", MQTT_HOST="broker.home.arpa",
                        HA_WEBHOOK_URL="http://ha.home.arpa:8123/api/webhook/sbz")
        script = lambda name: os.path.join(EXAMPLES, name)  # noqa: E731
        args = ["-on-active", script("amp-relay.sh"), "-on-idle", script("amp-relay.sh"),
                "-on-change", script("alsa-mute.sh"), "-on-play", script("mqtt.sh"),
                "-on-stop", script("home-assistant.sh"), "-idle-after", "0.3"]
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args, env=env)
        self.play(1)
        self.pause(1)
        self.daemon.wait_for_line("players idle")
        self.stop(1)
        self.assertTrue(wait_for(lambda: len(stubs.calls("curl-stdin")) == 1, 5),
                        "%r\n%s" % (stubs.calls(), self.daemon.log()))
        calls = stubs.calls()
        def brief(call):
            return call if call[0] == "gpioset" else [call[0], call[-1]]
        self.assertEqual([brief(call) for call in calls
                          if call[0] not in ("mosquitto_pub", "curl-stdin")], [
            ["gpioset", "-c", "gpiochip0", "17=1"],  # on-active
            ["amixer", "unmute"],                                              # on-change
            ["amixer", "mute"],                                                # on-change
            ["gpioset", "-c", "gpiochip0", "17=0"],  # on-idle
            ["amixer", "mute"],                                                # on-change
            ["curl", "http://ha.home.arpa:8123/api/webhook/sbz"],              # on-stop
        ], self.daemon.log())
        self.assertEqual([call[0] for call in calls].index("mosquitto_pub"), 2,
                         "on-play runs after on-active and on-change")
        published = stubs.calls("mosquitto_pub")
        self.assertEqual(len(published), 1)
        self.assertEqual(json.loads(published[0][-1])["event"], "play")
        sent = json.loads(stubs.calls("curl-stdin")[0][1])
        self.assertEqual((sent["event"], sent["state"], sent["title"]), ("stop", "stopped", TITLE))
        holders = stubs.holders()
        self.assertEqual(len(holders), 2)
        self.assertTrue(wait_for(lambda: process_gone(holders[0]), 3))
        self.assertFalse(process_gone(holders[1]), "the line is no longer held off")
        self.assertEqual(self.daemon.count("[WARN]"), 0, self.daemon.log())
        self.assertIn("amplifier relay: gpiochip0 line 17 set to 0 (idle)", self.daemon.log())


if __name__ == "__main__":
    unittest.main()


class HookCannotReadTheDaemonTest(unittest.TestCase):
    """A hook runs as the daemon's user, yet cannot read the daemon's /proc files."""

    MARKER = "/run/credentials/streamerbrainz.service/plex-token-marker"

    def test_proc_environ_of_the_daemon_is_refused(self):
        from tests.support.daemon import start_daemon
        command, cwd = None, REPO_ROOT
        if os.geteuid() == 0:
            # Root reads every process's /proc files; the daemon's own user
            # (what the unit runs it as) does not. Run it as nobody, from a
            # copy of the package that nobody can read.
            command, cwd = self.as_nobody()
        daemon = start_daemon(self, extra_args=[
            "-idle-at-start", "-idle-after", "0.2", "-on-idle",
            "sh -c 'cat /proc/$PPID/environ'"],
            env={"STREAMERBRAINZ_PLEX_TOKEN_FILE": self.MARKER}, command=command, cwd=cwd)
        line = daemon.wait_for_line(re.compile(r"hook (failed|finished)"), 10)
        record = parse_log_line(line)
        self.assertEqual(record.message, "hook failed", line)
        self.assertIn("Permission denied", record.fields.get("output", ""), line)
        self.assertNotIn(self.MARKER, daemon.log())

    def as_nobody(self):
        setpriv = shutil.which("setpriv")
        python = "/usr/bin/python3"
        if setpriv is None or not os.access(python, os.X_OK):
            self.skipTest("setpriv (util-linux) or /usr/bin/python3 is not installed")
        copy = tempfile.mkdtemp(prefix="sbz-nobody-")
        self.addCleanup(shutil.rmtree, copy, True)
        os.chmod(copy, 0o755)
        shutil.copytree(os.path.join(REPO_ROOT, "streamerbrainz"),
                        os.path.join(copy, "streamerbrainz"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m",
                "streamerbrainz"], copy


class HookFailureHintTest(unittest.TestCase):

    def test_a_hook_refused_its_device_gets_a_hint_in_its_warn_line(self):
        from tests.support.daemon import start_daemon
        fake_gpioset = ("sh -c 'echo \"gpioset: unable to open chip gpiochip0: "
                        "No such file or directory\" >&2; exit 1'")
        daemon = start_daemon(self, extra_args=[
            "-idle-at-start", "-idle-after", "0.2", "-on-idle", fake_gpioset])
        record = parse_log_line(daemon.wait_for_line("[WARN] hook failed", 10))
        self.assertIn("a device the hook needs is missing", record.fields["hint"])
        self.assertIn("examples/systemd/gpio.conf", record.fields["hint"])
