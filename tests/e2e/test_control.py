"""End to end: the soft transport (``POST /control/<action>``, ``streamerbrainz control``)
and one source at a time (``-source-policy last-wins``).

The real daemon runs as a subprocess beside the stand-in Plexamp
(tests/support/sources.py: a headless player that takes transport commands
and changes its timeline as Plexamp does) and, where the volume matters,
the stand-in CamillaDSP (tests/support/camilladsp.py), both recording what
they got and when (``time.monotonic()`` of this process, so their times
compare). Spotify is fed the way librespot feeds it, through ``python -m
streamerbrainz librespot-event`` with librespot's variables. What is
checked is what a listener notices: the answer, the order of fade, mute
and command, the volume left at the end, the lines in the log, the hooks
that ran. Every wait is for a line, a file or a stand-in condition, with a
deadline; the one wait for nothing to happen is bounded by ``-idle-after``.
"""

import json
import os
import re
import shutil
import tempfile
import time
import unittest

from tests.e2e.test_hooks import read_text, write_script
from tests.support import webhooks
from tests.support.background import Background
from tests.support.camilladsp import StandInCamillaDSP
from tests.support.daemon import parse_log_line, run_cli, start_daemon, state_pattern, wait_for
from tests.support.sources import PLEXAMP_MACHINE_ID, start_plexamp

USER_DB = -23.0
CONFIRM_S = 3.0  # the soft transport waits this long for the player to confirm
FADE_OUT_S = 1.0  # -camilladsp-fade-out-ms, default 1000
FADE_IN_MS = "300"  # short, to keep the run short
PLAYER = "Pi"  # the stand-in Plexamp's title
TRACK = ("playing", 61000, 200000, "42", "Heroes", "David Bowie", "\"Heroes\"")
SPOTIFY_TRACK = {"TRACK_ID": "6rqhFgbbKwnb9MLmUQDhG6", "NAME": "Road to Nowhere",
                 "ARTISTS": "Talking Heads", "ALBUM": "Little Creatures",
                 "DURATION_MS": "259560", "ITEM_TYPE": "Track"}
YIELDS = "source yields"
CANNOT_YIELD = "source cannot yield"


def source_pattern(label, state):
    """A ``<label> state changed state=STATE`` INFO line (Spotify, AirPlay)."""
    return re.compile(r"\[INFO\] %s state changed state=%s(?: |$)"
                      % (re.escape(label), re.escape(state)))


