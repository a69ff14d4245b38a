"""The CamillaDSP service beside a stand-in CamillaDSP: what it sends, logs and restores."""

import queue
import time
import unittest

from streamerbrainz.camilladsp import policy
from streamerbrainz.camilladsp.policy import MUTE, Memory, Policy, Reading
from streamerbrainz.camilladsp.service import CamillaDSP
from tests.support import model
from tests.support.background import Background
from tests.support.camilladsp import StandIn
from tests.support.logs import captured

OFFICE = "office"


def change(state, previous, machine_id=OFFICE):
    return model.change(machine_id=machine_id, state=state, previous_state=previous,
                        player="Office")


class ServiceTest(unittest.TestCase):
    version = "4.1.3"

    def start(self, pause=MUTE, idle=None, cap=None, fade_in_ms=0, fader="main", volume=-23.0,
              local=(OFFICE,), fade_out_ms=400, source_volume=(), **options):
        self.dsp = StandIn(self.version, volume=volume).start()
        self.addCleanup(self.dsp.stop)
        self.logs = self.enterContext_(captured())
        self.actions = queue.SimpleQueue()
        self.service = CamillaDSP(self.dsp.url, Policy(idle, pause, cap, fade_in_ms, fade_out_ms,
                                         source_volume),
                                  fader,
                                  lambda machine_id: machine_id in local, self.actions,
                                  **options)
        self.service.start()
        self.addCleanup(self.service.stop, time.monotonic() + 2)
        self.dsp.wait_for_command("GetVersion")
        return self.service

    def enterContext_(self, manager):
        value = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)
        return value

    def play_then_pause(self):
        self.service.state_changed(change("playing", "stopped"))
        self.service.state_changed(change("paused", "playing"))
        self.dsp.wait_for(lambda d: d.mute())

    def wait_for_log(self, message, level=None):
        until = time.monotonic() + 5
        while not self.logs.find(message, level):
            if time.monotonic() > until:
                self.fail("no %r in:\n%s" % (message, self.logs.text()))
            self.dsp.wait_for(lambda d: False, 0.01)
        return self.logs.find(message, level)

    def test_pause_mutes_and_play_restores_the_users_volume(self):
        self.start()
        self.play_then_pause()
        self.assertEqual(self.wait_for_log("CamillaDSP muted"),
                         [{"cause": "paused", "player": "Office"}])
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute()))
        self.assertEqual(self.dsp.volume(), -23.0)
        self.assertEqual(self.dsp.changes(), [("SetMute", True), ("SetMute", False)])
        self.assertEqual(self.wait_for_log("CamillaDSP restored"),
                         [{"volume_db": -23.0, "cause": "playing", "player": "Office"}])

    def test_the_knob_turned_while_muted_is_what_play_restores(self):
        self.start(fade_in_ms=400)
        self.play_then_pause()
        self.dsp.set_volume(-30.0)
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute() and d.volume() == -30.0))
        volumes = [argument for name, argument in self.dsp.changes() if name == "SetVolume"]
        self.assertEqual(volumes[0], -60.0)  # a gentle start below the user's volume
        self.assertEqual(volumes[-1], -30.0)
        self.assertTrue(all(v <= -30.0 for v in volumes))

    def test_a_fade_in_is_stepped_on_time(self):
        self.start(fade_in_ms=600)
        self.play_then_pause()
        self.service.state_changed(change("playing", "paused"))
        self.dsp.wait_for(lambda d: d.volume() == -23.0 and len(d.commands("SetVolume")) == 4)
        steps = self.dsp.commands("SetVolume")
        self.assertEqual([round(s.argument, 1) for s in steps], [-53.0, -43.0, -33.0, -23.0])
        offsets = [s.at - steps[0].at for s in steps[1:]]
        for offset, planned in zip(offsets, (0.2, 0.4, 0.6)):
            self.assertGreaterEqual(offset, planned - 0.005)

    def test_a_player_that_is_not_local_never_touches_the_volume(self):
        self.start()
        self.service.state_changed(change("playing", "stopped", machine_id="phone"))
        self.service.state_changed(change("paused", "playing", machine_id="phone"))
        self.play_then_pause()  # the local one: its mute is the first change
        self.assertEqual(self.dsp.changes(), [("SetMute", True)])

    def test_the_cap_on_play_uses_limits_from_3_x(self):
        self.start(pause=None, cap=-10.0, volume=0.0)
        self.service.state_changed(change("playing", "stopped"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.volume() == -10.0))
        self.assertEqual(self.dsp.changes(), [("AdjustVolume", [0.0, -150.0, -10.0])])
        self.assertEqual(self.wait_for_log("CamillaDSP capped"),
                         [{"volume_db": -10.0, "cause": "playing", "player": "Office"}])

    def test_a_lower_cap_from_sighup_brings_a_playing_volume_down_at_once(self):
        self.start(pause=MUTE, volume=0.0)
        self.service.state_changed(change("playing", "stopped"))
        self.service.configure(Policy(None, MUTE, -10.0, 0, 400, ()))
        self.assertTrue(self.dsp.wait_for(lambda d: d.volume() == -10.0))
        self.assertEqual(self.wait_for_log("CamillaDSP capped"),
                         [{"volume_db": -10.0, "cause": "settings"}])

    def test_new_levels_from_sighup_rule_the_next_pause(self):
        self.start(pause=MUTE, volume=-20.0)
        self.service.configure(Policy(None, -40.0, None, 0, 400, ()))
        self.service.state_changed(change("playing", "stopped"))
        self.service.state_changed(change("paused", "playing"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.volume() == -40.0))
        self.assertFalse(self.dsp.mute())
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.volume() == -20.0))

    def test_an_aux_fader_leaves_main_alone(self):
        self.start(fader="aux1")
        self.service.state_changed(change("playing", "stopped"))
        self.service.state_changed(change("paused", "playing"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.mute(1)))
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute(1)))
        self.assertEqual(self.dsp.changes(), [("SetFaderMute", [1, True]),
                                              ("SetFaderMute", [1, False])])
        self.assertEqual((self.dsp.volume(0), self.dsp.mute(0)), (-23.0, False))
        self.assertEqual(self.dsp.commands("GetVolume", "GetMute"), [])

    def test_a_failed_command_is_one_line_and_no_wrong_belief(self):
        self.start()
        self.dsp.fail("SetMute", "error", times=1)
        self.service.state_changed(change("playing", "stopped"))
        self.service.state_changed(change("paused", "playing"))
        failed = self.wait_for_log("CamillaDSP command failed; the volume is left as it is")
        self.assertEqual(len(failed), 1)
        reason = "Error" if self.version < "4" else "InvalidValueError: something went wrong"
        self.assertEqual("CamillaDSP SetMute: failed (%s)" % reason, failed[0]["error"])
        self.service.state_changed(change("playing", "paused"))
        self.service.state_changed(change("paused", "playing"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.mute()))
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute()))
        self.assertEqual(self.dsp.volume(), -23.0)

    def test_a_mute_that_fails_is_not_logged_as_muted_nor_held(self):
        self.start()
        self.dsp.fail("SetMute", "error", times=1)
        self.service.state_changed(change("playing", "stopped"))
        self.service.state_changed(change("paused", "playing"))
        self.wait_for_log("CamillaDSP command failed; the volume is left as it is")
        self.assertEqual(self.logs.find("CamillaDSP muted"), [])
        self.assertFalse(self.service.status.get("holding"))
        self.service.state_changed(change("playing", "paused"))
        self.service.state_changed(change("paused", "playing"))  # this one takes
        self.assertTrue(self.dsp.wait_for(lambda d: d.mute()))
        self.assertEqual(self.logs.find("CamillaDSP taken over"), [])

    def test_a_fade_that_cannot_start_low_unmutes_at_once_without_a_dip(self):
        self.start(fade_in_ms=400)
        self.play_then_pause()
        self.dsp.fail("SetVolume", "error", times=1)
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute()))
        self.assertFalse(self.dsp.wait_for(lambda d: len(d.commands("SetVolume")) > 1, 0.6),
                         "a fade after the unmute: %r" % self.dsp.changes())
        self.assertEqual(self.dsp.changes(), [("SetMute", True), ("SetVolume", -53.0),
                                              ("SetMute", False)])
        self.assertEqual(self.dsp.volume(), -23.0)

    def test_camilladsp_back_at_0_db_while_muted_restores_the_users_volume(self):
        self.start(probe_every=0.1)  # the capture read finds the link gone
        self.play_then_pause()
        self.dsp.restart(statefile=False)  # no statefile: 0 dB, unmuted
        self.assertTrue(self.dsp.wait_for(lambda d: d.connections >= 2 and d.mute(), 5))
        again = [c.name for c in self.dsp.commands() if c.connection == 2]
        self.assertEqual(again[:4], ["GetVersion", "GetVolume", "GetMute", "SetMute"])  # read once
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute()))
        self.assertEqual(self.dsp.volume(), -23.0)

    def test_a_restore_while_spotify_plays_adds_its_offset_without_drift(self):
        self.start(source_volume=(("spotify", -3.0),))
        self.play_then_pause()
        spotify = model.change(machine_id="spotify", state="playing", previous_state="stopped",
                               player="Spotify", source="spotify")
        self.service.state_changed(spotify)
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute() and d.volume() == -26.0))
        self.assertEqual(self.wait_for_log("CamillaDSP restored"),
                         [{"volume_db": -26.0, "offset_db": -3.0, "cause": "playing",
                           "player": "Spotify"}])
        self.service.state_changed(model.change(machine_id="spotify", state="paused",
                                                previous_state="playing", player="Spotify",
                                                source="spotify"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.mute()))
        self.service.state_changed(spotify)
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute()))
        self.assertEqual(self.dsp.volume(), -26.0)
        self.service.state_changed(change("playing", "stopped"))  # Plexamp: the user's own
        self.assertTrue(self.dsp.wait_for(lambda d: d.volume() == -23.0))

    def test_what_it_held_when_the_last_run_died_is_given_back_on_the_next_play(self):
        held = Memory(Reading(-23.0, False), None, None, True)  # muted by the last run
        kept = []
        self.start(volume=-23.0, memory=held, remember=kept.append)
        self.dsp.set_mute(True)  # CamillaDSP still muted: that run was killed
        self.service.state_changed(change("playing", "paused"))
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute() and d.volume() == -23.0))
        self.assertTrue(self.dsp.wait_for(lambda d: kept and policy.memory_of(kept[-1])
                                          == policy.NOTHING_HELD))

    def test_what_it_holds_is_handed_over_to_keep(self):
        kept = []
        self.start(remember=kept.append)
        self.play_then_pause()
        self.assertTrue(self.dsp.wait_for(lambda d: kept and policy.memory_of(kept[-1]).muted))
        self.assertEqual(policy.memory_of(kept[-1]).user, Reading(-23.0, False))

    def test_a_soft_pause_fades_out_mutes_and_says_when_it_is_quiet(self):
        self.start()
        self.dsp.wait_for_command("GetMute")  # connected
        self.assertTrue(self.service.quiet("control", "Office", time.monotonic() + 5))
        changes = self.dsp.changes()
        self.assertEqual(changes[-1], ("SetMute", True))
        volumes = [argument for name, argument in changes if name == "SetVolume"]
        self.assertEqual(volumes, sorted(volumes, reverse=True))
        self.assertEqual(volumes[-1], -53.0)
        self.service.release("pause ignored", "Office")
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute() and d.volume() == -23.0))

    def test_a_play_heard_during_a_soft_pause_neither_cuts_its_fade_nor_opens_the_volume(self):
        """The player plays until it is paused: a change saying so is no reason to open."""
        self.start(pause=None, fade_out_ms=600)
        self.dsp.wait_for_command("GetMute")  # connected
        quiet = Background(lambda: self.service.quiet("control", "Office",
                                                      time.monotonic() + 5))
        self.dsp.wait_for_command("SetVolume")  # the fade has begun
        self.service.state_changed(change("playing", "stopped"))
        self.assertTrue(quiet.result())
        self.assertEqual(self.dsp.changes()[-1], ("SetMute", True))
        self.assertTrue(self.dsp.mute())
        self.service.state_changed(change("playing", "stopped"))  # still not paused: held
        self.service.state_changed(change("paused", "playing"))  # the pause took
        self.service.state_changed(change("playing", "paused"))  # a real play opens
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute() and d.volume() == -23.0))
        self.assertEqual([c for c in self.dsp.changes() if c[0] == "SetMute"],
                         [("SetMute", True), ("SetMute", False)])

    def test_a_source_fader_is_muted_kept_muted_across_a_restart_and_unmuted_at_stop(self):
        self.start(source_faders=(("spotify", "aux2"),))
        self.dsp.wait_for_command("GetMute")
        self.assertFalse(self.service.silence("airplay", True))  # no fader of its own
        self.assertTrue(self.service.silence("spotify", True))
        self.assertTrue(self.dsp.wait_for(lambda d: d.mute(2)))
        self.dsp.restart(statefile=False)  # back unmuted: muted again once reconnected
        self.play_then_pause()  # the pause's read finds the link gone
        self.assertTrue(self.dsp.wait_for(lambda d: d.connections >= 2 and d.mute(2), 6))
        self.assertTrue(self.service.stop(time.monotonic() + 1.5))
        self.assertEqual((self.dsp.mute(2), self.dsp.mute(0)), (False, False))

    def test_a_soft_pause_without_camilladsp_is_quiet_at_once(self):
        self.start()
        self.dsp.refuse()
        self.dsp.restart()
        started = time.monotonic()
        self.assertTrue(self.service.quiet("control", "Office", started + 5))
        self.assertLess(time.monotonic() - started, 1.5)

    def test_a_reply_that_never_comes_closes_the_connection_and_it_comes_back(self):
        self.start(timeout=0.2)
        self.dsp.wait_for_command("GetMute")  # connected and read
        self.dsp.fail("GetVolume", "stall", times=1)
        self.service.state_changed(change("playing", "stopped"))
        self.service.state_changed(change("paused", "playing"))
        self.wait_for_log("CamillaDSP connection lost; reconnecting", "WARN")
        self.assertTrue(self.dsp.wait_for(lambda d: d.mute(), 5))  # reconciled on reconnect
        self.assertEqual(self.dsp.connections, 2)
        self.wait_for_log("CamillaDSP connected again")

    def test_a_restart_mid_fade_is_reconciled_to_the_users_volume(self):
        self.start(fade_in_ms=1000)
        self.play_then_pause()
        self.service.state_changed(change("playing", "paused"))
        self.dsp.wait_for_command("SetVolume", 2)
        self.dsp.restart()
        self.assertTrue(self.dsp.wait_for(
            lambda d: d.connections >= 2 and d.volume() == -23.0 and not d.mute(), 6))

    def test_sound_at_the_capture_side_while_muted_restores(self):
        self.start(probe_every=0.05)
        self.play_then_pause()
        self.dsp.wait_for_command("GetCaptureSignalPeakSinceLast", 2)
        self.dsp.set_peaks([-12.0, -14.0])
        self.assertTrue(self.dsp.wait_for(lambda d: not d.mute()))
        self.assertEqual(self.wait_for_log(
            "CamillaDSP: sound arrives that no followed player explains; restoring the volume"),
            [{"peak_db": -12.0}])

    def test_no_capture_reads_while_nothing_is_held(self):
        self.start(probe_every=0.05)
        self.service.state_changed(change("playing", "stopped"))
        self.play_then_pause()
        self.service.state_changed(change("playing", "paused"))
        self.dsp.wait_for(lambda d: not d.mute())
        reads = len(self.dsp.commands("GetCaptureSignalPeakSinceLast"))
        self.assertFalse(self.dsp.wait_for(
            lambda d: len(d.commands("GetCaptureSignalPeakSinceLast")) > reads, 0.3))

    def test_stop_restores_what_it_holds_down(self):
        self.start()
        self.play_then_pause()
        self.assertTrue(self.service.stop(time.monotonic() + 1.5))
        self.assertFalse(self.dsp.mute())
        self.assertEqual(self.logs.find("CamillaDSP restored"),
                         [{"cause": "shutdown", "volume_db": -23.0}])

    def test_stop_is_in_time_while_camilladsp_hangs(self):
        self.start()
        self.play_then_pause()
        self.dsp.fail("GetVolume", "stall")
        started = time.monotonic()
        self.assertTrue(self.service.stop(started + 1.0))
        self.assertLess(time.monotonic() - started, 1.2)

    def test_status_reaches_the_main_loop(self):
        self.start()
        self.play_then_pause()
        self.dsp.wait_for(lambda d: self.service.status["mute"] is True)
        statuses = []
        while not self.actions.empty():
            statuses.append(self.actions.get().status)
        self.assertTrue(statuses[0]["connected"])
        self.assertEqual(statuses[-1]["version"], self.version)
        self.assertTrue(statuses[-1]["holding"])
        self.assertEqual(statuses[-1]["last_action"]["action"], "muted")


