"""The memory in -state-dir: a restart that forgets nothing, and a database never damaged.

The real daemon beside the stand-in Plex, stopped and started again on
the same directory: a player that played and still plays is no change (no
hook, no state line), one that stopped meanwhile is one ``stopped``
change; plays are rows; a second daemon on the same directory refuses to
start; a file that is no database is one ERROR line and the daemon runs
on without history, and so is a directory it may not write and a disk
that fills; SIGKILL during a burst leaves a database that ``PRAGMA
integrity_check`` calls ok. What played reads back over HTTP and with
``streamerbrainz history`` while the daemon runs.
"""

import json
import os
import signal
import sqlite3
import sys
import tempfile
import unittest

from tests.support import webhooks
from tests.support.camilladsp import StandInCamillaDSP
from tests.support.daemon import E2ECase, run_cli, start_daemon, wait_for
from tests.support.webhooks import fixture

DB = "streamerbrainz.sqlite3"

# Launchers that start the daemon (the arguments after them) with less: files no larger
# than argv[1] bytes (a full disk: SQLite's writes fail with EFBIG, "disk is full"), or
# without the capabilities that let root write where the mode says no (a read-only disk).
FILE_SIZE_LIMIT = ("import os, resource, sys\n"
                   "limit = int(sys.argv[1])\n"
                   "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
                   "os.execv(sys.executable, [sys.executable, '-m', 'streamerbrainz'] "
                   "+ sys.argv[2:])\n")
NO_DAC_OVERRIDE = ("import ctypes, os, sys\n"
                   "libc = ctypes.CDLL(None, use_errno=True)\n"
                   "for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
                   "    if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP\n"
                   "        sys.exit('cannot drop capability %d' % capability)\n"
                   "os.execv(sys.executable, [sys.executable, '-m', 'streamerbrainz'] "
                   "+ sys.argv[1:])\n")


class HistoryCase(E2ECase):

    def setUp(self):
        self.state_dir = tempfile.mkdtemp(prefix="sb-history-")
        self.hook_log = os.path.join(self.state_dir, "hooks.log")
        hook = os.path.join(self.state_dir, "hook.sh")
        with open(hook, "w") as handle:
            handle.write('#!/bin/sh\necho "$SB_EVENT $SB_STATE" >> %s\n' % self.hook_log)
        os.chmod(hook, 0o700)
        self.flags = ["-state-dir", self.state_dir, "-on-change", hook]

    def restart(self, *more):
        """Stop the daemon (SIGTERM), then start another on the same stand-in and directory."""
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(5), 0, self.daemon.log())
        self.daemon = start_daemon(self, self.stub, extra_args=self.flags + list(more))
        return self.daemon

    def hooks(self):
        if not os.path.exists(self.hook_log):
            return []
        with open(self.hook_log) as handle:
            return handle.read().split("\n")[:-1]

    def query(self, sql):
        connection = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.state_dir, DB),
                                     uri=True)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def health(self):
        status, _, body = webhooks.request(self.daemon.port, "GET", "/healthz")
        self.assertEqual(status, 200)
        return json.loads(body.decode())


