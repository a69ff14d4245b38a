"""Hostile input to the command line: numbers, URLs, files that are not files, output.

Each case runs the real command and checks what a user sees: one line on
stderr, no traceback, and the documented exit status (2 for a usage error,
1 for a runtime failure).
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from tests.support import webhooks
from tests.support.daemon import (REPO_ROOT, clean_env, run_cli, start_daemon, start_stub,
                                  state_pattern, write_token)
from tests.support.httpstub import StubServer, start_server
from tests.support.webhooks import fixture

NOT_NUMBERS = ("nan", "inf", "-inf", "1e10", "3_001", "\u0663\u0660\u0660\u0661")


class CliCase(unittest.TestCase):

    def assert_one_line(self, result, status, text):
        lines = result.stderr.strip().splitlines()
        self.assertEqual(result.returncode, status, result.stderr)
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(text, lines[0])
        self.assertNotIn("Traceback", result.stderr)

    def fifo(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, directory)
        path = os.path.join(directory, "token")
        os.mkfifo(path)
        self.addCleanup(os.unlink, path)
        return path


class NumberAndUrlTests(CliCase):

    def test_numbers_that_are_not_numbers_are_usage_errors(self):
        for flag in ("-plex-poll-interval", "-plex-timeout", "-webhooks-port"):
            for value in NOT_NUMBERS:
                with self.subTest(flag=flag, value=value):
                    result = run_cli([flag, value])
                    self.assert_one_line(result, 2, flag + " " + value)

    def test_a_url_that_does_not_parse_is_a_usage_error(self):
        for args in (["-plex-server-url", "http://[::1"], ["-plexamp-url", "http://[::1"],
                     ["-plex-server-url", "http://plex:99999"], ["status", "-url", "http://[::1"]):
            with self.subTest(args=args):
                self.assert_one_line(run_cli(args), 2, args[-1])


class FileTests(CliCase):

    def test_a_token_file_that_is_a_fifo_is_refused_at_once(self):
        path = self.fifo()
        result = run_cli(["-plex-server-url", "http://127.0.0.1:1", "-plex-token-file", path],
                         timeout=10)
        self.assert_one_line(result, 2, "-plex-token-file %s: not a regular file" % path)

    def test_sighup_with_a_fifo_keeps_the_token_and_sigterm_still_stops(self):
        stub = start_stub(self)
        daemon = start_daemon(self, stub)
        os.unlink(daemon.token_file)
        os.mkfifo(daemon.token_file)
        mark = daemon.mark()
        daemon.send_signal(signal.SIGHUP)
        line = daemon.wait_for_line("SIGHUP: keeping the current value", start=mark)
        self.assertIn("not a regular file", line)
        # The old token still works: a webhook leads to a fetch Plex accepts.
        stub.set_sessions(fixture("sessions_track.xml"))
        status, _, body = webhooks.post_webhook(daemon.port, "payload_play.json")
        self.assertEqual(status, 200, body)
        daemon.wait_for_line(state_pattern("playing"), start=mark)
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)


class OutputTests(CliCase):

    def serve(self, body, content_type="text/html"):
        """A stand-in at -url answering every GET with ``body``."""
        def respond(handler, request):
            handler.send_body(200, body, content_type)
        return start_server(self, StubServer(respond)).url

    def test_status_against_an_answer_that_is_not_the_state_is_one_line(self):
        for body, text in ((b"<html>hello</html>", "did not answer JSON"),
                           (b"[1, 2]", "not a JSON object"),
                           (b'{"players": [{"player": 5}]}', "players[0].player is not text"),
                           (b"\xff\xfe", "did not answer UTF-8")):
            with self.subTest(body=body):
                url = self.serve(body)
                self.assert_one_line(run_cli(["status", "-url", url]), 1, text)

    def test_players_writing_to_a_full_disk_is_one_line(self):
        stub = start_stub(self)
        token = write_token(self)
        with open("/dev/full", "w") as full:
            result = subprocess.run(
                [sys.executable, "-m", "streamerbrainz", "players", "-plex-server-url",
                 stub.url, "-plex-token-file", token], cwd=REPO_ROOT, env=clean_env(),
                stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, timeout=15,
                universal_newlines=True)
        self.assert_one_line(result, 1, "cannot write the output: No space left on device")

    def players(self, stdout, shell_prefix=()):
        stub = start_stub(self, fixture("sessions_track.xml"))
        args = [sys.executable, "-m", "streamerbrainz", "players", "-plex-server-url",
                stub.url, "-plex-token-file", write_token(self)]
        return subprocess.run(list(shell_prefix) + args, cwd=REPO_ROOT, env=clean_env(),
                              stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                              timeout=15, universal_newlines=True)

    def test_status_writing_to_a_full_disk_is_one_line(self):
        url = self.serve(b'{"players": [{"player": "Office", "state": "playing"}]}',
                         "application/json")
        with open("/dev/full", "w") as full:
            result = subprocess.run(
                [sys.executable, "-m", "streamerbrainz", "status", "-url", url], cwd=REPO_ROOT,
                env=clean_env(), stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE,
                timeout=15, universal_newlines=True)
        self.assert_one_line(result, 1, "cannot write the output: No space left on device")

    def test_players_to_a_pipe_nobody_reads_ends_quietly(self):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written
        try:
            result = self.players(write_end)
        finally:
            os.close(write_end)
        self.assertEqual((result.returncode, result.stderr), (1, ""))

    def test_players_with_standard_output_closed_is_one_line(self):
        result = self.players(None, ("sh", "-c", 'exec "$@" >&-', "sh"))
        self.assert_one_line(result, 1, "cannot write the output: ")

    def test_status_against_an_answer_that_is_not_http_is_one_line(self):
        server = socket.socket()
        self.addCleanup(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(10)

        def answer():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        url = "http://127.0.0.1:%d" % server.getsockname()[1]
        self.assert_one_line(run_cli(["status", "-url", url]), 1, url)


class EnvironmentTests(CliCase):

    def test_an_unknown_variable_is_one_warning_naming_the_closest_flag(self):
        stub = start_stub(self)
        daemon = start_daemon(self, stub, env={"STREAMERBRAINZ_PLEX_MACHINE_IDS": "abc"})
        line = daemon.wait_for_line("unknown environment variable ignored")
        self.assertIn("variable=STREAMERBRAINZ_PLEX_MACHINE_IDS", line)
        self.assertIn("closest=STREAMERBRAINZ_PLEX_MACHINE_ID", line)
        self.assertNotIn("abc", line)
        self.assertEqual(daemon.count("unknown environment variable"), 1)


if __name__ == "__main__":
    unittest.main()