class Version2Test(ServiceTest):
    version = "2.0.3"

    def test_the_cap_on_play_uses_limits_from_3_x(self):
        self.start(pause=None, cap=-10.0, volume=0.0)
        self.service.state_changed(change("playing", "stopped"))
        self.assertTrue(self.dsp.wait_for(lambda d: d.volume() == -10.0))
        self.assertEqual(self.dsp.changes(), [("SetVolume", -10.0)])  # read, then set


class Version1Test(unittest.TestCase):
    def test_one_line_and_nothing_changed(self):
        with StandIn("1.0.3", volume=-23.0) as dsp, captured() as logs:
            service = CamillaDSP(dsp.url, Policy(MUTE, MUTE, None, 0), "main",
                                 lambda machine_id: True, queue.SimpleQueue())
            service.start()
            dsp.wait_for_command("GetVersion")
            service.state_changed(change("playing", "stopped"))
            service.state_changed(change("paused", "playing"))
            service.stop(time.monotonic() + 1)
            self.assertEqual(dsp.changes(), [])
            warnings = [text for text, _ in logs.levels("WARN")]
            self.assertEqual(warnings, ["CamillaDSP 1.0.3 has no Main volume or faders: "
                                        "StreamerBrainz changes nothing; upgrade CamillaDSP "
                                        "to 2.0 or later"])


if __name__ == "__main__":
    unittest.main()
