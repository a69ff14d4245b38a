"""The stand-in CamillaDSP (tests/support/camilladsp.py) through the real websocket client.

Each reply is read with ``protocol.decode``, so the stand-in's forms are the
ones the protocol module expects. No test sleeps: each waits on the
client's own deadline or on the stand-in's condition.
"""

import json
import threading
import time
import unittest

from streamerbrainz.camilladsp import protocol
from streamerbrainz.camilladsp.protocol import ReplyError, decode, encode
from streamerbrainz.lib.websocket import WebSocket, WebSocketError
from tests.support.camilladsp import SILENCE, StandInCamillaDSP

NO_ARGUMENT = protocol.NO_ARGUMENT


class Case(unittest.TestCase):

    def dsp(self, version="4.1.3", **options):
        dsp = StandInCamillaDSP(version, **options).start()
        self.addCleanup(dsp.stop)
        return dsp

    def connect(self, dsp, timeout=2.0):
        ws = WebSocket.connect(dsp.url, timeout)
        self.addCleanup(ws.close, 0)
        self.addCleanup(ws.abort)
        return ws

    def text(self, ws, command, argument=NO_ARGUMENT, text=None, seconds=2.0):
        """Send one command (or raw ``text``); the reply's text."""
        deadline = time.monotonic() + seconds
        ws.send_text(encode(command, argument) if text is None else text, deadline)
        return ws.receive(deadline)

    def call(self, ws, command, argument=NO_ARGUMENT):
        """Send one command; its reply's value, through the protocol module."""
        return decode(command, self.text(ws, command, argument))

    def refused(self, ws, command, argument=NO_ARGUMENT):
        """The ReplyError the reply to ``command`` is."""
        text = self.text(ws, command, argument)
        with self.assertRaises(ReplyError) as caught:
            decode(command, text)
        return caught.exception, json.loads(text)


class Version4Test(Case):

    def test_version_volume_faders(self):
        dsp = self.dsp("4.1.3", volume=-23.0)
        ws = self.connect(dsp)
        self.assertEqual(self.call(ws, "GetVersion"), "4.1.3")
        self.assertEqual(self.call(ws, "GetVolume"), -23.0)
        self.assertIs(self.call(ws, "GetMute"), False)
        self.assertIsNone(self.call(ws, "SetFaderVolume", [1, -20.0]))
        self.assertEqual(dsp.volume(1), -20.0)
        self.assertEqual(self.call(ws, "GetFaderVolume", 1), [1, -20.0])
        faders = self.call(ws, "GetFaders")
        self.assertEqual(len(faders), 5)
        self.assertEqual(faders[0], {"volume": -23.0, "mute": False})
        self.assertEqual(faders[1], {"volume": -20.0, "mute": False})
        self.assertEqual(self.call(ws, "GetConfigFilePath"), "/etc/camilladsp/config.yml")
        self.assertEqual(self.call(ws, "GetState"), "Running")
        self.assertEqual(dsp.errors, [])

    def test_volumes_clamp_and_adjust_within_limits(self):
        dsp = self.dsp(volume=-23.0)
        ws = self.connect(dsp)
        self.call(ws, "SetVolume", 80)
        self.assertEqual(dsp.volume(), 50.0)
        self.call(ws, "SetVolume", -200.0)
        self.assertEqual(self.call(ws, "AdjustVolume", -3.0), -150.0)
        self.call(ws, "SetVolume", -23.0)
        self.assertEqual(self.call(ws, "AdjustVolume", [0.0, -80.0, -30.0]), -30.0)
        self.assertEqual(self.call(ws, "AdjustFaderVolume", [2, [-3.0, -50.0, 10.0]]),
                         [2, -3.0])
        self.assertIs(self.call(ws, "ToggleMute"), True)
        self.assertEqual(self.call(ws, "ToggleFaderMute", 3), [3, True])
        self.assertEqual(dsp.faders()[3], (0.0, True))

    def test_a_fader_of_7_is_an_invalid_fader_error(self):
        ws = self.connect(self.dsp("4.0.0"))
        for command, argument in (("SetFaderVolume", [7, -20.0]), ("GetFaderVolume", 7),
                                  ("SetFaderMute", [7, True])):
            with self.subTest(command=command):
                err, reply = self.refused(ws, command, argument)
                self.assertEqual((err.kind, err.name), ("error", "InvalidFaderError"))
        self.assertEqual(reply_value(self.refused(ws, "GetFaderVolume", 7)), [7, 0.0])

    def test_limits_with_max_below_min_are_an_invalid_value_error_that_changes_nothing(self):
        dsp = self.dsp(volume=-23.0)
        ws = self.connect(dsp)
        err, reply = self.refused(ws, "AdjustVolume", [0.0, -10.0, -50.0])
        self.assertEqual((err.kind, err.name), ("error", "InvalidValueError"))
        self.assertEqual(list(reply["AdjustVolume"]["result"]), ["InvalidValueError"])
        self.assertEqual(reply["AdjustVolume"]["value"], -23.0)
        self.assertEqual(dsp.volume(), -23.0)

    def test_what_is_not_a_command_is_invalid_and_the_connection_stays(self):
        ws = self.connect(self.dsp())
        for text in ('"GetVolumes"', "{not json", '{"SetVolume": NaN}', '{"SetVolume": "loud"}',
                     '{"SetFaderVolume": [-1, 0.0]}', '{"GetVolume": 1}', '"SetVolume"', "[]"):
            with self.subTest(text=text):
                with self.assertRaises(ReplyError) as caught:
                    decode("SetVolume", self.text(ws, None, text=text))
                self.assertEqual(caught.exception.kind, "invalid")
        self.assertEqual(self.call(ws, "GetVersion"), "4.1.3")

    def test_binary_frames_get_no_reply(self):
        ws = self.connect(self.dsp())
        ws.send_binary(b"GetVolume", time.monotonic() + 2)
        self.assertEqual(self.call(ws, "GetVersion"), "4.1.3")

    def test_the_user_at_the_knob(self):
        dsp = self.dsp(volume=-23.0)
        ws = self.connect(dsp)
        dsp.set_volume(-30.0)
        dsp.set_mute(True)
        dsp.set_volume(-12.5, fader=2)
        self.assertEqual(self.call(ws, "GetVolume"), -30.0)
        self.assertIs(self.call(ws, "GetMute"), True)
        self.assertEqual(self.call(ws, "GetFaderVolume", 2), [2, -12.5])
        self.assertEqual((dsp.volume(), dsp.mute()), (-30.0, True))
        with self.assertRaises(ValueError):
            dsp.set_volume(0.0, fader=5)


