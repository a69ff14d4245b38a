"""End to end with the shapes real Plex servers send, and Plex over https.

The daemon runs as a subprocess beside the stand-in Plex; the tests read
its log lines, the output of its hooks and the ``players`` listing.
"""

import os
import sys
import unittest

from tests.support import webhooks
from tests.support.daemon import (MACHINE_ID, E2ECase, parse_log_line, run_cli, start_daemon,
                                  start_stub, unreachable_plex, write_token)
from tests.support.tls import TestCA
from tests.support.webhooks import fixture

ARTIST_HOOK = ["-on-change", "sh -c 'echo artist=$SB_ARTIST title=$SB_TITLE'"]


class ArtistOnVideoTest(E2ECase):

    def test_an_episode_original_title_is_neither_logged_nor_handed_as_the_artist(self):
        self.start_plex_and_daemon("sessions_episode.xml", extra_args=ARTIST_HOOK)
        fields = self.wait_state("playing")
        self.assertEqual(fields["title"], "To You, in 2000 Years: The Fall of Shiganshina, Part 1")
        self.assertEqual(fields["artist"], "Attack on Titan")
        hook = parse_log_line(self.daemon.wait_for_line("hook finished", 10)).fields
        self.assertTrue(hook["output"].startswith("artist=Attack on Titan title="), hook)
        self.assertNotIn("二千年後", self.daemon.log())

    def test_a_movie_has_no_artist(self):
        self.start_plex_and_daemon("sessions_movie.xml")
        self.assertEqual(self.wait_state("playing")["artist"], "")