class ControlCase(unittest.TestCase):
    """The stand-in Plexamp, maybe the stand-in CamillaDSP, and the daemon between them."""

    maxDiff = None

    def start(self, *flags, playing=True, dsp=False, hold=1.0):
        """Start the stand-ins (Plexamp playing unless ``playing`` is False), then the daemon.

        Returns once the daemon knows the player (and CamillaDSP's volume),
        and has seen it play when it plays.
        """
        self.amp = start_plexamp(self, hold=hold)
        if playing:
            self.amp.set_timeline(*TRACK)
        args = ["-plexamp-url", self.amp.url]
        self.dsp = None
        if dsp:
            self.dsp = StandInCamillaDSP(volume=USER_DB).start()
            self.addCleanup(self.dsp.stop)  # after the daemon's stop (cleanups run in reverse)
            args += ["-camilladsp-url", self.dsp.url, "-camilladsp-fade-in-ms", FADE_IN_MS]
        self.daemon = start_daemon(self, machine_id=None, extra_args=args + list(flags))
        self.url = "http://127.0.0.1:%d" % self.daemon.port
        self.daemon.wait_for_line("Plexamp connected", timeout=5)
        if dsp:
            self.daemon.wait_for_line("CamillaDSP connected", timeout=5)
        if playing:
            self.wait_plexamp("playing")
        return self.daemon

    # -- asking the daemon ----------------------------------------------------------

    def control(self, action, query="", headers=None, body=b"", content_type=None):
        """``POST /control/ACTION[?query]``: ``(status, answer dict, seconds it took)``."""
        path = "/control/" + action + ("?" + query if query else "")
        started = time.monotonic()
        status, _, data = webhooks.post(self.daemon.port, body, content_type, path=path,
                                        headers=headers, timeout=20)
        elapsed = time.monotonic() - started
        try:
            answer = json.loads(data.decode("utf-8"))
        except ValueError:
            self.fail("POST %s: not JSON: %r\nlog:\n%s" % (path, data, self.daemon.log()))
        return status, answer, elapsed

    def control_done(self, action, query=""):
        """A control request that must answer 200 ``{"done": true}``; its seconds."""
        status, answer, elapsed = self.control(action, query)
        self.assertEqual((status, answer), (200, {"done": True}), self.daemon.log())
        return elapsed

    def cli(self, *args):
        """``python -m streamerbrainz control ARGS -url <the daemon>``, run to its end."""
        return run_cli(["control"] + list(args) + ["-url", self.url], timeout=30)

    def spotify(self, event, **variables):
        """librespot runs its ``--onevent`` bridge: ``PLAYER_EVENT=event`` and ``variables``."""
        env = dict(SPOTIFY_TRACK, PLAYER_EVENT=event, POSITION_MS="0")
        env.update(variables)
        result = run_cli(["librespot-event", "-url", self.url], env=env)
        self.assertEqual((result.returncode, result.stderr), (0, ""), self.daemon.log())

    def spotify_plays(self):
        mark = self.daemon.mark()
        self.spotify("track_changed")
        self.spotify("playing")
        return self.daemon.wait_for_line(source_pattern("Spotify", "playing"), start=mark)

    # -- waiting and reading ----------------------------------------------------------

    def wait_plexamp(self, state, start=0, timeout=5):
        """The Plexamp's ``... state changed state=STATE`` line from ``start`` on, parsed."""
        line = self.daemon.wait_for_line(state_pattern(state), timeout, start)
        return parse_log_line(line)

    def record(self, message, start=0, timeout=5):
        """The first log line from ``start`` on whose message starts with ``message``."""
        line = self.daemon.wait_for_line(re.compile(r"\] %s" % re.escape(message)), timeout,
                                         start)
        return parse_log_line(line)

    def records(self, message, start=0):
        return [parse_log_line(line) for line in self.daemon.lines()[start:]
                if re.search(r"\] %s" % re.escape(message), line)]

    def settle(self):
        """Every change so far has reached every listener, every request is carried out.

        A Spotify pause goes through the main loop after the changes before
        it (so the handover has heard them all); a play of the Plexamp that
        already plays is a request with nothing to send, carried out after
        any the handover queued. Call it with the Plexamp playing.
        """
        mark = self.daemon.mark()
        self.spotify("paused")
        self.daemon.wait_for_line(source_pattern("Spotify", "paused"), start=mark)
        mark = self.daemon.mark()
        self.control_done("play")
        self.record("Plexamp play: nothing to do", mark)

    def wait_dsp(self, predicate, what, timeout=5.0):
        if not wait_for(lambda: predicate(self.dsp), timeout):
            self.fail("the stand-in CamillaDSP never %s within %gs (volume %r, mute %r); "
                      "changes %r\nlog:\n%s" % (what, timeout, self.dsp.volume(),
                                                self.dsp.mute(), self.dsp.changes(),
                                                self.daemon.log()))

    def wait_users_volume(self, timeout=5.0):
        self.wait_dsp(lambda dsp: (dsp.volume(), dsp.mute()) == (USER_DB, False),
                      "came back to %.1f dB unmuted" % USER_DB, timeout)

    def dsp_changes(self, since):
        """The volume and mute changes CamillaDSP got since ``since``, as Commands."""
        return [c for c in self.dsp.commands("SetVolume", "SetMute", "AdjustVolume",
                                             "ToggleMute", "SetFaderVolume", "SetFaderMute")
                if c.at >= since]

    def assert_soft_pause(self, since, pause):
        """A fade down from the user's volume, then the mute, all before Plexamp's ``pause``."""
        changes = self.dsp_changes(since)
        names = [c.name for c in changes]
        self.assertIn("SetMute", names, self.daemon.log())
        mute = changes[names.index("SetMute")]
        steps = changes[:names.index("SetMute")]
        self.assertEqual(mute.argument, True)
        self.assertTrue(steps, "no fade before the mute: %r" % names)
        self.assertEqual({c.name for c in steps}, {"SetVolume"}, names)
        volumes = [c.argument for c in steps]
        self.assertEqual(volumes, sorted(volumes, reverse=True), "the fade goes down")
        self.assertEqual(len(set(volumes)), len(volumes), volumes)
        self.assertLess(volumes[0], USER_DB, volumes)
        self.assertLessEqual(volumes[-1], USER_DB - 20.0, "the fade ends far below the user's")
        fade = mute.at - steps[0].at
        self.assertGreaterEqual(fade, FADE_OUT_S * 0.6, "the fade took %.2fs" % fade)
        self.assertLess(fade, FADE_OUT_S * 2.0, "the fade took %.2fs" % fade)
        self.assertLess(mute.at, pause.at, "CamillaDSP was muted %.3fs after the pause"
                        % (mute.at - pause.at))
        return mute


