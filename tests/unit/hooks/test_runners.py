"""Unit tests of hooks.py and idle.py: the pure rules, the runners, real short commands.

Everything runs in this process: commands are tiny ``sh -c`` lines, HTTP
notifications go to the stand-in ``Receiver`` on loopback
(tests/support/httpstub.py), and the notification backoff is patched down
so a give-up takes milliseconds.
Waits poll a condition with a deadline; nothing sleeps a fixed time.
"""

import base64
import datetime
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest
from unittest import mock

from streamerbrainz import __version__
from streamerbrainz.hooks import runners as hooks
from streamerbrainz.hooks.runners import (CommandRunner, Hooks, NotifyRunner, Runner,
                                  hook_environment, hook_fields, notification_json, redact_url)
from streamerbrainz.core.idle import IdleWatch
from tests.support.daemon import process_gone, wait_for
from tests.support.httpstub import Receiver, StubServer, start_server
from tests.support import logs, model

MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
OTHER_MACHINE_ID = "5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
AT = 1764092400.25  # 2025-11-25T17:40:00.250Z

SB_NAMES = ("SB_EVENT", "SB_STATE", "SB_PREVIOUS_STATE", "SB_TITLE", "SB_ARTIST", "SB_ALBUM",
            "SB_DURATION_MS", "SB_POSITION_MS", "SB_MACHINE_ID", "SB_PLAYER", "SB_PRODUCT",
            "SB_RATING_KEY", "SB_SESSION_KEY", "SB_SOURCE")


def change(state="playing", previous_state="stopped", **overrides):
    fields = dict(machine_id=MACHINE_ID, state=state, previous_state=previous_state,
                  title="Once in a Lifetime", artist="Talking Heads",
                  album="Once in a Lifetime: The Best Of", position_ms=30496,
                  duration_ms=259560, session_key="53", rating_key="6260", player="Office",
                  product="Plexamp", at=AT)
    fields.update(overrides)
    return model.change(**fields)



def captured_logs():
    """Capture the hooks logger at DEBUG."""
    return logs.captured("streamerbrainz.hooks.runners")


# -- the pure functions -------------------------------------------------------

class EventNameTests(unittest.TestCase):
    def test_state_changes_name_the_new_state(self):
        cases = [("playing", "stopped", "play"), ("playing", "paused", "play"),
                 ("playing", "buffering", "play"), ("paused", "playing", "pause"),
                 ("stopped", "playing", "stop"), ("stopped", "paused", "stop"),
                 ("buffering", "playing", "buffering")]
        for state, previous, expected in cases:
            with self.subTest(state=state, previous=previous):
                self.assertEqual(change(state, previous).event(), expected)

    def test_same_state_is_a_track_change(self):
        for state in ("playing", "paused", "buffering"):
            with self.subTest(state=state):
                self.assertEqual(change(state, state, rating_key="6261").event(), "track")

    def test_an_unknown_state_passes_through(self):
        self.assertEqual(change("error", "playing").event(), "error")


class HookFieldsTests(unittest.TestCase):
    def test_every_field_as_a_string(self):
        fields = hook_fields("play", change())
        self.assertEqual(fields, {
            "SB_EVENT": "play",
            "SB_STATE": "playing",
            "SB_PREVIOUS_STATE": "stopped",
            "SB_TITLE": "Once in a Lifetime",
            "SB_ARTIST": "Talking Heads",
            "SB_ALBUM": "Once in a Lifetime: The Best Of",
            "SB_DURATION_MS": "259560",
            "SB_POSITION_MS": "30496",
            "SB_MACHINE_ID": MACHINE_ID,
            "SB_PLAYER": "Office",
            "SB_PRODUCT": "Plexamp",
            "SB_RATING_KEY": "6260",
            "SB_SESSION_KEY": "53",
            "SB_SOURCE": "plex",
        })
        self.assertEqual(sorted(fields), sorted(SB_NAMES))
        for value in fields.values():
            self.assertIsInstance(value, str)

    def test_without_an_action_only_the_event(self):
        self.assertEqual(hook_fields("idle", None), {"SB_EVENT": "idle"})

    def test_empty_values_stay_empty(self):
        fields = hook_fields("stop", model.change(machine_id="m", state="stopped",
                                                  previous_state="playing"))
        self.assertEqual(fields["SB_TITLE"], "")
        self.assertEqual(fields["SB_DURATION_MS"], "0")
        self.assertEqual(fields["SB_POSITION_MS"], "0")