class RestartTests(HistoryCase):

    def test_a_player_that_still_plays_after_a_restart_is_no_change(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        self.assertTrue(wait_for(lambda: self.hooks() == ["play playing"], 5), self.hooks())
        self.restart()
        for payload in (None, "payload_resume.json"):  # fresh looks: the same track plays
            mark = self.daemon.mark()
            self.send(payload)
            self.daemon.wait_for_line("Plex session found", start=mark)
        self.assertEqual(self.daemon.count("Plex state changed"), 0, self.daemon.log())
        self.assertEqual(self.hooks(), ["play playing"])
        player = self.health()["history"]
        self.assertTrue(player["enabled"], player)

    def test_a_player_that_stopped_while_the_daemon_was_down_is_one_stopped_change(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        # the play hook has run before the stop: a stop drops the hooks still waiting
        self.assertTrue(wait_for(lambda: self.hooks() == ["play playing"], 5), self.hooks())
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(5), 0)
        self.set_sessions("sessions_empty.xml")
        self.daemon = start_daemon(self, self.stub, extra_args=self.flags)
        stopped = self.wait_state("stopped")
        self.assertEqual(stopped["title"], "Once in a Lifetime")
        self.assertEqual(self.daemon.count("Plex state changed"), 1, self.daemon.log())
        self.assertTrue(wait_for(lambda: self.hooks() == ["play playing", "stop stopped"], 5),
                        self.hooks())
        rows = self.query("SELECT title, ended_by FROM plays ORDER BY id")
        self.assertEqual(rows, [("Once in a Lifetime", "stop")])

    def test_a_pause_then_a_stop_are_one_play_row_with_its_listened_time(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop.json")
        self.wait_state("stopped")
        self.assertTrue(wait_for(lambda: self.query(
            "SELECT count(*) FROM plays WHERE ended_at IS NOT NULL") == [(1,)], 5))
        (row,) = self.query("SELECT title, artist, player, source, ended_by, counted, "
                            "listened_ms >= 0 FROM plays")
        self.assertEqual(row, ("Once in a Lifetime", "Talking Heads", "Office", "plex", "stop",
                               0, 1))


class CamillaDSPTests(HistoryCase):

    def test_a_daemon_killed_while_muted_gives_the_volume_back_on_the_next_play(self):
        dsp = StandInCamillaDSP(volume=-23.0).start()
        self.addCleanup(dsp.stop)
        self.flags += ["-camilladsp-url", dsp.url, "-camilladsp-pause", "mute",
                       "-camilladsp-fade-in-ms", "0"]
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.assertTrue(dsp.wait_for(lambda d: d.mute(), 5), self.daemon.log())
        self.assertTrue(wait_for(lambda: "true" in str(self.query(
            "SELECT value FROM volume WHERE name = 'camilladsp'")), 5))
        self.daemon.send_signal(signal.SIGKILL)  # no restore at shutdown: it is killed
        self.daemon.wait_exit(5)
        self.assertTrue(dsp.mute())
        self.daemon = start_daemon(self, self.stub, extra_args=self.flags)
        self.daemon.wait_for_line("CamillaDSP connected", timeout=5)
        self.set_sessions("sessions_track.xml")
        self.send("payload_resume.json")
        self.wait_state("playing")
        self.assertTrue(dsp.wait_for(lambda d: not d.mute() and d.volume() == -23.0, 5),
                        self.daemon.log())


class ReadBackTests(HistoryCase):

    def play_pause_stop(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop.json")
        self.wait_state("stopped")
        self.assertTrue(wait_for(lambda: self.query(
            "SELECT count(*) FROM plays WHERE ended_at IS NOT NULL") == [(1,)], 5))

    def get(self, path):
        status, _, body = webhooks.request(self.daemon.port, "GET", path)
        return status, json.loads(body.decode())

    def test_get_history_and_its_stats_while_the_daemon_runs(self):
        self.play_pause_stop()
        status, page = self.get("/history?limit=10")
        self.assertEqual(status, 200, page)
        (play,) = page["plays"]
        self.assertEqual((play["title"], play["artist"], play["player"], play["ended_by"],
                          page["next"]), ("Once in a Lifetime", "Talking Heads", "Office",
                                          "stop", None))
        status, stats = self.get("/history/stats?since=1d")
        self.assertEqual(status, 200, stats)
        self.assertEqual(stats["totals"]["plays"], 1)
        self.assertEqual([artist["artist"] for artist in stats["artists"]], ["Talking Heads"])
        status, refused = self.get("/history?limit=lots")
        self.assertEqual(status, 400)
        self.assertEqual(refused, {"error": "limit: 'lots'; give a number from 1 to 1000"})

    def test_the_history_command_reads_beside_the_running_daemon(self):
        self.play_pause_stop()
        listing = run_cli(["history", "-state-dir", self.state_dir])
        self.assertEqual((listing.returncode, listing.stderr), (0, ""))
        lines = listing.stdout.splitlines()
        self.assertEqual(len(lines), 2, listing.stdout)
        self.assertIn("Talking Heads  Once in a Lifetime", lines[1])
        self.assertTrue(lines[1].rstrip().endswith("no      stop"), lines[1])
        exported = run_cli(["history", "-state-dir", self.state_dir, "-export",
                            "listenbrainz"])
        self.assertEqual(json.loads(exported.stdout), [])  # seconds heard: no listen
        self.assertTrue(self.daemon.running())
        self.send("payload_play.json")  # and the daemon still writes
        self.assertEqual(self.daemon.count("[ERROR]"), 0, self.daemon.log())


class FaultTests(HistoryCase):

    def test_a_second_daemon_on_the_same_directory_refuses_to_start(self):
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=self.flags)
        second = start_daemon(self, self.stub, extra_args=self.flags, wait_ready=False)
        self.assertEqual(second.wait_exit(10), 1)
        self.assertEqual(second.lines()[-1], "streamerbrainz: %s: another StreamerBrainz uses "
                         "it; give each daemon its own -state-dir"
                         % os.path.join(self.state_dir, DB))
        self.assertTrue(self.daemon.running())

    def test_a_file_that_is_no_database_is_one_error_and_the_daemon_runs_on(self):
        with open(os.path.join(self.state_dir, DB), "wb") as handle:
            handle.write(b"not a database\n" * 200)
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        errors = self.daemon.matching("[ERROR]")
        self.assertEqual(len(errors), 1, self.daemon.log())
        self.assertIn("history off: the daemon runs without it", errors[0])
        self.assertIn("not a StreamerBrainz database", errors[0])
        history = self.health()["history"]
        self.assertEqual(history["enabled"], False)
        self.assertIn("not a StreamerBrainz database", history["error"])

    def test_a_directory_it_may_not_write_is_one_error_and_the_daemon_runs_on(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(5), 0)
        for name in os.listdir(self.state_dir):  # the card remounted read-only, as it were
            os.chmod(os.path.join(self.state_dir, name), 0o444)
        os.chmod(self.state_dir, 0o555)
        self.addCleanup(os.chmod, self.state_dir, 0o755)
        command = None
        if os.geteuid() == 0:  # root writes anyway, unless it cannot override the mode
            command = [sys.executable, "-c", NO_DAC_OVERRIDE]
        self.daemon = start_daemon(self, self.stub, extra_args=self.flags, command=command)
        self.send("payload_pause.json")
        self.daemon.wait_for_line("Plex session found")
        errors = self.daemon.matching("[ERROR]")
        self.assertEqual(len(errors), 1, self.daemon.log())
        self.assertIn("history off: the daemon runs without it", errors[0])
        self.assertIn("cannot write (Permission denied); check -state-dir's owner, mode and "
                      "free space", errors[0])
        history = self.health()["history"]
        self.assertEqual(history["enabled"], False)
        self.assertIn("Permission denied", history["error"])

    def test_a_disk_that_fills_is_one_error_and_the_daemon_runs_on(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        self.assertTrue(wait_for(lambda: self.query("SELECT count(*) FROM plays") == [(1,)], 5))
        self.daemon.send_signal(signal.SIGKILL)  # its WAL stays, larger than the room below
        self.daemon.wait_exit(5)
        wal = os.path.getsize(os.path.join(self.state_dir, DB + "-wal"))
        room = 40 * 1024  # the 32 KiB WAL index fits, a WAL frame past the end does not
        self.assertGreater(wal, room)
        self.daemon = start_daemon(self, self.stub, extra_args=self.flags,
                                   command=[sys.executable, "-c", FILE_SIZE_LIMIT, str(room)])
        sessions = {"paused": fixture("sessions_track_paused.xml"),
                    "playing": fixture("sessions_track.xml")}
        payloads = {"paused": "payload_pause.json", "playing": "payload_resume.json"}
        for i in range(6):
            state = ("paused", "playing")[i % 2]
            self.stub.set_sessions(sessions[state])
            self.send(payloads[state])
            self.wait_state(state, n=i // 2 + 1)
        self.daemon.wait_for_line("history write failed")
        errors = self.daemon.matching("[ERROR]")
        self.assertEqual(len(errors), 1, self.daemon.log())
        self.assertIn("history write failed; the daemon goes on without it", errors[0])
        self.assertIn("check the disk's free space and health", errors[0])
        self.assertEqual(self.daemon.count("history writes again"), 0, self.daemon.log())
        self.assertIn("error", self.health()["history"]["error"])
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(5), 0, self.daemon.log())
        self.assertEqual(self.query("PRAGMA integrity_check"), [("ok",)])

    def test_sigkill_during_a_burst_leaves_a_sound_database(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=self.flags)
        self.wait_state("playing")
        pause, play = fixture("sessions_track_paused.xml"), fixture("sessions_track.xml")
        for i in range(40):
            self.stub.set_sessions(pause if i % 2 == 0 else play)
            self.send("payload_pause.json" if i % 2 == 0 else "payload_resume.json")
        self.daemon.wait_for_lines("Plex state changed", 10, timeout=10)
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait_exit(5)
        self.assertEqual(self.query("PRAGMA integrity_check"), [("ok",)])
        self.assertGreaterEqual(self.query("SELECT count(*) FROM players")[0][0], 1)
        self.daemon = start_daemon(self, self.stub, extra_args=self.flags)  # and it opens
        self.assertTrue(self.health()["history"]["enabled"])


if __name__ == "__main__":
    unittest.main()
