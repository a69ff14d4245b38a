"""``streamerbrainz camilladsp``: the set-up check prints what it found, or one line."""

import io
import unittest
import unittest.mock

from streamerbrainz.app import config
from streamerbrainz.app.commands import camilladsp
from tests.support.camilladsp import StandIn


def settings(url, fader="main"):
    values = config.gather({"camilladsp-url": url, "camilladsp-fader": fader}, {}, "camilladsp")
    return config.build(values, {})


class CamillaDSPCommandTest(unittest.TestCase):
    def run_command(self, url, fader="main"):
        out = io.StringIO()
        with unittest.mock.patch("sys.stderr", new_callable=io.StringIO) as err:
            status = camilladsp.main(settings(url, fader), out)
        return status, out.getvalue(), err.getvalue()

    def test_version_state_config_and_every_fader_and_nothing_changed(self):
        with StandIn(volume=-23.0) as dsp:
            dsp.set_mute(True, fader=2)
            status, out, err = self.run_command(dsp.url, "aux2")
            self.assertEqual(dsp.changes(), [])
            port = dsp.server.port
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "CamillaDSP 4.1.3 at 127.0.0.1:%d" % port)
        self.assertEqual(lines[1:3], ["state: Running", "config: /etc/camilladsp/config.yml"])
        self.assertEqual(lines[4].split(), ["FADER", "VOLUME", "DB", "MUTE", "DRIVEN"])
        self.assertEqual([line.split() for line in lines[5:]], [
            ["main", "-23.0", "no", "no"], ["aux1", "0.0", "no", "no"],
            ["aux2", "0.0", "yes", "yes"], ["aux3", "0.0", "no", "no"],
            ["aux4", "0.0", "no", "no"]])

    def test_2_x_reads_each_fader_without_getfaders(self):
        with StandIn("2.0.3", volume=-10.0) as dsp:
            status, out, _ = self.run_command(dsp.url)
            self.assertEqual(dsp.commands("GetFaders"), [])
        self.assertEqual(status, 0)
        self.assertIn("main   -10.0", out)

    def test_1_x_says_it_would_change_nothing(self):
        with StandIn("1.0.3") as dsp:
            status, out, _ = self.run_command(dsp.url)
        self.assertEqual(status, 0)
        self.assertIn("version 1.0.3 has no Main volume or faders", out)

    def test_nothing_listening_is_one_line_and_status_1(self):
        with StandIn() as dsp:
            url = dsp.url
        status, out, err = self.run_command(url)
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(err, "streamerbrainz: cannot connect to CamillaDSP at %s: connection "
                              "refused\n" % url[len("ws://"):])

    def test_a_reply_that_never_comes_is_one_line(self):
        with StandIn() as dsp:
            dsp.fail("GetState", "stall")
            with unittest.mock.patch.object(camilladsp, "TIMEOUT", 0.3):
                status, _, err = self.run_command(dsp.url)
        self.assertEqual(status, 1)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn("no whole message within", err)

    def test_without_a_url_it_is_a_usage_error(self):
        status, _, err = self.run_command("")
        self.assertEqual(status, 2)
        self.assertEqual(err, "streamerbrainz: -camilladsp-url: required, e.g. "
                              "ws://127.0.0.1:1234\n")


if __name__ == "__main__":
    unittest.main()