class WebhookPositionTest(E2ECase):

    def test_a_stop_after_the_session_is_gone_logs_the_webhooks_position(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop_with_offset.json")
        fields = self.wait_state("stopped")
        self.assertEqual((fields["position_ms"], fields["duration_ms"]), ("187005", "259560"))

    def test_a_pause_position_beats_the_sessions_older_one(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause_with_offset.json")
        self.assertEqual(self.wait_state("paused")["position_ms"], "41234")


class WebhookOnlyTest(unittest.TestCase):

    def test_without_plex_the_webhook_says_position_and_duration(self):
        daemon = start_daemon(self, unreachable_plex(), extra_args=["-plex-timeout", "0.5"])
        status, _, body = webhooks.post_webhook(daemon.port, "payload_pause_with_offset.json")
        self.assertEqual(status, 200, body)
        line = daemon.wait_for_line("Plex state changed state=paused", 10)
        fields = parse_log_line(line).fields
        self.assertEqual((fields["position_ms"], fields["duration_ms"]), ("41234", "259560"))


class SeveralSessionsTest(E2ECase):

    def test_paused_music_stays_the_players_state_beside_a_playing_slide_show(self):
        self.start_plex_and_daemon("sessions_music_and_photos.xml")
        fields = self.wait_state("paused")
        self.assertEqual((fields["title"], fields["session_key"]), ("Once in a Lifetime", "12"))
        mark = self.daemon.mark()
        count = self.stub.count
        self.send()  # a fresh look, then the music webhook: neither picks the photos
        self.assertTrue(self.stub.wait_for_count(count + 1, 5))
        self.send("payload_pause.json")
        self.assertTrue(self.stub.wait_for_count(count + 2, 5))
        # The photos stop too; that change comes last, after any wrong one.
        self.set_sessions("sessions_empty.xml")
        self.send()
        self.wait_state("stopped", start=mark)
        self.assertEqual(self.changes(mark), [("stopped", "Once in a Lifetime")])


class HttpsTest(E2ECase):

    def setUp(self):
        self.ca = TestCA(self)

    def test_with_the_ca_file_the_daemon_follows_an_https_plex(self):
        self.start_plex_and_daemon("sessions_track.xml", tls_context=self.ca.server_context(),
                                   extra_args=["-plex-ca-file", self.ca.ca_file])
        self.assertTrue(self.stub.url.startswith("https://"))
        self.assertEqual(self.wait_state("playing")["title"], "Once in a Lifetime")

    def test_without_it_one_error_names_the_certificate_and_both_fixes(self):
        stub = start_stub(self, fixture("sessions_track.xml"),
                          tls_context=self.ca.server_context())
        daemon = start_daemon(self, stub, extra_args=["-plex-timeout", "1"])
        line = daemon.wait_for_line("[ERROR] Plex fetch failed", 10)
        error = parse_log_line(line).fields["error"]
        self.assertIn("certificate was not accepted", error)
        self.assertIn("plex.direct", error)
        self.assertIn("-plex-ca-file", error)
        self.assertNotIn("check -plex-server-url and that Plex is running", error)

    def test_players_over_https(self):
        stub = start_stub(self, fixture("sessions_track.xml"),
                          tls_context=self.ca.server_context())
        token_file = write_token(self)
        base = ["players", "-plex-server-url", stub.url, "-plex-token-file", token_file]
        proc = run_cli(base + ["-plex-ca-file", self.ca.ca_file])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(MACHINE_ID, proc.stdout)
        self.assertIn("-plex-ca-file %s" % self.ca.ca_file, proc.stdout)
        self.assertIn("  ca-file = %s\n" % self.ca.ca_file, proc.stdout)
        proc = run_cli(base)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
        self.assertIn("-plex-ca-file", proc.stderr)


class PlayersSuggestionTest(E2ECase):

    def test_the_suggested_command_is_the_one_that_ran(self):
        stub = start_stub(self, fixture("sessions_track.xml"))
        token_file = write_token(self)
        proc = run_cli(["players", "-plex-server-url", stub.url, "-plex-token-file", token_file])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        suggested = [line.strip() for line in proc.stdout.splitlines()
                     if "-plex-machine-id" in line]
        (command,) = suggested
        program = command.partition(" -plex-server-url")[0]
        self.assertIn(program, ("%s -m streamerbrainz" % os.path.basename(sys.executable),
                                "%s -m streamerbrainz" % sys.executable))
        self.assertIn("  [plex]\n  server-url = %s\n  machine-id = %s\n"
                      % (stub.url, MACHINE_ID), proc.stdout)


class TokenFileTest(unittest.TestCase):

    def test_a_notepad_token_file_works_and_a_short_token_is_refused(self):
        stub = start_stub(self, fixture("sessions_track.xml"))
        token_file = write_token(self)
        with open(token_file, "wb") as handle:
            handle.write(b"\xef\xbb\xbf" + stub.token.encode() + b"\r\n")
        base = ["players", "-plex-server-url", stub.url, "-plex-token-file", token_file]
        self.assertEqual(run_cli(base).returncode, 0)
        with open(token_file, "w") as handle:
            handle.write("x\n")
        proc = run_cli(base)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("too few for a Plex token", proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)


class IdleAtStartTest(E2ECase):

    def test_nothing_playing_at_start_runs_on_idle_once_after_the_grace(self):
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=[
            "-idle-at-start", "-idle-after", "0.3", "-on-idle", "sh -c 'echo amp off'"])
        self.daemon.wait_for_line("players idle", 10)
        hook = parse_log_line(self.daemon.wait_for_line("hook finished", 10)).fields
        self.assertEqual((hook["hook"], hook["output"]), ("on-idle", "amp off"))

    def test_a_play_before_the_grace_runs_on_active_and_no_idle(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=[
            "-idle-at-start", "-idle-after", "30", "-on-active", "sh -c 'echo amp on'",
            "-on-idle", "sh -c 'echo amp off'"])
        hook = parse_log_line(self.daemon.wait_for_line("hook finished", 10)).fields
        self.assertEqual((hook["hook"], hook["output"]), ("on-active", "amp on"))
        self.assertEqual(self.daemon.count("players idle"), 0)


if __name__ == "__main__":
    unittest.main()