class HookEnvironmentTests(unittest.TestCase):
    BASE = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/var/lib/streamerbrainz",
        "LANG": "C.UTF-8",
        "CREDENTIALS_DIRECTORY": "/run/credentials/streamerbrainz.service",
        "NOTIFY_SOCKET": "/run/systemd/notify",
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": "123",
        "LISTEN_FDS": "1",
        "LISTEN_PID": "123",
        "LISTEN_FDNAMES": "http",
        "STREAMERBRAINZ_PLEX_TOKEN_FILE": "/etc/streamerbrainz/plex-token",
        "STREAMERBRAINZ_PLEX_SERVER_URL": "http://plex.home.arpa:32400",
        "SB_TITLE": "a stale title from the daemon's own environment",
        "SB_SOMETHING_ELSE": "stale",
        "AMP_GPIO_LINE": "17",
    }

    def test_secrets_and_old_variables_are_withheld(self):
        base = dict(self.BASE)
        env = hook_environment(hook_fields("play", change()), base)
        self.assertEqual(base, self.BASE, "the base environment must not change")
        for name in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                     "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "SB_SOMETHING_ELSE"):
            self.assertNotIn(name, env)
        self.assertEqual([name for name in env if name.startswith("STREAMERBRAINZ_")], [])
        self.assertEqual(env["SB_TITLE"], "Once in a Lifetime")
        for name in ("PATH", "HOME", "LANG", "AMP_GPIO_LINE"):
            self.assertEqual(env[name], self.BASE[name])
        self.assertEqual(sorted(name for name in env if name.startswith("SB_")), sorted(SB_NAMES))

    def test_a_variable_whose_value_holds_a_secret_is_withheld_whatever_its_name(self):
        token, secret = "tok-Zq8xW3vB7nM2kL5p", "Qm4~Zr7.Lx2_Vn9-Hk5pTs3d"
        base = dict(self.BASE, MY_NOTE="prefix%ssuffix" % token, PLAIN_COPY=token,
                    BACKUP_URL="https://sbz:%s@backup.home.arpa/" % secret)
        env = hook_environment(hook_fields("play", change()), base, secrets=(token, secret, ""))
        for name in ("MY_NOTE", "PLAIN_COPY", "BACKUP_URL"):
            self.assertNotIn(name, env)
        for name in ("PATH", "HOME", "LANG", "AMP_GPIO_LINE"):
            self.assertEqual(env[name], self.BASE[name])  # an empty secret withholds nothing
        self.assertNotIn(token, "".join(env.values()))
        self.assertNotIn(secret, "".join(env.values()))

    def test_defaults_to_the_process_environment(self):
        with mock.patch.dict(os.environ, {"CREDENTIALS_DIRECTORY": "/run/credentials/x",
                                          "STREAMERBRAINZ_LOG_LEVEL": "debug",
                                          "SBZ_TEST_KEPT": "yes"}):
            env = hook_environment({"SB_EVENT": "idle"})
        self.assertNotIn("CREDENTIALS_DIRECTORY", env)
        self.assertNotIn("STREAMERBRAINZ_LOG_LEVEL", env)
        self.assertEqual(env["SBZ_TEST_KEPT"], "yes")
        self.assertEqual(env["SB_EVENT"], "idle")


