"""End to end: the real daemon drives the stand-in CamillaDSP's volume.

The daemon runs as a subprocess beside the stand-in Plex (tests/support)
and the stand-in CamillaDSP (tests/support/camilladsp.py), which records
every command with its time of arrival. A play, pause or stop is a
webhook plus the sessions the stand-in Plex answers, as in the other
end-to-end tests. Every wait is for a log line or a stand-in record with
a deadline; each daemon is stopped with SIGTERM and its exit status
checked. Fades and the idle grace are short to keep the run short.
"""

import json
import signal
import socket
import time

from tests.support import camilladsp as standin
from tests.support import webhooks
from tests.support.daemon import E2ECase, parse_log_line, state_pattern, wait_for

# The stand-in's class (its name changed once; either is accepted).
StandIn = getattr(standin, "StandInCamillaDSP", None) or getattr(standin, "StandIn")

USER_DB = -23.0
FADE_FROM_DB = 30.0  # a fade-in out of a mute starts this far below the user's volume
CHANGING = ("Set", "Adjust", "Toggle")
MAIN_CHANGES = ("SetVolume", "SetMute", "AdjustVolume", "ToggleMute")
FADER_CHANGES = ("SetFaderVolume", "SetFaderMute", "AdjustFaderVolume", "ToggleFaderMute")
OTHER_PLAYER = "0d6a1c2e-77aa-4bd0-9c1f-3e5b7d9f1a2c"
FAILED = "CamillaDSP command failed; the volume is left as it is"
LOST = "CamillaDSP connection lost; reconnecting"


class CamillaDSPCase(E2ECase):
    """A stand-in CamillaDSP and the daemon driving it, with helpers to play and read both."""

    def start(self, *flags, version="4.1.3", volume=USER_DB, connected="CamillaDSP connected"):
        """Start the stand-in at ``volume``, then the daemon with ``flags``; wait for the link."""
        self.dsp = StandIn(version, volume=volume).start()
        self.addCleanup(self.dsp.stop)  # after the daemon's stop (cleanups run in reverse)
        args = ["-camilladsp-url", self.dsp.url] + list(flags)
        self.start_plex_and_daemon("sessions_empty.xml", extra_args=args)
        if connected:
            self.connected_line = self.daemon.wait_for_line(connected, timeout=5)
        return self.daemon

    # -- the players --------------------------------------------------------------

    def play(self, n):
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json" if n == 1 else "payload_resume.json")
        self.wait_state("playing", n)

    def pause(self, n):
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused", n)

    # -- what the stand-in saw -------------------------------------------------------

    def commands(self, *names, since=None):
        return [c for c in self.dsp.commands()
                if (not names or c.name in names) and (since is None or c.at >= since)]

    def changes(self, since=None):
        """The commands that change a volume or a mute, as (name, argument)."""
        return [(c.name, c.argument) for c in self.commands(since=since)
                if c.name and c.name.startswith(CHANGING)]

    def wait_command(self, name, argument=None, since=None, timeout=5.0, count=1):
        """The ``count``-th command ``name`` (with ``argument`` when given) since ``since``."""
        def found():
            hits = [c for c in self.commands(name, since=since)
                    if argument is None or c.argument == argument]
            return hits[count - 1] if len(hits) >= count else None
        command = wait_for(found, timeout)
        if not command:
            self.fail("CamillaDSP got no %s %r (#%d) within %gs; it got %r\nlog:\n%s" % (
                name, argument, count, timeout, self.changes(since), self.daemon.log()))
        return command

    def wait_dsp(self, predicate, what, timeout=5.0):
        if not wait_for(predicate, timeout):
            self.fail("the stand-in CamillaDSP never %s within %gs (volume %r, mute %r); "
                      "changes %r\nlog:\n%s" % (what, timeout, self.dsp.volume(0),
                                                self.dsp.mute(0), self.changes(),
                                                self.daemon.log()))

    # -- the daemon ---------------------------------------------------------------------

    def line(self, message, start=0, timeout=5):
        """The first log line from ``start`` on whose message is ``message``, parsed."""
        def found():
            hits = [record for record in map(parse_log_line, self.daemon.lines()[start:])
                    if record is not None and record.message == message]
            return hits[0] if hits else None
        record = wait_for(found, timeout)
        if not record:
            self.fail("no log line %r within %gs; log:\n%s" % (message, timeout,
                                                               self.daemon.log()))
        return record

    def records(self, level=None, start=0, prefix="CamillaDSP"):
        """Every parsed log line from ``start`` on whose message starts with ``prefix``."""
        found = []
        for text in self.daemon.lines()[start:]:
            record = parse_log_line(text)
            if record is None or not record.message.startswith(prefix):
                continue
            if level is None or record.level == level:
                found.append(record)
        return found

    def first_warning(self, start=0, timeout=5):
        """The first WARN or ERROR line from ``start`` on, parsed, once it came."""
        found = wait_for(lambda: self.warnings(start), timeout)
        if not found:
            self.fail("no WARN line within %gs; log:\n%s" % (timeout, self.daemon.log()))
        return found[0]

    def warnings(self, start=0):
        return [record for record in map(parse_log_line, self.daemon.lines()[start:])
                if record is not None and record.level in ("WARN", "ERROR")]

    def stop_daemon(self, within=2.0):
        """SIGTERM; the daemon exits 0 within ``within`` seconds, with no traceback."""
        started = time.monotonic()
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait_exit(5)
        elapsed = time.monotonic() - started
        self.assertEqual(rc, 0, self.daemon.log())
        self.assertLess(elapsed, within, "the daemon took %.2fs to exit\n%s"
                        % (elapsed, self.daemon.log()))
        self.assertNotIn("Traceback", self.daemon.log())
        return elapsed


