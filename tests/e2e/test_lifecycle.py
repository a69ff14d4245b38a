"""End to end: starting, stopping, signals, exit codes and configuration errors."""

import json
import os
import re
import signal
import socket
import tempfile
import time
import unittest

from tests.support import webhooks
from tests.support.daemon import (MACHINE_ID, Daemon, E2ECase, assert_token_secret, free_port,
                                  parse_log_line, run_cli, start_daemon, start_stub, wait_for,
                                  write_token)
from tests.support.sources import start_notifying_stub, start_plexamp

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? \[")
FLAGS = ("webhooks-port", "webhooks-bind", "plex-server-url", "plex-token-file",
         "plex-machine-id", "plex-timeout", "log-level", "version")


class ShutdownTests(E2ECase):

    def assert_clean_exit_within(self, daemon, seconds, sig=signal.SIGTERM):
        started = time.monotonic()
        daemon.send_signal(sig)
        rc = daemon.wait_exit(seconds)
        elapsed = time.monotonic() - started
        self.assertEqual(rc, 0, daemon.log())
        self.assertLess(elapsed, seconds)
        lines = [line for line in daemon.lines() if line.strip()]
        self.assertIn("stopped", lines[-1], daemon.log())
        for line in lines:
            self.assertNotIn("Traceback", line)
            self.assertIsNotNone(parse_log_line(line), "not a log line: %r" % line)

    def test_sigterm_when_idle_exits_0_within_2s(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        self.assert_clean_exit_within(self.daemon, 2.0)

    def test_sigterm_while_a_fetch_hangs_exits_0_within_2s(self):
        # The default -plex-timeout (5 s) outlasts the two seconds allowed.
        self.start_plex_and_daemon("sessions_empty.xml")
        self.stub.set_fault("hang")
        self.send("payload_play.json")
        self.assertTrue(self.stub.wait_for_count(2, 5))
        self.assertEqual(self.stub.in_flight, 1)
        self.assert_clean_exit_within(self.daemon, 2.0)

    def test_sigint_exits_0_within_2s(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        self.assert_clean_exit_within(self.daemon, 2.0, signal.SIGINT)

    def test_sigterm_without_plex_exits_0(self):
        daemon = start_daemon(self)
        self.assertEqual(webhooks.get(daemon.port, "/healthz")[0], 200)
        self.assert_clean_exit_within(daemon, 2.0)

    def test_sigterm_with_an_idle_connection_open_exits_0(self):
        self.start_plex_and_daemon("sessions_empty.xml")
        idle = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)
        self.addCleanup(idle.close)
        half = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)
        self.addCleanup(half.close)
        half.sendall(b"POST /webhooks/plex HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        self.assertEqual(webhooks.get(self.daemon.port, "/healthz")[0], 200)
        self.assert_clean_exit_within(self.daemon, 2.0)


class BusyShutdownTests(E2ECase):
    """Every part configured and each one stuck at once: still out within 2 s."""

    def test_sigterm_with_every_part_stuck_exits_0_within_2s(self):
        # A notification endpoint that takes the connection and never answers.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        notify_url = "http://127.0.0.1:%d/hook" % silent.getsockname()[1]
        stub = start_notifying_stub(self, webhooks.fixture("sessions_track.xml"), hold_streams=True)
        amp = start_plexamp(self, hold=30.0)
        daemon = start_daemon(self, stub, extra_args=[
            "-plex-notifications", "-plexamp-url", amp.url, "-plex-poll-interval", "60",
            "-on-play", "sleep 30", "-notify-url", notify_url])
        daemon.wait_for_line("Plex state changed", timeout=5)
        daemon.wait_for_line("hook started", timeout=5)
        self.assertTrue(wait_for(lambda: stub.stream_requests(), 5))  # held: never answered
        self.assertTrue(amp.wait_for_polls(1, 5))
        stub.set_fault("hang")
        webhooks.post_webhook(daemon.port, "payload_play.json")
        self.assertTrue(wait_for(lambda: stub.in_flight >= 1, 5))
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait_exit(5)
        elapsed = time.monotonic() - started
        self.assertEqual(rc, 0, daemon.log())
        self.assertLess(elapsed, 2.0, daemon.log())
        self.assertEqual(daemon.count("did not stop in time"), 0, daemon.log())
        self.assertIn("stopped", [line for line in daemon.lines() if line.strip()][-1], daemon.log())


class StartupTests(E2ECase):

    def test_start_lines_name_port_server_and_player(self):
        self.start_plex_and_daemon("sessions_empty.xml")
        listening = parse_log_line(self.daemon.wait_for_line("webhooks server listening"))
        self.assertEqual(listening.level, "INFO")
        self.assertEqual(listening.fields["addr"], "127.0.0.1")
        self.assertEqual(listening.fields["port"], str(self.daemon.port))
        enabled = parse_log_line(self.daemon.wait_for_line("Plex webhook enabled"))
        self.assertEqual(enabled.level, "INFO")
        self.assertEqual(enabled.fields["server"], self.stub.url)
        self.assertEqual(enabled.fields["machine_id"], MACHINE_ID)
        self.assertEqual(enabled.fields["endpoint"], "/webhooks/plex")
        first = self.daemon.lines()[:2]
        self.assertIn("webhooks server listening", first[0])
        self.assertIn("Plex webhook enabled", first[1])

    def test_timestamps_lead_every_line_by_default(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        for line in self.daemon.lines():
            self.assertRegex(line, TIMESTAMP)

    def test_journal_stream_drops_the_timestamp(self):
        self.start_plex_and_daemon("sessions_track.xml", env={"JOURNAL_STREAM": "8:123456"})
        self.wait_state("playing")
        for line in self.daemon.lines():
            self.assertRegex(line, r"^\[(DEBUG|INFO|WARN|ERROR)\] ")
        self.assertTrue(self.daemon.lines()[0].startswith("[INFO] webhooks server listening"))

    def test_port_zero_logs_the_port_it_picked(self):
        daemon = start_daemon(self, extra_args=["-webhooks-port", "0"], wait_ready=False)
        line = daemon.wait_for_line("webhooks server listening", timeout=10)
        port = int(parse_log_line(line).fields["port"])
        self.assertGreater(port, 0)
        status, _, body = webhooks.get(port, "/healthz")
        self.assertEqual(status, 200)
        self.assertIs(json.loads(body.decode())["plex_enabled"], False)

    def test_double_dash_equals_and_environment_spellings(self):
        port = free_port()
        token_file = write_token(self)
        stub = start_stub(self)
        args = ["--webhooks-port=%d" % port, "-webhooks-bind=127.0.0.1",
                "--plex-token-file", token_file, "-plex-machine-id=" + MACHINE_ID]
        daemon = Daemon(args, env={"STREAMERBRAINZ_PLEX_SERVER_URL": stub.url,
                                   "STREAMERBRAINZ_LOG_LEVEL": "debug",
                                   "STREAMERBRAINZ_WEBHOOKS_PORT": "1"})
        daemon.token = stub.token
        self.addCleanup(assert_token_secret, self, daemon, stub)
        self.addCleanup(daemon.stop)
        line = daemon.wait_for_line("webhooks server listening", timeout=10)
        self.assertEqual(parse_log_line(line).fields["port"], str(port))  # the command line wins
        enabled = parse_log_line(daemon.wait_for_line("Plex webhook enabled"))
        self.assertEqual(enabled.fields["server"], stub.url)
        self.assertTrue(stub.wait_for_count(1, 5))
        # -log-level came from the environment: a request shows DEBUG lines.
        self.assertEqual(webhooks.post(port)[0], 200)
        daemon.wait_for_line("[DEBUG]")

    def test_without_plex_webhooks_are_acknowledged(self):
        daemon = start_daemon(self)
        status, headers, body = webhooks.post_webhook(daemon.port, "payload_play.json", True)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-type", "").split(";")[0], "application/json")
        _, _, body = webhooks.get(daemon.port, "/healthz")
        self.assertIs(json.loads(body.decode())["plex_enabled"], False)
        self.assertEqual(daemon.count("Plex state changed"), 0)


class CommandLineTests(unittest.TestCase):

    def assert_usage_error(self, args, flag, env=None, also=()):
        result = run_cli(args, env=env)
        lines = result.stderr.splitlines()
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(len(lines), 1, "expected exactly one line:\n" + result.stderr)
        self.assertTrue(lines[0].startswith("streamerbrainz: "), lines[0])
        self.assertIn(flag, lines[0])
        for text in also:
            self.assertIn(text, lines[0])
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(result.stdout, "")
        return lines[0]

    def test_config_errors_exit_2_with_one_line_naming_the_flag(self):
        token_file = write_token(self)
        url = "http://127.0.0.1:%d" % free_port()
        cases = [
            (["-plex-server-url", url, "-plex-token-file", "/nonexistent"], "-plex-token-file",
             ("/nonexistent", "no such file")),
            (["-webhooks-port", "abc"], "-webhooks-port", ("abc", "whole number")),
            (["-webhooks-port", "70000"], "-webhooks-port", ()),
            (["-bogus-flag", "1"], "-bogus-flag", ()),
            (["-plex-server-url", url], "-plex-token-file", ()),
            (["-log-level", "loud"], "-log-level", ("loud",)),
            (["-plex-server-url", url + "/?X-Plex-Token=sekrit-Tk4", "-plex-token-file",
              token_file], "-plex-server-url", ()),
            (["-plex-server-url", "plex.home.arpa:32400", "-plex-token-file", token_file],
             "-plex-server-url", ()),
            (["-webhooks-bind", "not-an-address"], "-webhooks-bind", ()),
            (["-plex-timeout", "soon"], "-plex-timeout", ()),
            (["-webhooks-port"], "-webhooks-port", ()),
        ]
        for args, flag, also in cases:
            with self.subTest(args=args):
                line = self.assert_usage_error(args, flag, also=also)
                self.assertNotIn("sekrit-Tk4", line)

    def test_config_error_from_the_environment_names_the_flag(self):
        self.assert_usage_error([], "-webhooks-port", env={"STREAMERBRAINZ_WEBHOOKS_PORT": "abc"})

    def test_empty_token_file_is_a_config_error(self):
        handle, path = tempfile.mkstemp(prefix="sbz-empty-")
        os.close(handle)
        self.addCleanup(os.unlink, path)
        self.assert_usage_error(["-plex-server-url", "http://127.0.0.1:32400",
                                 "-plex-token-file", path], "-plex-token-file", also=(path,))

    def test_config_errors_bind_nothing(self):
        port = free_port()
        self.assert_usage_error(["-webhooks-port", str(port), "-webhooks-bind", "127.0.0.1",
                                 "-log-level", "loud"], "-log-level")
        # Nothing was left listening on the port.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))

    def test_port_in_use_exits_1_with_one_line(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        daemon = Daemon(["-webhooks-port", str(port), "-webhooks-bind", "127.0.0.1"])
        self.addCleanup(daemon.stop)
        self.assertEqual(daemon.wait_exit(10), 1, daemon.log())
        lines = [line for line in daemon.lines() if line.strip()]
        self.assertEqual(len(lines), 1, daemon.log())
        self.assertIn("cannot listen on 127.0.0.1:%d" % port, lines[0])
        self.assertNotIn("Traceback", daemon.log())

    def test_version(self):
        for spelling in ("-version", "--version"):
            with self.subTest(spelling=spelling):
                result = run_cli([spelling])
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertRegex(result.stdout.strip(), r"^streamerbrainz \d+\.\d+\.\d+\S*$")
                self.assertEqual(result.stderr, "")

    def test_help_lists_every_flag(self):
        for spelling in ("-help", "--help", "-h"):
            with self.subTest(spelling=spelling):
                result = run_cli([spelling])
                self.assertEqual(result.returncode, 0, result.stderr)
                for flag in FLAGS:
                    self.assertRegex(result.stdout, r"(?m)^\s*--?%s\b" % re.escape(flag))
                self.assertIn("players", result.stdout)


if __name__ == "__main__":
    unittest.main()
