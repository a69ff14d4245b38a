"""CamillaDSP's command forms and reply checks, in the wire forms of the fact sheet."""

import json
import unittest

from streamerbrainz.camilladsp import protocol
from streamerbrainz.camilladsp.protocol import Commands, ReplyError, decode, encode


class EncodeTest(unittest.TestCase):

    def test_plain_object_and_array_forms(self):
        self.assertEqual(encode("GetVolume"), '"GetVolume"')
        self.assertEqual(json.loads(encode("SetVolume", -20.0)), {"SetVolume": -20.0})
        self.assertEqual(json.loads(encode("SetFaderVolume", [1, -20.0])),
                         {"SetFaderVolume": [1, -20.0]})
        self.assertEqual(json.loads(encode("SetMute", True)), {"SetMute": True})

    def test_nan_and_infinity_never_reach_the_wire(self):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    encode("SetVolume", bad)


class DecodeTest(unittest.TestCase):

    def test_ok_with_and_without_a_value(self):
        self.assertEqual(decode("GetVolume", '{"GetVolume":{"result":"Ok","value":-20.0}}'),
                         -20.0)
        self.assertIsNone(decode("SetVolume", '{"SetVolume":{"result":"Ok"}}'))
        self.assertEqual(decode("GetVersion", '{"GetVersion":{"result":"Ok","value":"4.1.3"}}'),
                         "4.1.3")

    def test_every_error_form_is_an_error_with_its_name(self):
        cases = [
            ('{"SetFaderVolume":{"result":"Error"}}', "Error"),  # 1.x to 3.x
            ('{"SetFaderVolume":{"result":"InvalidFaderError"}}', "InvalidFaderError"),  # 4.x
            ('{"SetFaderVolume":{"result":{"InvalidValueError":"too loud"}}}', "InvalidValueError"),
            ('{"SetFaderVolume":{"result":"ShutdownInProgressError"}}', "ShutdownInProgressError"),
        ]
        for text, name in cases:
            with self.subTest(text=text):
                with self.assertRaises(ReplyError) as caught:
                    decode("SetFaderVolume", text)
                self.assertEqual((caught.exception.kind, caught.exception.name), ("error", name))
                self.assertIn(name, str(caught.exception))

    def test_an_error_keeps_no_value_even_when_the_reply_has_one(self):
        """4.x answers a bad fader's Get with a default value: never believe it."""
        with self.assertRaises(ReplyError):
            decode("GetFaderVolume", '{"GetFaderVolume":{"result":"InvalidFaderError",'
                                     '"value":[7,0.0]}}')

    def test_invalid_says_the_server_did_not_understand(self):
        with self.assertRaises(ReplyError) as caught:
            decode("AdjustVolume", '{"Invalid":{"error":"unknown variant `AdjustVolume`"}}')
        self.assertEqual(caught.exception.kind, "invalid")
        self.assertIn("unknown variant", str(caught.exception))

    def test_a_reply_that_is_not_for_this_command_is_malformed(self):
        cases = ["", "not json", "[]", '"GetVolume"', "{}",
                 '{"GetMute":{"result":"Ok","value":false}}',  # a late reply to another command
                 '{"GetVolume":{"value":-20.0}}', '{"GetVolume":"Ok"}',
                 '{"GetVolume":{"result":42}}', '{"GetVolume":{"result":{"a":1,"b":2}}}',
                 '{"GetVolume":{"result":"Ok"},"GetMute":{"result":"Ok"}}', "[" * 100000]
        for text in cases:
            with self.subTest(text=text[:40]):
                with self.assertRaises(ReplyError) as caught:
                    decode("GetVolume", text)
                self.assertEqual(caught.exception.kind, "malformed")

    def test_error_text_is_one_short_printable_line(self):
        with self.assertRaises(ReplyError) as caught:
            decode("SetVolume", json.dumps({"SetVolume": {"result": {"ConfigReadError":
                                                                     "x\n\x1b[2J" + "y" * 5000}}}))
        text = str(caught.exception)
        self.assertNotIn("\n", text)
        self.assertNotIn("\x1b", text)
        self.assertLess(len(text), 500)