class NotificationJsonTests(unittest.TestCase):
    def test_fields_lower_case_numbers_and_time(self):
        body = notification_json(hook_fields("pause", change("paused", "playing")), AT)
        at = body.pop("at")
        self.assertEqual(body, {
            "event": "pause", "state": "paused", "previous_state": "playing",
            "title": "Once in a Lifetime", "artist": "Talking Heads",
            "album": "Once in a Lifetime: The Best Of", "duration_ms": 259560,
            "position_ms": 30496, "machine_id": MACHINE_ID, "player": "Office",
            "product": "Plexamp", "rating_key": "6260", "session_key": "53",
            "source": "plex",
        })
        self.assertRegex(at, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
        self.assertAlmostEqual(datetime.datetime.fromisoformat(at).timestamp(), AT, places=3)

    def test_event_alone(self):
        body = notification_json(hook_fields("idle", None), AT)
        self.assertEqual(sorted(body), ["at", "event"])
        self.assertEqual(body["event"], "idle")

    def test_hostile_title_round_trips_through_json(self):
        title = 'Say "Hi"\n\\ \u00e9\u2603 </script>'
        body = notification_json(hook_fields("play", change(title=title)), AT)
        self.assertEqual(json.loads(json.dumps(body))["title"], title)


class RedactUrlTests(unittest.TestCase):
    def test_user_info_query_and_fragment_are_dropped(self):
        cases = [
            ("http://user:pass@127.0.0.1:8123/api/webhook/x?token=abc#frag",
             "http://127.0.0.1:8123/api/webhook/x"),
            ("https://user@example.org/hook?a=1&b=2", "https://example.org/hook"),
            ("https://:secret@example.org", "https://example.org"),
            ("http://u%40x:p%3Aw@host.example:80/p", "http://host.example:80/p"),
            ("http://[::1]:8080/notify?key=v", "http://[::1]:8080/notify"),
            ("http://user:pass@[fd00::1]/n", "http://[fd00::1]/n"),
            ("http://nas.home.arpa/plain", "http://nas.home.arpa/plain"),
        ]
        for url, expected in cases:
            with self.subTest(url=url):
                redacted = redact_url(url)
                self.assertEqual(redacted, expected)
                for secret in ("pass", "secret", "token", "abc", "user", "key=", "p%3Aw"):
                    self.assertNotIn(secret, redacted)


# -- the runners --------------------------------------------------------------

class BlockingRunner(Runner):
    """Records jobs; each run waits until ``release`` is set."""

    name = "test-runner"

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.started = []
        self.done = []
        self.cuts = 0

    def run(self, job):
        self.started.append(job)
        self.release.wait(10)
        if job == "boom":
            raise RuntimeError("a job that fails")
        self.done.append(job)

    def cut(self):
        self.cuts += 1
        self.release.set()


class RunnerTests(unittest.TestCase):
    def make_runner(self):
        runner = BlockingRunner()
        runner.start()
        self.addCleanup(runner.stop, 2)
        self.addCleanup(runner.release.set)
        return runner

    def test_jobs_run_one_at_a_time_in_order(self):
        runner = self.make_runner()
        with captured_logs() as logs:
            for job in range(10):
                runner.submit(job)
            self.assertTrue(wait_for(lambda: runner.started == [0]))
            runner.release.set()
            self.assertTrue(wait_for(lambda: len(runner.done) == 10), runner.done)
        self.assertEqual(runner.done, list(range(10)))
        self.assertEqual(logs.levels("WARN"), [])

    def test_beyond_100_waiting_the_oldest_are_dropped_with_one_warn_each(self):
        runner = self.make_runner()
        with captured_logs() as logs:
            runner.submit(0)
            self.assertTrue(wait_for(lambda: runner.started == [0]))  # in progress, not waiting
            for job in range(1, 101):
                runner.submit(job)
            self.assertEqual(logs.levels("WARN"), [], "100 waiting is not too many")
            runner.submit(101)
            runner.submit(102)
            warns = logs.levels("WARN")
            self.assertEqual(len(warns), 2, logs.text())
            for message, _ in warns:
                self.assertIn("test-runner", message)
                self.assertIn("dropped the oldest", message)
            runner.release.set()
            self.assertTrue(wait_for(lambda: len(runner.done) == 101), len(runner.done))
        self.assertEqual(runner.done, [0] + list(range(3, 103)))

    def test_a_job_that_raises_is_logged_and_the_next_ones_run(self):
        runner = self.make_runner()
        runner.release.set()
        with captured_logs() as logs:
            for job in ("a", "boom", "b"):
                runner.submit(job)
            self.assertTrue(wait_for(lambda: runner.done == ["a", "b"]), runner.done)
        errors = logs.levels("ERROR")
        self.assertEqual(len(errors), 1, logs.text())
        self.assertIn("test-runner failed", errors[0][0])

    def test_stop_drops_what_waits_cuts_the_job_in_progress_and_joins(self):
        runner = self.make_runner()
        runner.submit("first")
        runner.submit("second")
        self.assertTrue(wait_for(lambda: runner.started == ["first"]))
        self.assertTrue(runner.stop(time.monotonic() + 2))
        self.assertEqual(runner.cuts, 1)
        self.assertEqual(runner.started, ["first"])
        self.assertFalse(runner._thread.is_alive())


class CommandRunnerTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sbz-hooks-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_hook(self, script, timeout=5.0, fields=None, flag="on-play"):
        runner = CommandRunner(timeout)
        with captured_logs() as logs:
            runner.run((flag, ["sh", "-c", script, "hook", self.tmp],
                        fields or hook_fields("play", change())))
        return logs

    def test_success_is_logged_at_debug_with_its_output(self):
        logs = self.run_hook('echo "hello from $SB_EVENT"; echo "title: $SB_TITLE" >&2')
        started = logs.find("hook started", "DEBUG")
        self.assertEqual(len(started), 1, logs.text())
        self.assertEqual(started[0]["hook"], "on-play")
        self.assertEqual(started[0]["command"], "sh")
        self.assertEqual(started[0]["event"], "play")
        self.assertIsInstance(started[0]["pid"], int)
        finished = logs.find("hook finished", "DEBUG")
        self.assertEqual(len(finished), 1, logs.text())
        self.assertEqual(finished[0]["exit_status"], 0)
        self.assertEqual(finished[0]["output"], "hello from play\ntitle: Once in a Lifetime")
        self.assertGreaterEqual(finished[0]["duration_ms"], 0)
        self.assertEqual(logs.levels("WARN"), [])

    def test_failure_is_a_warn_with_the_exit_status_and_the_output(self):
        logs = self.run_hook('echo "cannot reach the relay"; echo "second line" >&2; exit 3')
        failed = logs.find("hook failed", "WARN")
        self.assertEqual(len(failed), 1, logs.text())
        self.assertEqual(failed[0]["exit_status"], 3)
        self.assertEqual(failed[0]["hook"], "on-play")
        self.assertEqual(failed[0]["output"], "cannot reach the relay\nsecond line")
        self.assertEqual(logs.find("hook finished"), [])

    def test_only_the_first_lines_of_a_long_output_are_kept(self):
        # 200 KB, more than a pipe holds: the runner keeps reading, so no timeout.
        logs = self.run_hook('i=0; while [ $i -lt 2000 ]; do '
                             'printf "line %04d %0100d\\n" $i 0; i=$((i + 1)); done', timeout=10)
        finished = logs.find("hook finished", "DEBUG")
        self.assertEqual(len(finished), 1, logs.text())
        lines = finished[0]["output"].split("\n")
        self.assertEqual(len(lines), hooks.OUTPUT_LINES)
        self.assertTrue(lines[0].startswith("line 0000 "))
        for line in lines:
            self.assertLessEqual(len(line), 200)

    def test_standard_input_is_closed(self):
        # With the test runner's stdin (a terminal, a pipe) inherited, cat would wait.
        logs = self.run_hook('cat; echo "cat done"; readlink /proc/self/fd/0 || true', timeout=3)
        finished = logs.find("hook finished", "DEBUG")
        self.assertEqual(len(finished), 1, logs.text())
        self.assertTrue(finished[0]["output"].startswith("cat done"))
        if os.path.exists("/proc/self/fd/0"):
            self.assertIn("/dev/null", finished[0]["output"])

    def test_environment_has_the_fields_and_no_secrets(self):
        extra = {"CREDENTIALS_DIRECTORY": self.tmp, "STREAMERBRAINZ_PLEX_TOKEN_FILE": "/x",
                 "NOTIFY_SOCKET": "/run/systemd/notify", "SB_STALE": "old",
                 "SBZ_TEST_KEPT": "kept"}
        with mock.patch.dict(os.environ, extra):
            logs = self.run_hook('env > "$1/env"')
        self.assertEqual(len(logs.find("hook finished")), 1, logs.text())
        with open(os.path.join(self.tmp, "env")) as handle:
            env = dict(line.partition("=")[::2] for line in handle.read().splitlines()
                       if "=" in line)
        for name, value in hook_fields("play", change()).items():
            self.assertEqual(env.get(name), value, name)
        for name in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "SB_STALE"):
            self.assertNotIn(name, env)
        self.assertEqual([n for n in env if n.startswith("STREAMERBRAINZ_")], [])
        self.assertEqual(env.get("SBZ_TEST_KEPT"), "kept")

    def test_a_hook_that_hangs_is_killed_with_its_process_group(self):
        script = ('sleep 60 & echo $! > "$1/grandchild"; echo $$ > "$1/child"; '
                  'echo "waiting"; wait')
        started = time.monotonic()
        logs = self.run_hook(script, timeout=0.3)
        elapsed = time.monotonic() - started
        timed_out = logs.find("hook timed out; killed its process group", "WARN")
        self.assertEqual(len(timed_out), 1, logs.text())
        self.assertEqual(timed_out[0]["timeout_s"], 0.3)
        self.assertEqual(timed_out[0]["hook"], "on-play")
        self.assertEqual(timed_out[0]["output"], "waiting")
        self.assertLess(elapsed, 3, "the hook was not cut at its timeout")
        for name in ("child", "grandchild"):
            with open(os.path.join(self.tmp, name)) as handle:
                pid = int(handle.read())
            self.assertTrue(wait_for(lambda: process_gone(pid), 3), "%s %d survived" % (name, pid))

    def test_a_command_that_cannot_start_is_a_warn(self):
        runner = CommandRunner(1)
        missing = os.path.join(self.tmp, "no-such-hook")
        with captured_logs() as logs:
            runner.run(("on-stop", [missing, "arg"], {"SB_EVENT": "stop"}))
        failed = logs.find("hook could not start", "WARN")
        self.assertEqual(len(failed), 1, logs.text())
        self.assertEqual(failed[0]["hook"], "on-stop")
        self.assertEqual(failed[0]["command"], missing)
        self.assertIn("no such file", failed[0]["error"])

    def test_on_its_thread_hooks_run_in_order_after_a_slow_one(self):
        runner = CommandRunner(5)
        runner.start()
        self.addCleanup(runner.stop, 2)
        out = os.path.join(self.tmp, "order")
        with captured_logs():
            runner.submit(("on-change", ["sh", "-c", 'sleep 0.2; echo "$SB_EVENT" >> "$1"',
                                         "hook", out], {"SB_EVENT": "first"}))
            for n in range(2, 6):
                runner.submit(("on-change", ["sh", "-c", 'echo "$SB_EVENT" >> "$1"', "hook", out],
                               {"SB_EVENT": "job%d" % n}))

            def lines():
                try:
                    with open(out) as handle:
                        return handle.read().split()
                except FileNotFoundError:
                    return []
            self.assertTrue(wait_for(lambda: len(lines()) == 5), lines())
        self.assertEqual(lines(), ["first", "job2", "job3", "job4", "job5"])