class OlderVersionsTest(Case):

    def test_3x_has_limits_and_says_error(self):
        ws = self.connect(self.dsp("3.0.1", volume=-23.0))
        self.assertEqual(self.call(ws, "AdjustVolume", [0.0, -80.0, -30.0]), -30.0)
        self.assertEqual(len(self.call(ws, "GetFaders")), 5)
        err, _ = self.refused(ws, "SetFaderVolume", [7, -20.0])
        self.assertEqual((err.kind, err.name), ("error", "Error"))
        err, _ = self.refused(ws, "AdjustVolume", [0.0, -10.0, -50.0])
        self.assertEqual(err.name, "Error")

    def test_2x_has_faders_and_plain_deltas_only(self):
        dsp = self.dsp("2.0.3", volume=-23.0)
        ws = self.connect(dsp)
        self.assertEqual(self.call(ws, "AdjustVolume", -3.0), -26.0)
        self.assertEqual(self.call(ws, "AdjustFaderVolume", [1, -3.0]), [1, -3.0])
        self.assertEqual(self.call(ws, "GetFaderMute", 1), [1, False])
        self.assertIs(self.call(ws, "ToggleMute"), True)
        for command, argument in (("AdjustVolume", [0.0, -80.0, -10.0]),
                                  ("AdjustFaderVolume", [1, [0.0, -80.0, -10.0]]),
                                  ("GetFaders", NO_ARGUMENT), ("GetConfigName", NO_ARGUMENT)):
            with self.subTest(command=command):
                self.assertEqual(self.refused(ws, command, argument)[0].kind, "invalid")
        self.assertEqual(dsp.volume(), -26.0)
        self.assertEqual(self.refused(ws, "GetFaderVolume", 9)[0].name, "Error")

    def test_1x_has_no_faders(self):
        ws = self.connect(self.dsp("1.0.3", volume=-23.0))
        for command, argument in (("GetFaderVolume", 1), ("SetFaderVolume", [1, -20.0]),
                                  ("ToggleMute", NO_ARGUMENT), ("AdjustVolume", -3.0),
                                  ("GetFaders", NO_ARGUMENT), ("GetConfigFilePath", NO_ARGUMENT),
                                  ("GetCaptureSignalPeakSinceLast", NO_ARGUMENT)):
            with self.subTest(command=command):
                err, reply = self.refused(ws, command, argument)
                self.assertEqual(err.kind, "invalid")
                self.assertEqual(list(reply), ["Invalid"])
        self.assertEqual(self.call(ws, "GetVolume"), -23.0)
        self.assertIsNone(self.call(ws, "SetMute", True))
        self.assertIs(self.call(ws, "GetMute"), True)
        self.assertEqual(self.call(ws, "GetConfigName"), "/etc/camilladsp/config.yml")
        self.assertEqual(self.call(ws, "GetCaptureSignalPeak"), list(SILENCE))

    def test_versions_are_x_y_z(self):
        for bad in ("4", "four", "4.1"):
            with self.assertRaises(ValueError):
                StandInCamillaDSP(bad)