# -- 1. a soft pause and a play ------------------------------------------------------

class SoftPauseAndPlayTests(ControlCase):

    def test_pause_fades_and_mutes_before_the_command_and_play_unmutes_once_it_plays(self):
        self.start(dsp=True)
        since, mark = time.monotonic(), self.daemon.mark()
        self.control_done("pause")
        [pause] = self.amp.commands("pause")
        self.assertEqual(pause.headers.get("X-Plex-Target-Client-Identifier"),
                         PLEXAMP_MACHINE_ID)
        self.assert_soft_pause(since, pause)
        self.assertEqual(self.amp.timeline().state, "paused")
        self.assertTrue(self.dsp.mute(), "muted while paused")
        done = self.record("Plexamp pause done", mark)
        self.assertEqual((done.level, done.fields),
                         ("INFO", {"action": "pause", "player": PLAYER, "cause": "control"}))
        self.wait_plexamp("paused", mark)

        since, mark = time.monotonic(), self.daemon.mark()
        self.control_done("play")
        [play] = self.amp.commands("play")
        self.wait_users_volume()
        changes = self.dsp_changes(since)
        unmutes = [c for c in changes if c.name == "SetMute"]
        self.assertEqual([c.argument for c in unmutes], [False], [c.name for c in changes])
        self.assertGreater(unmutes[0].at, play.at, "unmuted before Plexamp got play")
        self.assertTrue(all(c.at > play.at for c in changes), "the volume moved before play")
        self.wait_plexamp("playing", mark)
        self.assertEqual([c.name for c in self.amp.commands()], ["pause", "play"])
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))

    def test_the_volume_opens_only_when_the_player_really_plays(self):
        """Plexamp takes the play and starts a moment later (it buffers): the mute waits."""
        self.start(dsp=True, hold=0.5)
        self.control_done("pause")
        self.assertTrue(self.dsp.mute())
        self.amp.ignore("play", times=1)
        mark = self.daemon.mark()
        answer = Background(lambda: self.control("play"))
        self.assertTrue(self.amp.wait_for_command("play", 1, 5), self.daemon.log())
        # The daemon hears "still paused" at least once after the command...
        self.assertTrue(self.amp.wait_for_polls(self.amp.polls + 2, 5), self.daemon.log())
        self.assertTrue(self.dsp.mute(), "unmuted while the player had not started")
        self.assertEqual([c for c in self.dsp.changes() if c == ("SetMute", False)], [])
        # ...then the player plays.
        playing_at = time.monotonic()
        self.amp.set_timeline(*TRACK)
        status, body, _ = answer.result()
        self.assertEqual((status, body), (200, {"done": True}), self.daemon.log())
        self.wait_users_volume()
        unmute = self.dsp.wait_for_command(lambda c: c.name == "SetMute" and c.argument is False)
        self.assertGreater(unmute.at, playing_at, "unmuted before the player played")
        self.wait_plexamp("playing", mark)


# -- 2. a pause the player ignores ------------------------------------------------------