# -- HTTP notifications -------------------------------------------------------

class NotifyRunnerTests(unittest.TestCase):
    BODY = notification_json(hook_fields("play", change()), AT)

    def setUp(self):
        for name, value in (("NOTIFY_FIRST_BACKOFF", 0.01), ("NOTIFY_TIMEOUT", 2.0)):
            patcher = mock.patch.object(hooks, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)

    def receiver(self, status=204):
        return start_server(self, Receiver(status))

    def test_posts_json_with_its_headers(self):
        server = self.receiver(200)
        url = "http://127.0.0.1:%d/api/webhook/sbz" % server.port
        with captured_logs() as logs:
            NotifyRunner(url).run(self.BODY)
        received = server.received()
        self.assertEqual(len(received), 1)
        path, headers, body = received[0].raw_path, received[0].headers, received[0].body
        self.assertEqual(path, "/api/webhook/sbz")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["User-Agent"], "StreamerBrainz/" + __version__)
        self.assertEqual(json.loads(body.decode("utf-8")), self.BODY)
        sent = logs.find("notification sent", "DEBUG")
        self.assertEqual(len(sent), 1, logs.text())
        self.assertEqual(sent[0]["attempt"], 1)
        self.assertEqual(logs.levels("WARN"), [])

    def test_an_error_answer_is_tried_three_times_then_one_warn(self):
        server = self.receiver(500)
        url = "http://127.0.0.1:%d/fail" % server.port
        with captured_logs() as logs:
            NotifyRunner(url).run(self.BODY)
        self.assertEqual(len(server.received()), hooks.NOTIFY_ATTEMPTS)
        self.assertEqual(hooks.NOTIFY_ATTEMPTS, 3)
        retries = logs.find("notification failed; retrying", "DEBUG")
        self.assertEqual([r["attempt"] for r in retries], [1, 2], logs.text())
        warns = logs.levels("WARN")
        self.assertEqual(len(warns), 1, logs.text())
        message, fields = warns[0]
        self.assertEqual(message, "notification failed; giving up")
        self.assertEqual(fields["url"], url)
        self.assertEqual(fields["event"], "play")
        self.assertEqual(fields["attempts"], 3)
        self.assertIn("500", fields["error"])

    def test_an_unreachable_url_gives_up_with_one_warn(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # closed once the block ends
        with captured_logs() as logs:
            NotifyRunner("http://127.0.0.1:%d/x" % port).run(self.BODY)
        warns = logs.find("notification failed; giving up", "WARN")
        self.assertEqual(len(warns), 1, logs.text())
        self.assertIn("refused", warns[0]["error"])

    def test_user_info_and_query_never_reach_the_log(self):
        server = self.receiver(500)
        url = "http://sbzuser:sbzpass-Q7@127.0.0.1:%d/hook?token=abc123secret" % server.port
        with captured_logs() as logs:
            runner = NotifyRunner(url)
            runner.run(self.BODY)
        self.assertEqual(len(logs.levels("WARN")), 1, logs.text())
        text = logs.text() + runner.name
        for secret in ("sbzuser", "sbzpass-Q7", "abc123secret", "token="):
            self.assertNotIn(secret, text)
        self.assertIn("http://127.0.0.1:%d/hook" % server.port, text)


    def test_user_info_is_sent_as_basic_authorization(self):
        server = self.receiver(200)
        url = "http://sbzuser:sbz-pass@127.0.0.1:%d/hook?x=1" % server.port
        with mock.patch.object(hooks, "NOTIFY_ATTEMPTS", 1), captured_logs():
            NotifyRunner(url).run(self.BODY)
        received = server.received()
        self.assertEqual(len(received), 1, "the notification never arrived")
        path, headers = received[0].raw_path, received[0].headers
        self.assertEqual(path, "/hook?x=1")
        self.assertEqual(headers.get("Authorization"),
                         "Basic " + base64.b64encode(b"sbzuser:sbz-pass").decode("ascii"))
        self.assertNotIn("sbzuser", headers.get("Host", ""))

    def run_on_thread(self, url):
        """Submit one notification to a started runner; wait until it gave up or failed."""
        with captured_logs() as logs:
            runner = NotifyRunner(url)
            runner.start()
            self.addCleanup(runner.stop, 2)
            runner.submit(self.BODY)
            wait_for(lambda: logs.levels("WARN") or logs.levels("ERROR"))
        return logs


    def test_an_answer_that_is_not_http_is_retried_then_one_warn(self):
        def answer_garbage(handler, request):
            handler.close_connection = True
            handler.wfile.write(b"garbage\r\n\r\n")

        # The stand-in stops at cleanup: no thread is left in accept() on a
        # closed socket, to take the connections of a later test's server.
        server = start_server(self, StubServer(answer_garbage))
        logs = self.run_on_thread("http://127.0.0.1:%d/n" % server.port)
        self.assertEqual(logs.levels("ERROR"), [])
        self.assertEqual(len(logs.find("notification failed; giving up", "WARN")), 1, logs.text())
        self.assertEqual(len(server.requests_to("/n")), 3)

    def test_an_escaped_password_is_sent_decoded_as_basic_auth_and_never_logged(self):
        server = self.receiver(204)
        url = "http://sbzuser:sbz%%20pass@127.0.0.1:%d/n?k=v" % server.port
        credentials = base64.b64encode(b"sbzuser:sbz pass").decode("ascii")
        with captured_logs() as logs:
            runner = NotifyRunner(url)
            runner.start()
            self.addCleanup(runner.stop, 2)
            runner.submit(self.BODY)
            # Over as soon as the runner is done with it: sent, or given up on.
            self.assertTrue(wait_for(lambda: logs.find("notification sent")
                                     or logs.levels("WARN") or logs.levels("ERROR")),
                            "the runner neither sent the notification nor gave up\n"
                            + logs.text())
        text = logs.text() + runner.name
        received = server.received()
        self.assertEqual(len(received), 1, "the notification never arrived\n" + text)
        request = received[0]
        self.assertEqual((request.method, request.raw_path), ("POST", "/n?k=v"))
        self.assertEqual(request.headers.get("Authorization"), "Basic " + credentials)
        self.assertEqual(request.headers.get("Host"), "127.0.0.1:%d" % server.port)
        self.assertEqual(json.loads(request.body.decode("utf-8")), self.BODY)
        self.assertEqual(len(logs.find("notification sent", "DEBUG")), 1, text)
        self.assertEqual(logs.levels("WARN") + logs.levels("ERROR"), [], text)
        for secret in ("sbz pass", "sbz%20pass", "sbzuser", credentials, "k=v"):
            self.assertNotIn(secret, text)

    def test_on_its_thread_notifications_keep_their_order(self):
        server = self.receiver(204)
        runner = NotifyRunner("http://127.0.0.1:%d/n" % server.port)
        runner.start()
        self.addCleanup(runner.stop, 2)
        for n in range(20):
            runner.submit(dict(self.BODY, event="e%02d" % n))
        self.assertTrue(wait_for(lambda: len(server.received()) == 20), len(server.received()))
        events = [json.loads(r.body)["event"] for r in server.received()]
        self.assertEqual(events, ["e%02d" % n for n in range(20)])

    def test_stopping_during_the_backoff_gives_up_at_once_and_quietly(self):
        server = self.receiver(500)
        with mock.patch.object(hooks, "NOTIFY_FIRST_BACKOFF", 30.0), captured_logs() as logs:
            runner = NotifyRunner("http://127.0.0.1:%d/n" % server.port)
            runner.start()
            runner.submit(self.BODY)
            self.assertTrue(wait_for(lambda: len(server.received()) == 1))
            started = time.monotonic()
            self.assertTrue(runner.stop(time.monotonic() + 5))
            self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(len(server.received()), 1)
        self.assertEqual(logs.levels("WARN"), [])


# -- Hooks: which hooks a change runs ----------------------------------------

class FakeRunner:
    def __init__(self):
        self.jobs = []

    def submit(self, job):
        self.jobs.append(job)


class HooksDispatchTests(unittest.TestCase):
    COMMANDS = {
        "on-change": "/opt/hooks/change.sh",
        "on-play": "/opt/hooks/play.sh 'two words' \"it's\"",
        "on-pause": "/opt/hooks/pause.sh",
        "on-stop": "/opt/hooks/stop.sh --quiet",
        "on-idle": "/opt/hooks/amp.sh off",
        "on-active": "/opt/hooks/amp.sh on",
    }

    def make(self, commands=None, urls=()):
        hooks_ = Hooks(self.COMMANDS if commands is None else commands, urls, 5.0,
                       wall=lambda: AT + 60)
        self.runner = FakeRunner()
        if hooks_.runner is not None:
            hooks_.runner = self.runner
        self.notifiers = [FakeRunner() for _ in hooks_.notifiers]
        hooks_.notifiers = self.notifiers
        return hooks_

    def flags(self):
        return [(flag, fields["SB_EVENT"]) for flag, _, fields in self.runner.jobs]

    def test_commands_are_split_like_a_shell_and_empty_ones_dropped(self):
        hooks_ = Hooks(dict(self.COMMANDS, **{"on-pause": ""}), (), 5.0)
        self.assertEqual(hooks_.commands["on-play"],
                         ["/opt/hooks/play.sh", "two words", "it's"])
        self.assertNotIn("on-pause", hooks_.commands)
        self.assertEqual(hooks_.runner.timeout, 5.0)

    def test_nothing_configured_is_disabled(self):
        hooks_ = Hooks({}, (), 10.0)
        self.assertIsNone(hooks_.runner)
        self.assertEqual(hooks_.notifiers, [])
        hooks_.state_changed(change())  # and harmless
        hooks_.players_idle(change())

    def test_each_event_runs_on_change_then_its_own_hook(self):
        hooks_ = self.make()
        hooks_.state_changed(change("playing", "stopped"))
        hooks_.state_changed(change("playing", "playing", rating_key="6261"))
        hooks_.state_changed(change("paused", "playing"))
        hooks_.state_changed(change("buffering", "paused"))
        hooks_.state_changed(change("stopped", "buffering"))
        self.assertEqual(self.flags(), [
            ("on-change", "play"), ("on-play", "play"),
            ("on-change", "track"),
            ("on-change", "pause"), ("on-pause", "pause"),
            ("on-change", "buffering"),
            ("on-change", "stop"), ("on-stop", "stop"),
        ])
        flag, argv, fields = self.runner.jobs[1]
        self.assertEqual(argv, ["/opt/hooks/play.sh", "two words", "it's"])
        self.assertEqual(fields, hook_fields("play", change("playing", "stopped")))

    def test_idle_and_active_carry_the_last_and_the_causing_change(self):
        hooks_ = self.make()
        last = change("paused", "playing", position_ms=120000)
        hooks_.players_idle(last)
        hooks_.players_active(change("playing", "paused"))
        self.assertEqual(self.flags(), [("on-idle", "idle"), ("on-active", "active")])
        self.assertEqual(self.runner.jobs[0][1], ["/opt/hooks/amp.sh", "off"])
        self.assertEqual(self.runner.jobs[0][2]["SB_STATE"], "paused")
        self.assertEqual(self.runner.jobs[0][2]["SB_POSITION_MS"], "120000")
        self.assertEqual(self.runner.jobs[1][2]["SB_STATE"], "playing")

    def test_every_notifier_gets_every_change_with_its_time(self):
        hooks_ = self.make(commands={}, urls=("http://a.example/1", "http://b.example/2"))
        self.assertEqual(len(hooks_.notifiers), 2)
        hooks_.state_changed(change("playing", "stopped"))
        hooks_.state_changed(change("playing", "playing", rating_key="6261"))
        hooks_.players_idle(change("paused", "playing"))
        for notifier in self.notifiers:
            self.assertEqual([body["event"] for body in notifier.jobs], ["play", "track", "idle"])
            self.assertAlmostEqual(
                datetime.datetime.fromisoformat(notifier.jobs[0]["at"]).timestamp(), AT, 3)
            self.assertAlmostEqual(
                datetime.datetime.fromisoformat(notifier.jobs[2]["at"]).timestamp(), AT + 60, 3)
        self.assertEqual(self.runner.jobs, [])


class HooksConfigureTests(unittest.TestCase):
    """SIGHUP's new hooks take effect at once; a runner that stays is the same one."""

    A, B = "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"

    def started(self, hooks_):
        hooks_.start()
        self.addCleanup(lambda: hooks_.stop(time.monotonic() + 2))
        return hooks_

    def test_new_commands_and_urls_run_now_and_gone_ones_stop(self):
        hooks_ = self.started(Hooks({}, (self.A,), 5.0))
        first = hooks_.notifiers[0]
        hooks_.configure({"on-play": "/bin/amp on", "on-stop": ""}, (self.A, self.B), 2.0)
        self.assertEqual(hooks_.commands, {"on-play": ["/bin/amp", "on"]})
        self.assertTrue(hooks_.runner.alive())
        self.assertEqual(hooks_.runner.timeout, 2.0)
        self.assertIs(hooks_.notifiers[0], first)
        self.assertEqual([n.shown for n in hooks_.notifiers], [self.A, self.B])
        self.assertTrue(hooks_.alive())
        hooks_.configure({}, (self.B,), 2.0)
        self.assertEqual(hooks_.commands, {})
        self.assertEqual([n.shown for n in hooks_.notifiers], [self.B])
        self.assertTrue(wait_for(lambda: not first.alive()))
        hooks_.state_changed(change("playing", "stopped"))  # no command: nothing to run

    def test_a_runner_built_later_keeps_every_secret_out(self):
        hooks_ = Hooks({}, (), 5.0, secrets=("secret-one",))
        hooks_.add_secret("token-two")
        hooks_.configure({"on-play": "/bin/true"}, (), 5.0)
        self.assertEqual(hooks_.runner.secrets, ("secret-one", "token-two"))
        self.assertFalse(hooks_.runner.alive(), "not started before the service is")


# -- IdleWatch ----------------------------------------------------------------

class IdleWatchTests(unittest.TestCase):
    def test_the_start_counts_as_idle_until_something_plays(self):
        watch = IdleWatch(300)
        self.assertTrue(watch.idle)
        self.assertFalse(watch.update(MACHINE_ID, "paused", 0))
        self.assertFalse(watch.update(MACHINE_ID, "stopped", 1))
        self.assertIsNone(watch.deadline, "nothing to wait for: already idle")
        self.assertFalse(watch.due(10000))
        self.assertTrue(watch.update(MACHINE_ID, "playing", 2), "the first play is active")
        self.assertFalse(watch.idle)

    def test_a_new_grace_moves_a_running_deadline(self):
        watch = IdleWatch(300)
        watch.update(MACHINE_ID, "playing", 0)
        watch.update(MACHINE_ID, "paused", 100)
        watch.set_grace(60)
        self.assertEqual(watch.deadline, 160)
        self.assertTrue(watch.due(160))
        watch.update(MACHINE_ID, "playing", 200)
        watch.update(MACHINE_ID, "stopped", 210)
        self.assertEqual(watch.deadline, 270)

    def test_idle_once_after_the_grace_then_active_again(self):
        watch = IdleWatch(300)
        self.assertTrue(watch.update(MACHINE_ID, "playing", 0))
        self.assertFalse(watch.update(MACHINE_ID, "paused", 100))
        self.assertEqual(watch.deadline, 400)
        self.assertFalse(watch.due(399.999))
        self.assertTrue(watch.due(400))
        self.assertTrue(watch.idle)
        self.assertFalse(watch.due(400), "idle fires once")
        self.assertFalse(watch.due(100000))
        self.assertFalse(watch.update(MACHINE_ID, "stopped", 500), "stopping while idle: nothing")
        self.assertIsNone(watch.deadline)
        self.assertTrue(watch.update(MACHINE_ID, "playing", 600), "active once more")
        self.assertFalse(watch.update(MACHINE_ID, "playing", 700), "and only once")

    def test_track_changes_and_short_pauses_change_nothing(self):
        watch = IdleWatch(300)
        self.assertTrue(watch.update(MACHINE_ID, "playing", 0))
        self.assertFalse(watch.update(MACHINE_ID, "playing", 200))  # next track
        self.assertIsNone(watch.deadline)
        self.assertFalse(watch.update(MACHINE_ID, "paused", 250))
        self.assertFalse(watch.due(549))
        self.assertFalse(watch.update(MACHINE_ID, "playing", 549), "resumed within the grace")
        self.assertIsNone(watch.deadline)
        self.assertFalse(watch.due(10000))
        # A skip that shows as a short stop or buffering between two tracks.
        self.assertFalse(watch.update(MACHINE_ID, "stopped", 10000))
        self.assertFalse(watch.update(MACHINE_ID, "buffering", 10001))
        self.assertFalse(watch.update(MACHINE_ID, "playing", 10002))
        self.assertFalse(watch.due(20000))
        self.assertFalse(watch.idle)

    def test_the_grace_counts_from_when_playing_ended(self):
        watch = IdleWatch(300)
        watch.update(MACHINE_ID, "playing", 0)
        watch.update(MACHINE_ID, "paused", 100)
        watch.update(MACHINE_ID, "stopped", 350)  # stopping later does not restart the grace
        self.assertEqual(watch.deadline, 400)
        self.assertTrue(watch.due(400))

    def test_idle_needs_every_player_to_stop_playing(self):
        watch = IdleWatch(60)
        self.assertTrue(watch.update(MACHINE_ID, "playing", 0))
        self.assertFalse(watch.update(OTHER_MACHINE_ID, "playing", 5))
        self.assertFalse(watch.update(MACHINE_ID, "paused", 10))
        self.assertIsNone(watch.deadline, "the other player still plays")
        self.assertFalse(watch.due(1000))
        self.assertFalse(watch.update(OTHER_MACHINE_ID, "stopped", 1000))
        self.assertEqual(watch.deadline, 1060)
        self.assertFalse(watch.update(MACHINE_ID, "playing", 1030))
        self.assertIsNone(watch.deadline)
        self.assertFalse(watch.update(MACHINE_ID, "stopped", 1100))
        self.assertTrue(watch.due(1160))

    def test_fractions_of_a_second(self):
        watch = IdleWatch(0.5)
        watch.update(MACHINE_ID, "playing", 10.0)
        watch.update(MACHINE_ID, "paused", 10.25)
        self.assertFalse(watch.due(10.7))
        self.assertTrue(watch.due(10.75))


if __name__ == "__main__":
    unittest.main()


class IdleAtStartTest(unittest.TestCase):
    def test_nothing_playing_at_start_is_idle_once_after_the_grace(self):
        from streamerbrainz.core.idle import IdleWatch
        watch = IdleWatch(10.0, idle_at_start=True, now=100.0)
        self.assertEqual(watch.deadline, 110.0)
        self.assertFalse(watch.update("p", "paused", 105.0))
        self.assertFalse(watch.due(109.9))
        self.assertTrue(watch.due(110.0))
        self.assertFalse(watch.due(200.0))

    def test_a_play_before_the_grace_is_still_active(self):
        from streamerbrainz.core.idle import IdleWatch
        watch = IdleWatch(10.0, idle_at_start=True, now=100.0)
        self.assertTrue(watch.update("p", "playing", 101.0))
        self.assertIsNone(watch.deadline)
        self.assertFalse(watch.due(111.0))

    def test_off_by_default(self):
        from streamerbrainz.core.idle import IdleWatch
        self.assertIsNone(IdleWatch(10.0, now=100.0).deadline)


class FailureHintTest(unittest.TestCase):
    """A failed hook's WARN says what to do when its output points at the sandbox."""

    def hint(self, output, status=1):
        from streamerbrainz.hooks.runners import failure_hint
        return failure_hint(status, output)

    def test_permission_and_missing_device_messages_of_real_programs(self):
        for output in ("gpioset: unable to open chip '/dev/gpiochip0': Permission denied",
                       "gpioset: error setting the GPIO line values: Operation not permitted",
                       "ALSA lib control.c:1528:(snd_ctl_open_noupdate) Invalid CTL hw:0\n"
                       "amixer: Mixer attach hw:0 error: Permission denied"):
            with self.subTest(output=output):
                self.assertIn("refused a permission", self.hint(output))
                self.assertIn("examples/systemd/gpio.conf or alsa.conf", self.hint(output))
        for output in ("gpioset: unable to open chip 'gpiochip0': No such file or directory",
                       "amixer: Mixer attach hw:0 error: No such file or directory"):
            with self.subTest(output=output):
                self.assertIn("a device the hook needs is missing", self.hint(output))

    def test_other_failures_get_no_hint(self):
        self.assertEqual(self.hint("curl: (7) Failed to connect to ha port 8123"), "")
        self.assertEqual(self.hint("sh: 1: /opt/x.sh: not found", 127), "")
        self.assertEqual(self.hint("Permission denied", 0), "")