class FaultTest(Case):

    def test_a_stall_makes_receive_time_out_and_keeps_the_connection(self):
        dsp = self.dsp()
        dsp.fail("GetVolume", "stall", times=1)
        ws = self.connect(dsp)
        ws.send_text(encode("GetVolume"), time.monotonic() + 1)
        with self.assertRaises(WebSocketError) as caught:
            ws.receive(time.monotonic() + 0.2)
        self.assertEqual(caught.exception.kind, "timeout")
        self.assertTrue(ws.connected)
        self.assertEqual(self.call(self.connect(dsp), "GetVolume"), 0.0)  # times=1: used up

    def test_hangup_and_reset_are_disconnects(self):
        dsp = self.dsp()
        for kind, words in (("hangup", "without a close frame"), ("reset", "")):
            with self.subTest(kind=kind):
                dsp.fail("GetMute", kind)
                ws = self.connect(dsp)
                with self.assertRaises(WebSocketError) as caught:
                    self.text(ws, "GetMute")
                self.assertEqual(caught.exception.kind, "network")
                self.assertIn(words, str(caught.exception))
                self.assertFalse(ws.connected)

    def test_bad_replies_read_as_the_protocol_module_reads_them(self):
        dsp = self.dsp()
        ws = self.connect(dsp)
        for kind, expected in (("invalid", "invalid"), ("error", "error"),
                               ("malformed", "malformed"), ("garbage", "malformed")):
            with self.subTest(kind=kind):
                dsp.fail("GetVolume", kind, times=1)
                with self.assertRaises(ReplyError) as caught:
                    self.call(ws, "GetVolume")
                self.assertEqual(caught.exception.kind, expected)
        dsp.fail("GetVolume", "wrong_type", times=1)
        with self.assertRaises(ReplyError):
            protocol.volume_of("GetVolume", self.call(ws, "GetVolume"))
        self.assertEqual(self.call(ws, "GetVolume"), 0.0)

    def test_an_applied_fault_makes_the_change_and_loses_the_reply(self):
        dsp = self.dsp()
        dsp.fail("SetVolume", "hangup", apply=True)
        with self.assertRaises(WebSocketError):
            self.text(self.connect(dsp), "SetVolume", -40.0)
        self.assertEqual(dsp.volume(), -40.0)
        dsp.heal()
        self.assertIsNone(self.call(self.connect(dsp), "SetVolume", -41.0))

    def test_drop_after_answers_n_commands_then_hangs_up(self):
        dsp = self.dsp()
        ws = self.connect(dsp)
        dsp.drop_after(2)
        self.call(ws, "SetVolume", -10.0)
        self.call(ws, "SetVolume", -20.0)
        with self.assertRaises(WebSocketError) as caught:
            self.text(ws, "SetVolume", -30.0)
        self.assertEqual(caught.exception.kind, "network")
        self.assertEqual(dsp.volume(), -20.0)
        self.assertEqual(self.call(self.connect(dsp), "GetVolume"), -20.0)

    def test_refuse_then_accept_on_the_same_port(self):
        dsp = self.dsp()
        url = dsp.url
        ws = self.connect(dsp)
        dsp.refuse(True)
        start = time.monotonic()
        with self.assertRaises(WebSocketError) as caught:
            WebSocket.connect(url, 2.0)
        self.assertEqual(caught.exception.kind, "network")
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(self.call(ws, "GetVersion"), "4.1.3")  # those open stay open
        dsp.refuse(False)
        self.assertEqual(dsp.url, url)
        self.assertEqual(self.call(self.connect(dsp), "GetVersion"), "4.1.3")
        self.assertEqual((dsp.connections, dsp.refused), (2, 1))

    def test_a_restart_drops_every_connection_and_keeps_the_volumes(self):
        dsp = self.dsp(volume=-23.0)
        first, second = self.connect(dsp), self.connect(dsp)
        dsp.set_volume(-7.0, fader=4)
        dsp.fail("GetState", "stall")
        first.send_text(encode("GetState"), time.monotonic() + 1)
        dsp.wait_for_command("GetState")
        self.assertTrue(dsp.restart())
        for ws in (first, second):
            with self.assertRaises(WebSocketError):
                ws.receive(time.monotonic() + 2)
        ws = self.connect(dsp)
        self.assertEqual(self.call(ws, "GetVolume"), -23.0)
        self.assertEqual(self.call(ws, "GetFaderVolume", 4), [4, -7.0])
        dsp.restart(statefile=False, mute=True)
        self.assertEqual(dsp.faders()[0], (0.0, True))


