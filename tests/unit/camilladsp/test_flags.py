"""The CamillaDSP flags as a user types them: parsed values, and one line for a mistake."""

import unittest

from streamerbrainz.app import config
from streamerbrainz.app.config import ConfigError
from streamerbrainz.camilladsp.policy import MUTE


def build(cli, environ=None):
    environ = environ or {}
    return config.build(config.gather(cli, environ), environ)


def error(cli, environ=None):
    with unittest.TestCase().assertRaises(ConfigError) as caught:
        build(cli, environ)
    return str(caught.exception)


class CamillaDSPFlagsTest(unittest.TestCase):
    def test_off_by_default(self):
        settings = build({})
        self.assertEqual(settings.camilladsp_url, "")
        self.assertIsNone(settings.camilladsp_pause)
        self.assertIsNone(settings.camilladsp_idle)
        self.assertIsNone(settings.camilladsp_max_volume)
        self.assertEqual(settings.camilladsp_fader, "main")
        self.assertEqual(settings.camilladsp_fade_in_ms, 1500)

    def test_the_values_a_user_types(self):
        settings = build({"camilladsp-url": "ws://127.0.0.1:1234", "camilladsp-pause": "mute",
                          "camilladsp-idle": "-40", "camilladsp-max-volume": "-6",
                          "camilladsp-fader": "Aux1"})
        self.assertEqual((settings.camilladsp_pause, settings.camilladsp_idle), (MUTE, -40.0))
        self.assertEqual(settings.camilladsp_max_volume, -6.0)
        self.assertEqual(settings.camilladsp_fader, "aux1")

    def test_a_bad_url_names_the_flag_and_an_example(self):
        self.assertEqual(error({"camilladsp-url": "ws://127.0.0.1"}),
                         "-camilladsp-url: needs the port CamillaDSP listens on (its -p), "
                         "e.g. ws://127.0.0.1:1234")
        self.assertIn("must start with ws://", error({"camilladsp-url": "http://pi:1234"}))
        self.assertIn("wss:// (websocket over TLS) is not supported",
                      error({"camilladsp-url": "wss://pi:1234"}))

    def test_a_bad_level_fader_or_cap_is_one_line(self):
        self.assertIn("-camilladsp-pause: 'loud' is not mute, off or a level",
                      error({"camilladsp-pause": "loud"}))
        self.assertEqual(error({"camilladsp-fader": "aux5"}),
                         "-camilladsp-fader: 'aux5' is not one of main, aux1, aux2, aux3, aux4")
        self.assertTrue(error({"camilladsp-max-volume": "loud"}).startswith(
            "-camilladsp-max-volume"))

    def test_source_faders_and_their_mistakes(self):
        settings = build({"camilladsp-source-fader": ["Spotify=Aux2", "airplay=aux3"]})
        self.assertEqual(settings.camilladsp_source_fader, (("airplay", "aux3"),
                                                            ("spotify", "aux2")))
        self.assertEqual(build({}).camilladsp_source_fader, ())
        for value, message in (
                ("spotify", "-camilladsp-source-fader: 'spotify' is not SOURCE=aux1..aux4 "
                            "(e.g. spotify=aux2)"),
                ("spotify=main", "-camilladsp-source-fader: 'spotify=main' is not "
                                 "SOURCE=aux1..aux4 (e.g. spotify=aux2)"),
                ("spotify=aux2,airplay=aux2",
                 "-camilladsp-source-fader: aux2 is given to two sources")):
            with self.subTest(value=value):
                self.assertEqual(error({"camilladsp-source-fader": [value]}), message)
        self.assertEqual(error({"camilladsp-fader": "aux1",
                                "camilladsp-source-fader": ["spotify=aux1"]}),
                         "-camilladsp-source-fader: aux1 is -camilladsp-fader already; give "
                         "spotify a fader of its own")

    def test_source_volumes_and_their_mistakes(self):
        settings = build({"camilladsp-source-volume": ["Spotify=-3", "airplay=-1.5"]})
        self.assertEqual(settings.camilladsp_source_volume, (("airplay", -1.5),
                                                             ("spotify", -3.0)))
        for value in ("spotify", "spotify=loud", "spotify=-31", "=-3", "spotify=nan"):
            with self.subTest(value=value):
                self.assertEqual(error({"camilladsp-source-volume": [value]}),
                                 "-camilladsp-source-volume: %r is not SOURCE=DB with DB from "
                                 "-30 to 30 (e.g. spotify=-3)" % value)

    def test_a_bad_value_from_the_environment_names_its_variable(self):
        message = error({}, {"STREAMERBRAINZ_CAMILLADSP_IDLE": "soft"})
        self.assertTrue(message.startswith("STREAMERBRAINZ_CAMILLADSP_IDLE: "), message)
        self.assertTrue(message.endswith("(-camilladsp-idle)"), message)


if __name__ == "__main__":
    unittest.main()