class IgnoredPauseTests(ControlCase):

    def test_an_ignored_pause_is_not_done_and_gives_the_volume_back(self):
        self.start(dsp=True)
        self.amp.ignore("pause")
        since, mark = time.monotonic(), self.daemon.mark()
        status, answer, elapsed = self.control("pause")
        answered = time.monotonic()
        self.assertEqual(status, 200, answer)
        self.assertIs(answer.get("done"), False, answer)
        self.assertIn("did not pause within 3s", answer.get("reason", ""), answer)
        self.assertIn("the volume is back", answer["reason"])
        [pause] = self.amp.commands("pause")
        self.assert_soft_pause(since, pause)
        waited = answered - pause.at
        self.assertGreaterEqual(waited, CONFIRM_S - 0.1, "gave up %.2fs after the pause" % waited)
        self.assertLess(waited, CONFIRM_S + 1.5, "answered %.2fs after the pause" % waited)
        self.assertLess(elapsed, FADE_OUT_S + CONFIRM_S + 2.0, elapsed)
        self.wait_users_volume()
        self.assertEqual(self.amp.timeline().state, "playing")
        warn = self.record("Plexamp pause not done", mark)
        self.assertEqual(warn.level, "WARN")
        self.assertEqual(warn.fields["reason"], answer["reason"])

    def test_streamerbrainz_control_exits_1_with_the_reason_then_0_when_done(self):
        self.start(dsp=True)
        self.amp.ignore("pause")
        result = self.cli("pause")
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr.strip().splitlines(), [
            "pause: not done: the player did not pause within 3s; the volume is back"])
        self.wait_users_volume()
        self.amp.ignore("pause", 0)  # the player takes pauses again
        result = self.cli("pause", "-player", PLAYER)
        self.assertEqual((result.returncode, result.stdout, result.stderr),
                         (0, "pause: done\n", ""), self.daemon.log())
        self.assertEqual(self.amp.timeline().state, "paused")
        self.assertTrue(self.dsp.mute())
        self.assertEqual(len(self.amp.commands("pause")), 2)


# -- 3. what is refused -----------------------------------------------------------------