class RecordTest(Case):

    def test_every_command_with_its_argument_time_and_connection(self):
        dsp = self.dsp()
        before = time.monotonic()
        one, two = self.connect(dsp), self.connect(dsp)
        self.call(one, "GetVersion")
        self.call(two, "SetFaderVolume", [1, -20.0])
        self.text(one, None, text="{oops")
        after = time.monotonic()
        commands = dsp.commands()
        self.assertEqual([(c.name, c.argument, c.connection) for c in commands],
                         [("GetVersion", None, 1), ("SetFaderVolume", [1, -20.0], 2),
                          (None, None, 1)])
        self.assertEqual(commands[2].text, "{oops")
        self.assertTrue(all(before <= c.at <= after for c in commands))
        self.assertEqual([c.at for c in commands], sorted(c.at for c in commands))
        self.assertEqual(dsp.commands_named("SetFaderVolume", "SetVolume"), commands[1:2])
        self.assertEqual(dsp.commands("SetFaderVolume"), commands[1:2])
        self.assertEqual(dsp.changes(), [("SetFaderVolume", [1, -20.0])])
        self.assertEqual(dsp.connections, 2)
        self.assertTrue(dsp.wait_for(lambda d: d.volume(1) == -20.0))

    def test_wait_for_a_command_after_a_count_looks_at_the_new_ones_only(self):
        dsp = self.dsp()
        ws = self.connect(dsp)
        self.call(ws, "GetVolume")
        after = dsp.command_count
        self.assertEqual(after, 1)
        with self.assertRaises(AssertionError):
            dsp.wait_for_command("GetVolume", after=after, timeout=0.05)
        self.call(ws, "GetVolume")
        self.assertIs(dsp.wait_for_command("GetVolume", after=after), dsp.commands()[1])

    def test_wait_for_a_command_sent_from_another_thread(self):
        dsp = self.dsp()
        ws = self.connect(dsp)
        since = time.monotonic()
        sender = threading.Thread(target=lambda: [self.call(ws, "SetVolume", v)
                                                  for v in (-10.0, -11.0)])
        sender.start()
        self.addCleanup(sender.join, 5)
        second = dsp.wait_for_command("SetVolume", count=2, since=since)
        self.assertEqual(second.argument, -11.0)
        found = dsp.wait_for_command(lambda c: c.argument == -10.0)
        self.assertLess(found.at, second.at)
        with self.assertRaises(AssertionError):
            dsp.wait_for_command("GetFaders", timeout=0.05)
        self.assertTrue(dsp.wait_for_connections(1))


class PeaksTest(Case):

    def test_peaks_now_and_since_last(self):
        dsp = self.dsp()
        ws = self.connect(dsp)
        self.assertEqual(self.call(ws, "GetCaptureSignalPeak"), [-120.0, -120.0])
        self.call(ws, "GetCaptureSignalPeakSinceLast")  # the first: since it connected
        self.assertEqual(self.call(ws, "GetCaptureSignalPeakSinceLast"), [])
        dsp.set_capture_peaks([-12.0, -14.0])
        value = self.call(ws, "GetCaptureSignalPeakSinceLast")
        self.assertEqual(protocol.peaks_of("GetCaptureSignalPeakSinceLast", value),
                         [-12.0, -14.0])
        self.assertEqual(self.call(ws, "GetCaptureSignalPeakSinceLast"), [])
        self.assertEqual(self.call(ws, "GetCaptureSignalPeak"), [-12.0, -14.0])
        other = self.connect(dsp)
        self.assertEqual(self.call(other, "GetCaptureSignalPeakSinceLast"), [-12.0, -14.0])


def reply_value(refused):
    _, reply = refused
    (body,) = reply.values()
    return body.get("value")


if __name__ == "__main__":
    unittest.main()