class ValuesTest(unittest.TestCase):

    def test_volume_must_be_a_finite_number(self):
        self.assertEqual(protocol.volume_of("GetVolume", -20), -20.0)
        for bad in (True, None, "-20", float("nan"), [1, -20.0]):
            with self.subTest(bad=bad):
                with self.assertRaises(ReplyError):
                    protocol.volume_of("GetVolume", bad)

    def test_mute_must_be_a_bool(self):
        self.assertIs(protocol.mute_of("GetMute", False), False)
        for bad in (0, 1, "false", None):
            with self.assertRaises(ReplyError):
                protocol.mute_of("GetMute", bad)

    def test_peaks(self):
        self.assertEqual(protocol.peaks_of("GetCaptureSignalPeakSinceLast", []), [])
        self.assertEqual(protocol.peaks_of("GetCaptureSignalPeak", [-100.5, -3]), [-100.5, -3.0])
        with self.assertRaises(ReplyError):
            protocol.peaks_of("GetCaptureSignalPeak", {"capture_peak": []})

    def test_versions(self):
        self.assertEqual(protocol.parse_version("4.1.3"), (4, 1, 3))
        self.assertEqual(protocol.parse_version("2.0"), (2, 0, 0))
        self.assertEqual(protocol.parse_version("v3.0.1-beta"), (3, 0, 1))
        for bad in ("", "four", None, 4, "1" * 10):
            with self.assertRaises(ValueError):
                protocol.parse_version(bad)

    def test_clamp(self):
        self.assertEqual(protocol.clamp(80), 50.0)
        self.assertEqual(protocol.clamp(-200), -150.0)
        with self.assertRaises(ValueError):
            protocol.clamp(float("nan"))


class CommandsTest(unittest.TestCase):

    def test_main_fader_forms(self):
        commands = Commands((4, 1, 3), "main")
        self.assertEqual(commands.get_volume(), ("GetVolume", protocol.NO_ARGUMENT))
        self.assertEqual(commands.get_mute(), ("GetMute", protocol.NO_ARGUMENT))
        self.assertEqual(commands.set_volume(-23.0), ("SetVolume", -23.0))
        self.assertEqual(commands.set_mute(True), ("SetMute", True))
        self.assertEqual(commands.cap_volume(-150, -10), ("AdjustVolume", [0.0, -150.0, -10.0]))
        self.assertEqual(commands.read_volume("GetVolume", -23.0), -23.0)

    def test_aux_fader_forms_never_name_main(self):
        commands = Commands((3, 0, 1), "aux1")
        self.assertEqual(commands.get_volume(), ("GetFaderVolume", 1))
        self.assertEqual(commands.get_mute(), ("GetFaderMute", 1))
        self.assertEqual(commands.set_volume(-23.0), ("SetFaderVolume", [1, -23.0]))
        self.assertEqual(commands.set_mute(False), ("SetFaderMute", [1, False]))
        self.assertEqual(commands.cap_volume(-150, -10),
                         ("AdjustFaderVolume", [1, [0.0, -150.0, -10.0]]))
        self.assertEqual(commands.read_volume("GetFaderVolume", [1, -23.0]), -23.0)
        self.assertIs(commands.read_mute("GetFaderMute", [1, True]), True)

    def test_a_fader_reply_for_another_fader_is_not_believed(self):
        commands = Commands((4, 1, 3), "aux2")
        for value in ([1, -23.0], [True, -23.0], -23.0, [2], None):
            with self.subTest(value=value):
                with self.assertRaises(ReplyError):
                    commands.read_volume("GetFaderVolume", value)

    def test_what_each_major_version_has(self):
        one, two, three = Commands((1, 0, 3)), Commands((2, 0, 3)), Commands((3, 0, 1))
        self.assertFalse(one.supported)
        self.assertTrue(two.supported)
        self.assertFalse(two.has_limits)
        self.assertFalse(two.has_get_faders)
        self.assertTrue(three.has_limits)
        with self.assertRaises(ValueError):
            two.cap_volume(-150, -10)
        self.assertEqual(one.capture_peak(), ("GetCaptureSignalPeak", protocol.NO_ARGUMENT))
        self.assertEqual(two.capture_peak(),
                         ("GetCaptureSignalPeakSinceLast", protocol.NO_ARGUMENT))

    def test_a_volume_is_clamped_before_it_is_sent(self):
        self.assertEqual(Commands((4, 0, 0)).set_volume(99.0), ("SetVolume", 50.0))


if __name__ == "__main__":
    unittest.main()