def get_json(port, path):
    status, headers, body = webhooks.get(port, path)
    assert status == 200, (path, status, body)
    return json.loads(body.decode("utf-8"))


class Events:
    """A minimal reader of the daemon's ``/events`` stream: ``(event, data)`` one at a time."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def _until(self, marker):
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the stream ended")
            self.buffer += data
        block, _, self.buffer = self.buffer.partition(marker)
        return block

    def next(self):
        while True:
            fields = {}
            for line in self._until(b"\n\n").decode("utf-8").split("\n"):
                name, _, value = line.partition(": ")
                if name and not name.startswith(":"):
                    fields[name] = value
            if "event" in fields:
                return fields["event"], json.loads(fields.get("data", "null"))

    def close(self):
        self.sock.close()


# -- pause, idle, play --------------------------------------------------------------

class PauseAndPlayTests(CamillaDSPCase):

    def test_pause_mutes_and_play_restores_the_users_volume(self):
        self.start("-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", "0")
        connected = parse_log_line(self.connected_line)
        self.assertEqual((connected.level, connected.message, connected.fields), (
            "INFO", "CamillaDSP connected",
            {"version": "4.1.3", "fader": "main", "volume_db": "-23.0", "mute": "false"}))
        self.play(1)
        mark, since = self.daemon.mark(), time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        muted = self.line("CamillaDSP muted", mark)
        self.assertEqual((muted.level, muted.fields), ("INFO",
                                                       {"cause": "paused", "player": "Office"}))
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, True))
        self.assertEqual(self.changes(since), [("SetMute", True)])

        mark, since = self.daemon.mark(), time.monotonic()
        self.play(2)
        self.wait_command("SetMute", False, since)
        restored = self.line("CamillaDSP restored", mark)
        self.assertEqual((restored.level, restored.fields), ("INFO", {
            "volume_db": "-23.0", "cause": "playing", "player": "Office"}))
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.assertEqual(self.changes(since), [("SetMute", False)])
        self.stop_daemon()
        self.assertEqual(self.changes(), [("SetMute", True), ("SetMute", False)])
        self.assertEqual(self.warnings(), [], self.daemon.log())

    def test_idle_mutes_after_the_grace_and_the_next_play_fades_in(self):
        grace, fade_ms = 0.5, 600
        self.start("-camilladsp-idle", "mute", "-idle-after", str(grace),
                   "-camilladsp-fade-in-ms", str(fade_ms))
        self.play(1)
        mark, since = self.daemon.mark(), time.monotonic()
        self.pause(1)  # -camilladsp-pause is off: only the idle grace mutes
        self.daemon.wait_for_line("players idle", timeout=5, start=mark)
        mute = self.wait_command("SetMute", True, since)
        self.assertGreaterEqual(mute.at - since, grace, "muted before the idle grace ran out")
        self.assertEqual(self.line("CamillaDSP muted", mark).fields, {"cause": "idle"})
        self.assertEqual(self.changes(since), [("SetMute", True)])

        mark, since = self.daemon.mark(), time.monotonic()
        self.play(2)
        self.wait_command("SetVolume", USER_DB, since)
        steps = [(c.name, c.argument, c.at) for c in self.commands(since=since)
                 if c.name in ("SetVolume", "SetMute")]
        start = USER_DB - FADE_FROM_DB
        # Down to the start under the mute, unmute, then three steps of 0.2 s up.
        self.assertEqual([(name, value) for name, value, _ in steps], [
            ("SetVolume", start), ("SetMute", False), ("SetVolume", start + 10.0),
            ("SetVolume", start + 20.0), ("SetVolume", USER_DB)], self.daemon.log())
        unmuted_at = steps[1][2]
        spread = steps[-1][2] - unmuted_at
        self.assertGreaterEqual(spread, fade_ms / 1000.0 - 0.05, "the fade-in was not stepped")
        self.assertLess(spread, fade_ms / 1000.0 + 0.5, "the fade-in took far too long")
        for earlier, later in zip(steps[2:], steps[3:]):
            self.assertGreaterEqual(later[2] - earlier[2], 0.15, steps)
        self.assertEqual(self.line("CamillaDSP restored", mark).fields, {
            "volume_db": "-23.0", "cause": "playing", "player": "Office"})
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.stop_daemon()
        self.assertEqual(self.warnings(), [], self.daemon.log())

    def test_the_knob_turned_down_while_paused_is_what_play_restores(self):
        self.start("-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", "400")
        self.play(1)
        since = time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        self.dsp.set_volume(-35.0)  # the user, at the knob, while the music is paused
        mark, since = self.daemon.mark(), time.monotonic()
        self.play(2)
        self.wait_command("SetVolume", -35.0, since)
        self.assertEqual(self.changes(since), [
            ("SetVolume", -65.0), ("SetMute", False), ("SetVolume", -50.0),
            ("SetVolume", -35.0)])
        self.assertEqual(self.line("CamillaDSP restored", mark).fields, {
            "volume_db": "-35.0", "cause": "playing", "player": "Office"})
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (-35.0, False))
        self.stop_daemon()
        self.assertNotIn(USER_DB, [value for name, value in self.changes() if name == "SetVolume"],
                         "the old volume came back")
        self.assertEqual(self.dsp.volume(), -35.0)

    def test_a_player_that_is_not_local_pausing_does_nothing_to_camilladsp(self):
        self.start("-camilladsp-pause", "mute", "-camilladsp-idle", "mute", "-idle-after", "0.3",
                   "-local-player", OTHER_PLAYER)
        enabled = self.line("CamillaDSP volume enabled")
        self.assertEqual(enabled.fields["local_player"], OTHER_PLAYER)
        self.play(1)
        mark = self.daemon.mark()
        self.pause(1)
        # The pause and the idle grace that follows are both past once "players idle" is.
        self.daemon.wait_for_line("players idle", timeout=5, start=mark)
        self.assertFalse(wait_for(self.changes, 0.5), self.changes())
        self.stop_daemon()
        self.assertEqual(self.changes(), [], self.daemon.log())
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.assertEqual(self.records("INFO", prefix="CamillaDSP muted"), [])
        self.assertEqual(self.records("INFO", prefix="CamillaDSP restored"), [])


# -- the cap and the fader ------------------------------------------------------------------

class CapAndFaderTests(CamillaDSPCase):

    def test_the_cap_on_play_is_one_adjust_with_limits_on_4_x(self):
        self.start("-camilladsp-max-volume", "-10", volume=0.0)
        mark, since = self.daemon.mark(), time.monotonic()
        self.play(1)
        self.wait_command("AdjustVolume", since=since)
        self.wait_dsp(lambda: self.dsp.volume() == -10.0, "went down to the cap")
        self.assertEqual(self.changes(since), [("AdjustVolume", [0.0, -150.0, -10.0])])
        capped = self.line("CamillaDSP capped", mark)
        self.assertEqual((capped.level, capped.fields), ("INFO", {
            "volume_db": "-10.0", "cause": "playing", "player": "Office"}))
        self.stop_daemon()
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (-10.0, False))
        self.assertEqual(self.changes(), [("AdjustVolume", [0.0, -150.0, -10.0])])

    def test_the_cap_on_play_reads_then_sets_on_2_x(self):
        self.start("-camilladsp-max-volume", "-10", version="2.0.3", volume=0.0)
        since = time.monotonic()
        self.play(1)
        self.wait_command("SetVolume", -10.0, since)
        names = [c.name for c in self.commands(since=since)]
        self.assertEqual(names[:3], ["GetVolume", "GetMute", "SetVolume"], names)
        self.assertEqual(self.changes(since), [("SetVolume", -10.0)])
        self.assertEqual(self.line("CamillaDSP capped").fields["volume_db"], "-10.0")
        self.stop_daemon()
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (-10.0, False))
        self.assertEqual(self.changes(), [("SetVolume", -10.0)])

    def test_an_aux_fader_is_driven_and_main_is_never_changed(self):
        self.start("-camilladsp-fader", "aux1", "-camilladsp-pause", "mute",
                   "-camilladsp-fade-in-ms", "400")
        self.assertEqual(parse_log_line(self.connected_line).fields, {
            "version": "4.1.3", "fader": "aux1", "volume_db": "0.0", "mute": "false"})
        self.play(1)
        since = time.monotonic()
        self.pause(1)
        self.wait_command("SetFaderMute", [1, True], since)
        self.assertEqual((self.dsp.volume(1), self.dsp.mute(1)), (0.0, True))
        since = time.monotonic()
        self.play(2)
        self.wait_command("SetFaderVolume", [1, 0.0], since)
        self.assertEqual(self.changes(since), [
            ("SetFaderVolume", [1, -30.0]), ("SetFaderMute", [1, False]),
            ("SetFaderVolume", [1, -15.0]), ("SetFaderVolume", [1, 0.0])])
        self.stop_daemon()
        self.assertEqual((self.dsp.volume(1), self.dsp.mute(1)), (0.0, False))
        self.assertEqual(self.commands(*MAIN_CHANGES), [], "Main was changed")
        self.assertEqual((self.dsp.volume(0), self.dsp.mute(0)), (USER_DB, False))
        for name, argument in self.changes():
            self.assertIn(name, FADER_CHANGES)
            self.assertEqual(argument[0], 1, "a fader other than Aux1 was changed")


# -- CamillaDSP going away, sound, shutdown ------------------------------------------------------

class ConnectionTests(CamillaDSPCase):

    def test_a_restart_mid_fade_ends_at_the_users_volume_unmuted_after_the_reconnect(self):
        self.start("-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", "1000")
        self.play(1)
        since = time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        mark, since = self.daemon.mark(), time.monotonic()
        self.play(2)
        self.wait_command("SetMute", False, since)
        self.wait_command("SetVolume", since=since, count=2)  # the fade's first step up
        self.dsp.restart()  # CamillaDSP restarts mid-fade; its statefile keeps the volume
        lost = self.line(LOST, mark)
        self.assertEqual(lost.level, "WARN")
        again = self.line("CamillaDSP connected again", mark)
        self.assertEqual(again.level, "INFO")
        self.wait_dsp(lambda: (self.dsp.volume(), self.dsp.mute()) == (USER_DB, False),
                      "came back to the user's volume, unmuted")
        self.stop_daemon()
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        volumes = [value for name, value in self.changes(since) if name == "SetVolume"]
        self.assertLessEqual(max(volumes), USER_DB, "louder than the user's volume: %r" % volumes)
        self.assertEqual(volumes[-1], USER_DB)
        self.assertGreaterEqual(self.dsp.connections, 2)
        self.assertEqual([r.message for r in self.warnings(mark)],
                         [LOST], self.daemon.log())

    def test_sound_at_the_capture_side_while_muted_restores_the_volume(self):
        # The capture guard reads every 5 s while the volume is held down.
        self.start("-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", "0")
        self.play(1)
        mark, since = self.daemon.mark(), time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        self.wait_command("GetCaptureSignalPeakSinceLast", since=since)  # the guard's first read
        set_peaks = getattr(self.dsp, "set_capture_peaks", None) or self.dsp.set_peaks
        set_peaks([-12.0, -12.0])  # sound arrives that no followed player explains
        sound = self.line("CamillaDSP: sound arrives that no followed player explains; "
                          "restoring the volume", mark, timeout=8)
        self.assertEqual((sound.level, sound.fields), ("INFO", {"peak_db": "-12.0"}))
        self.wait_command("SetMute", False, since)
        self.assertEqual(self.line("CamillaDSP restored", mark).fields,
                         {"volume_db": "-23.0", "cause": "capture"})
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.stop_daemon()
        self.assertEqual(self.changes(since), [("SetMute", True), ("SetMute", False)])

    def test_sigterm_while_muted_restores_the_users_volume_and_exits_0_within_2s(self):
        self.start("-camilladsp-pause", "mute")
        self.play(1)
        since = time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        mark = self.daemon.mark()
        self.stop_daemon(2.0)
        restored = self.line("CamillaDSP restored", mark, timeout=0)
        self.assertEqual(restored.fields, {"cause": "shutdown", "volume_db": "-23.0"})
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.assertEqual(self.changes(), [("SetMute", True), ("SetMute", False)])
        self.assertIn("stopped", self.daemon.lines()[-1])

    def test_sigterm_while_camilladsp_stalls_every_command_exits_0_within_2s(self):
        self.start("-camilladsp-pause", "mute")
        self.play(1)
        since = time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        for name in ("GetVersion", "GetVolume", "GetMute", "SetVolume", "SetMute",
                     "AdjustVolume", "GetCaptureSignalPeakSinceLast"):
            self.dsp.fail(name, "stall")
        mark = self.daemon.mark()
        self.stop_daemon(2.0)
        self.assertEqual(self.line("CamillaDSP: cannot restore the volume at shutdown", mark,
                                   timeout=0).level, "WARN")
        self.assertIn("stopped", self.daemon.lines()[-1])
        self.assertEqual(self.records(start=mark, prefix="did not stop in time"), [],
                         self.daemon.log())


# -- bad replies, old versions, status ------------------------------------------------------------

class ReplyTests(CamillaDSPCase):

    def test_every_bad_reply_is_one_warn_line_and_no_wrong_volume_belief(self):
        # invalid and error leave the connection open ("command failed"); a reply that is
        # not one (malformed, garbage) ends it, and one line may say so instead.
        accepted = {"invalid": {FAILED}, "error": {FAILED},
                    "malformed": {FAILED, LOST}, "garbage": {FAILED, LOST}}
        for kind, messages in accepted.items():
            with self.subTest(kind=kind):
                self.start("-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", "0")
                self.play(1)
                self.dsp.fail("SetMute", kind, 1)
                mark, since = self.daemon.mark(), time.monotonic()
                self.pause(1)
                self.wait_command("SetMute", True, since)
                warn = self.first_warning(mark)
                self.assertIn(warn.message, messages, self.daemon.log())
                self.assertTrue(warn.fields.get("error", "").startswith("CamillaDSP SetMute: "),
                                warn.fields)
                self.play(2)
                self.pause(2)
                self.play(3)
                self.wait_dsp(lambda: len(self.commands("SetMute", since=since)) >= 3
                              and not self.dsp.mute(), "was unmuted after a second pause")
                self.stop_daemon()
                self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
                volumes = [v for name, v in self.changes() if name == "SetVolume"]
                self.assertEqual(volumes, [], "a volume of its own belief was set")
                self.assertEqual([(w.level, w.message) for w in self.warnings(mark)],
                                 [("WARN", warn.message)],
                                 "one WARN line for one bad reply\n" + self.daemon.log())

    def test_a_bad_reply_at_the_start_of_a_fade_in_does_not_keep_the_music_muted(self):
        # The fade-in's first step (the start volume, under the mute) fails: that play is
        # left as it is, but the next pause and play must still give the user their volume.
        self.start("-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", "400")
        self.play(1)
        since = time.monotonic()
        self.pause(1)
        self.wait_command("SetMute", True, since)
        self.dsp.fail("SetVolume", "error", 1)
        mark, since = self.daemon.mark(), time.monotonic()
        self.play(2)
        failed = self.line(FAILED, mark)
        self.assertEqual(failed.level, "WARN")
        self.assertEqual(self.changes(since)[0], ("SetVolume", USER_DB - FADE_FROM_DB))
        self.pause(2)
        self.play(3)
        self.wait_dsp(lambda: (self.dsp.volume(), self.dsp.mute()) == (USER_DB, False),
                      "gave the user their volume back on the next play", timeout=3)
        self.stop_daemon()

    def test_camilladsp_1_x_is_one_warn_line_and_nothing_is_changed(self):
        self.start("-camilladsp-pause", "mute", "-camilladsp-max-volume", "-30",
                   version="1.3.0")
        self.assertEqual(parse_log_line(self.connected_line).fields["version"], "1.3.0")
        warn = self.line("CamillaDSP 1.3.0 has no Main volume or faders: StreamerBrainz changes "
                         "nothing; upgrade CamillaDSP to 2.0 or later")
        self.assertEqual(warn.level, "WARN")
        self.play(1)
        mark = self.daemon.mark()
        self.pause(1)
        self.play(2)
        self.daemon.wait_for_line(state_pattern("playing"), start=mark)
        self.assertFalse(wait_for(lambda: len(self.dsp.commands()) > 1, 0.5),
                         [c.name for c in self.dsp.commands()])
        self.stop_daemon()
        self.assertEqual([c.name for c in self.dsp.commands()], ["GetVersion"])
        self.assertEqual(len(self.warnings()), 1, self.daemon.log())
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))

    def test_state_healthz_and_events_carry_the_camilladsp_status(self):
        self.start("-camilladsp-pause", "mute")

        def status(path):
            return get_json(self.daemon.port, path).get("camilladsp")

        self.assertTrue(wait_for(lambda: (status("/state") or {}).get("connected"), 5),
                        status("/state"))
        for path in ("/state", "/healthz"):
            with self.subTest(path=path):
                found = status(path)
                self.assertIsInstance(found, dict, path)
                self.assertIs(found["connected"], True)
                self.assertEqual(found["version"], "4.1.3")
                self.assertEqual(found["fader"], "main")
                self.assertEqual(found["volume_db"], USER_DB)
                self.assertIs(found["mute"], False)
                self.assertEqual(found["error"], "")
        events = Events(self.daemon.port)
        self.addCleanup(events.close)
        self.assertEqual(events.status, 200)
        self.play(1)
        self.pause(1)
        while True:
            event, data = events.next()
            if event == "camilladsp_changed" and data.get("mute") is True:
                break
        self.assertIs(data["connected"], True)
        self.assertEqual(data["last_action"]["action"], "muted")
        self.assertEqual(data["last_action"]["cause"], "paused")
        self.assertEqual(status("/state")["mute"], True)
        self.assertEqual(status("/healthz")["mute"], True)
        self.stop_daemon()