class RefusalTests(ControlCase):

    def test_a_web_page_a_form_an_unknown_action_and_another_player_are_refused(self):
        self.start()
        status, answer, _ = self.control("pause", headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403, answer)
        self.assertIs(answer["done"], False)
        self.assertIn("http://evil.example", answer["reason"])
        status, answer, _ = self.control("pause", body=b"action=pause",
                                         content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 415, answer)
        self.assertIs(answer["done"], False)
        self.assertIn("application/json", answer["reason"])
        status, answer, _ = self.control("dance")
        self.assertEqual(status, 404, answer)
        self.assertIs(answer["done"], False)
        self.assertIn("play, pause, toggle, next, previous, stop", answer["reason"])
        status, answer, _ = self.control("pause", query="player=Kitchen")
        self.assertEqual(status, 404, answer)
        self.assertIn("'Kitchen'", answer["reason"])
        status, answer, _ = self.control("pause", query="player=" + "5e1d7c2a-3b4f-4c6d")
        self.assertEqual(status, 404, answer)
        self.assertEqual(self.amp.commands(), [], "a refused request reached the player")
        self.assertEqual(self.amp.timeline().state, "playing")
        # From loopback (the default -control-allow), by name or machine id, with
        # the daemon's own Origin and a JSON body: done.
        status, answer, _ = self.control(
            "pause", query="player=" + PLAYER, body=b"{}", content_type="application/json",
            headers={"Origin": "http://127.0.0.1:%d" % self.daemon.port})
        self.assertEqual((status, answer), (200, {"done": True}), self.daemon.log())
        self.control_done("play", query="player=" + PLEXAMP_MACHINE_ID)
        self.assertEqual([c.name for c in self.amp.commands()], ["pause", "play"])
        self.assertEqual(self.records(CANNOT_YIELD) + self.records("control refused"), [])

    def test_loopback_is_allowed_beside_a_control_allow_network(self):
        self.start("-control-allow", "192.0.2.0/24")
        self.control_done("pause")
        self.assertEqual([c.name for c in self.amp.commands()], ["pause"])
        self.assertEqual(self.records("control refused"), [])

    def test_a_control_allow_that_is_no_network_is_a_usage_error(self):
        result = run_cli(["-control-allow", "not-a-network", "-webhooks-port", "0"])
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("-control-allow", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_without_plexamp_url_control_is_503_naming_the_flag(self):
        self.daemon = start_daemon(self)
        self.url = "http://127.0.0.1:%d" % self.daemon.port
        status, answer, _ = self.control("pause")
        self.assertEqual(status, 503, answer)
        self.assertIs(answer["done"], False)
        self.assertIn("-plexamp-url", answer["reason"])
        result = self.cli("play")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("-plexamp-url", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_a_usage_error_exits_2(self):
        result = run_cli(["control", "dance"])
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("usage: streamerbrainz control", result.stderr)


# -- 4. one source at a time ----------------------------------------------------------------

class LastWinsTests(ControlCase):

    def test_spotify_starting_soft_pauses_plexamp_and_the_listener_hears_spotify(self):
        self.start(dsp=True)
        since, mark = time.monotonic(), self.daemon.mark()
        self.spotify_plays()
        yields = self.record(YIELDS, mark)
        self.assertEqual((yields.level, yields.fields), ("INFO", {
            "player": PLAYER, "to": "Spotify", "how": "soft pause", "policy": "last-wins"}))
        self.assertTrue(self.amp.wait_for_command("pause", 1, 5), self.daemon.log())
        [pause] = self.amp.commands("pause")
        self.wait_plexamp("paused", mark)
        self.assert_soft_pause(since, pause)
        done = self.record("Plexamp pause done", mark)
        self.assertEqual(done.fields["cause"], "Spotify started")
        # Spotify plays through CamillaDSP: the listener must hear it at their volume,
        # once the Plexamp has gone quiet (not before: its music would come back).
        self.wait_users_volume()
        unmute = self.dsp.wait_for_command(lambda c: c.name == "SetMute" and c.argument is False)
        self.assertGreater(unmute.at, pause.at, "unmuted before the Plexamp paused")
        self.assertEqual(self.amp.timeline().state, "paused")
        self.assertEqual(self.records(CANNOT_YIELD), [])

    def test_spotify_starting_pauses_plexamp_once_without_camilladsp(self):
        self.start()
        mark = self.daemon.mark()
        self.spotify_plays()
        self.assertTrue(self.amp.wait_for_command("pause", 1, 5), self.daemon.log())
        self.wait_plexamp("paused", mark)
        self.assertEqual(self.amp.timeline().state, "paused")
        # Plexamp plays again (the user): Spotify cannot be paused, and says so.
        mark = self.daemon.mark()
        self.amp.set_timeline(*TRACK)
        self.wait_plexamp("playing", mark)
        warn = self.record(CANNOT_YIELD, mark)
        self.assertEqual(warn.level, "WARN")
        self.assertEqual((warn.fields["player"], warn.fields["to"]), ("Spotify", PLAYER))
        self.settle()
        self.assertEqual([c.name for c in self.amp.commands()], ["pause"])
        self.assertEqual(len(self.records(YIELDS)), 1, self.daemon.log())

    def test_with_source_policy_off_nothing_is_paused(self):
        self.start("-source-policy", "off", dsp=True)
        since = time.monotonic()
        self.spotify_plays()
        self.settle()
        self.assertEqual(self.amp.commands(), [], self.daemon.log())
        self.assertEqual(self.amp.timeline().state, "playing")
        self.assertEqual(self.dsp_changes(since), [])
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.assertEqual(self.records(YIELDS) + self.records(CANNOT_YIELD), [])

    def test_plexamp_starting_over_spotify_sends_nothing_and_warns_once(self):
        self.start(dsp=True, playing=False)
        since = time.monotonic()
        self.spotify_plays()
        for round_ in (1, 2):  # two starts of the Plexamp while Spotify plays
            mark = self.daemon.mark()
            self.amp.set_timeline(*TRACK)
            self.wait_plexamp("playing", mark)
            if round_ == 1:
                warn = self.record(CANNOT_YIELD, mark)
                self.amp.set_timeline("paused", *TRACK[1:])
                self.wait_plexamp("paused", mark)
        self.assertEqual((warn.level, warn.fields["player"], warn.fields["to"],
                          warn.fields["policy"]), ("WARN", "Spotify", PLAYER, "last-wins"))
        self.assertIn("pause it where it was started", warn.message)
        self.settle()
        self.assertEqual(self.amp.commands(), [], self.daemon.log())
        self.assertEqual(self.dsp_changes(since), [])
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        self.assertEqual(len(self.records(CANNOT_YIELD)), 1, self.daemon.log())
        self.assertEqual(self.records(YIELDS), [])


class LastStartedPlaysTests(ControlCase):

    def airplay(self, state):
        result = run_cli(["source-event", "-url", self.url, "airplay", state, "Radio"])
        self.assertEqual((result.returncode, result.stderr), (0, ""), self.daemon.log())

    def test_plexamp_then_spotify_then_airplay_then_plexamp(self):
        self.start("-camilladsp-source-fader", "spotify=aux2", dsp=True)
        mark = self.daemon.mark()
        self.spotify_plays()  # Plexamp yields: soft-paused, the volume back for Spotify
        self.assertTrue(self.amp.wait_for_command("pause", 1, 5), self.daemon.log())
        self.wait_plexamp("paused", mark)
        self.wait_users_volume()
        mark = self.daemon.mark()
        self.airplay("playing")  # Spotify cannot pause: its own fader is muted
        self.daemon.wait_for_line(source_pattern("AirPlay", "playing"), start=mark)
        self.wait_dsp(lambda dsp: dsp.mute(2), "muted Spotify's fader (aux2)")
        muted = self.record(YIELDS, mark)
        self.assertEqual((muted.fields["player"], muted.fields["to"], muted.fields["how"]),
                         ("Spotify", "AirPlay", "fader muted"))
        mark = self.daemon.mark()
        self.amp.set_timeline(*TRACK)  # Plexamp again: AirPlay has no fader, one WARN
        self.wait_plexamp("playing", mark)
        warn = self.record(CANNOT_YIELD, mark)
        self.assertEqual((warn.fields["player"], warn.fields["to"]), ("AirPlay", PLAYER))
        self.assertEqual(len(self.records(YIELDS, mark)), 0, self.daemon.log())
        self.assertEqual([c.name for c in self.amp.commands()], ["pause"])
        self.assertTrue(self.dsp.mute(2))
        self.assertEqual((self.dsp.volume(), self.dsp.mute()), (USER_DB, False))
        mark = self.daemon.mark()
        self.spotify("paused")
        self.spotify("playing")  # Spotify started again: its fader opens, Plexamp yields
        self.wait_dsp(lambda dsp: not dsp.mute(2), "unmuted Spotify's fader")
        self.assertTrue(self.amp.wait_for_command("pause", 2, 5), self.daemon.log())


# -- 5. the amplifier across a handover -------------------------------------------------------

class HandoverHookTests(ControlCase):

    def test_on_active_once_and_on_idle_once_after_the_last_source_stops(self):
        directory = tempfile.mkdtemp(prefix="sbz-control-")
        self.addCleanup(shutil.rmtree, directory, True)
        out = os.path.join(directory, "amp.txt")
        script = write_script(directory, "amp.sh",
                              "#!/bin/sh\nprintf '%%s %%s\\n' \"$1\" \"$SB_PLAYER\" >>%s\n" % out)
        self.start("-on-active", script + " on", "-on-idle", script + " off",
                   "-idle-after", "1")
        self.assertTrue(wait_for(lambda: read_text(out), 5), self.daemon.log())
        self.assertEqual(read_text(out), "on %s\n" % PLAYER)
        mark = self.daemon.mark()
        self.spotify_plays()
        self.record(YIELDS, mark)
        self.wait_plexamp("paused", mark)
        # Spotify plays on: no idle, however long after the Plexamp paused.
        self.assertFalse(wait_for(lambda: self.records("players idle"), 2.0),
                         "idle while Spotify played\n" + self.daemon.log())
        mark = self.daemon.mark()
        self.spotify("stopped")
        self.daemon.wait_for_line(source_pattern("Spotify", "stopped"), start=mark)
        idle = self.record("players idle", mark, timeout=5)
        self.assertEqual(idle.fields.get("idle_after_s"), "1.0")
        self.assertTrue(wait_for(lambda: read_text(out).count("\n") >= 2, 5), self.daemon.log())
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(5), 0, self.daemon.log())
        self.assertEqual(read_text(out).splitlines(), ["on " + PLAYER, "off Spotify"])
        self.assertEqual(len(self.records("players active")), 1, self.daemon.log())
        self.assertEqual(len(self.records("players idle")), 1, self.daemon.log())


if __name__ == "__main__":
    unittest.main()
