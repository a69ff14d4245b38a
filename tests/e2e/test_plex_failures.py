"""End to end: Plex misbehaves (5xx, 401, bad XML, hangs, is gone) and the
daemon says so once, keeps answering webhooks, and recovers."""

import json
import re
import signal
import time
import unittest

from tests.support import webhooks
from tests.support.daemon import E2ECase, parse_log_line, start_daemon, unreachable_plex

TITLE = "Once in a Lifetime"
WARN_FAILED = re.compile(r"\[WARN\] Plex fetch failed")


class PlexFailureTests(E2ECase):

    def start_playing(self, extra_args=("-plex-timeout", "1")):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=extra_args)
        self.wait_state("playing")
        return self.stub.count

    def recover(self, mark):
        """Plex is healthy again: the next webhook works and the log says so."""
        self.stub.set_fault(None)
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.daemon.wait_for_line("Plex reachable again", start=mark, timeout=10)
        paused = self.wait_state("paused", timeout=10)
        self.assertEqual(paused["title"], TITLE)
        self.assertEqual(paused["position_ms"], "30496")
        self.assertTrue(self.daemon.running())

    def failure_lines(self, start=0):
        return [line for line in self.daemon.lines()[start:] if "Plex fetch failed" in line
                and parse_log_line(line).level in ("WARN", "ERROR")]

    def test_500_is_retried_then_warned_once_and_recovers(self):
        base = self.start_playing()
        mark = self.daemon.mark()
        self.stub.set_fault("500")
        self.send(None)
        line = self.daemon.wait_for_line(WARN_FAILED, start=mark, timeout=10)
        self.assertEqual(parse_log_line(line).level, "WARN", line)
        self.assertIn("500", line)
        self.assertGreaterEqual(self.stub.count - base, 2, "a 500 is worth a retry")
        self.assertEqual(len(self.failure_lines(mark)), 1, self.daemon.log())
        self.recover(mark)
        self.assertEqual(len(self.failure_lines(mark)), 1, self.daemon.log())
        self.assertEqual(self.stub.max_in_flight, 1)

    def test_one_transient_500_is_retried_without_a_warning(self):
        self.start_plex_and_daemon("sessions_empty.xml")
        self.stub.fail_next(1, "500")
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        playing = self.wait_state("playing", timeout=10)
        self.assertEqual(playing["title"], TITLE)
        self.assertEqual(self.stub.count, 3)  # start, the 500, the retry
        self.assertEqual(self.failure_lines(), [], self.daemon.log())
        self.assertEqual(self.daemon.count("[WARN]"), 0, self.daemon.log())

    def test_401_is_one_error_line_and_one_request(self):
        base = self.start_playing()
        mark = self.daemon.mark()
        self.stub.set_fault("401")
        self.send(None)
        line = self.daemon.wait_for_line("Plex rejected the token (401)", start=mark)
        self.assertEqual(parse_log_line(line).level, "ERROR", line)
        # Retries, if any, would have happened before the line: exactly one request.
        self.assertEqual(self.stub.count, base + 1)
        self.assertNotIn(self.daemon.token, line)
        # More webhooks are still answered, and cause no storm of rejected requests.
        for _ in range(5):
            self.send("payload_play.json")
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(3), 0)
        self.assertLessEqual(self.stub.count, base + 1 + 5)
        self.assertEqual(self.daemon.count(re.compile(r"\[ERROR\] Plex rejected the token"),
                                           mark), 1, self.daemon.log())

    def test_after_a_401_the_next_webhook_asks_plex_again(self):
        # DESIGN 6: any failure of one fetch is one log line; the next webhook tries again.
        base = self.start_playing()
        mark = self.daemon.mark()
        self.stub.fail_next(1, "401")
        self.send(None)
        self.daemon.wait_for_line("Plex rejected the token (401)", start=mark)
        self.assertEqual(self.stub.count, base + 1)
        self.recover(mark)
        self.assertEqual(self.stub.count, base + 2)

    def test_after_a_401_sighup_rereads_the_token_file(self):
        # The ERROR line tells the user to fix the token file and send SIGHUP.
        self.start_plex_and_daemon("sessions_track.xml", token="old-token-Pq3Rr8",
                                   stub_token="new-token-Lm5Nn2")
        line = self.daemon.wait_for_line("Plex rejected the token (401)")
        self.assertEqual(parse_log_line(line).level, "ERROR", line)
        self.assertEqual(self.stub.count, 1)
        with open(self.daemon.token_file, "w") as out:
            out.write("new-token-Lm5Nn2\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.daemon.wait_for_line("Plex reachable again", timeout=10)
        playing = self.wait_state("playing")
        self.assertEqual(playing["title"], TITLE)
        self.assertTrue(self.daemon.running())
        self.addCleanup(self.assert_not_logged, "new-token-Lm5Nn2")

    def assert_not_logged(self, secret):
        for line in self.daemon.lines() + self.daemon.stdout_lines():
            self.assertNotIn(secret, line)
        for request in self.stub.all_requests():
            self.assertNotIn(secret, request.raw_path)

    def test_wrong_token_at_start_is_one_error_and_never_logged(self):
        self.start_plex_and_daemon("sessions_track.xml", token="wrong-token-1xY7Qa")
        line = self.daemon.wait_for_line("Plex rejected the token (401)")
        self.assertEqual(parse_log_line(line).level, "ERROR", line)
        self.assertEqual(self.stub.count, 1)
        self.send("payload_play.json")
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(3), 0)
        self.assertLessEqual(self.stub.count, 2)
        # The rejected token went only in the header, never in a URL or a line.
        for request in self.stub.all_requests():
            self.assertEqual(request.headers.get("X-Plex-Token"), "wrong-token-1xY7Qa")
            self.assertNotIn("wrong-token-1xY7Qa", request.raw_path)

    def test_malformed_xml_is_warned_and_recovers(self):
        base = self.start_playing()
        mark = self.daemon.mark()
        self.stub.set_fault("malformed")
        self.send(None)
        line = self.daemon.wait_for_line(WARN_FAILED, start=mark, timeout=10)
        self.assertEqual(parse_log_line(line).level, "WARN", line)
        self.assertGreaterEqual(self.stub.count, base + 1)
        self.recover(mark)
        self.assertNotIn("Traceback", self.daemon.log())

    def test_hung_plex_times_out_and_webhooks_are_still_answered(self):
        base = self.start_playing()
        mark = self.daemon.mark()
        self.stub.set_fault("hang")
        self.send(None)
        self.assertTrue(self.stub.wait_for_count(base + 1, 5))
        # While the fetch hangs, webhooks are still answered at once.
        started = time.monotonic()
        for _ in range(3):
            status, headers, body = webhooks.post_webhook(self.daemon.port, "payload_play.json",
                                                          timeout=2)
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body.decode())["status"], "queued")
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertGreaterEqual(self.stub.in_flight, 1, "the fetch should still hang")
        line = self.daemon.wait_for_line(WARN_FAILED, start=mark, timeout=10)
        self.assertEqual(parse_log_line(line).level, "WARN", line)
        self.recover(mark)

    def test_connection_dropped_without_answer_is_warned_and_recovers(self):
        base = self.start_playing()
        mark = self.daemon.mark()
        self.stub.set_fault("close")
        self.send(None)
        line = self.daemon.wait_for_line(WARN_FAILED, start=mark, timeout=10)
        self.assertEqual(parse_log_line(line).level, "WARN", line)
        self.assertGreaterEqual(self.stub.count - base, 2, "a dropped connection is retried")
        self.recover(mark)


class PlexUnreachableTests(unittest.TestCase):

    def test_nothing_listening_is_one_warning_and_webhooks_still_answered(self):
        daemon = start_daemon(self, unreachable_plex(), extra_args=["-plex-timeout", "1"])
        line = daemon.wait_for_line("[WARN]", timeout=10)
        record = parse_log_line(line)
        self.assertIn("Plex", record.message)
        self.assertRegex(record.fields.get("error", ""), r"(?i)refused|reach|connect")
        status, _, body = webhooks.post_webhook(daemon.port, "payload_play.json")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body.decode())["status"], "queued")
        status, _, body = webhooks.get(daemon.port, "/healthz")
        self.assertEqual(status, 200)
        self.assertTrue(daemon.running())
        # The same failure again is not a second warning.
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        self.assertEqual(daemon.count("[WARN]"), 1, daemon.log())


if __name__ == "__main__":
    unittest.main()
