"""The settings file with the real daemon: read at start, refused before binding, SIGHUP.

Each test starts the daemon beside a stand-in Plex with ``-config`` naming
a file in a temporary directory, and checks what a Pi owner would see:
the log lines, the exit status, a hook that runs, a webhook still taken.
"""

import os
import signal
import socket
import sys
import tempfile

from tests.support import webhooks
from tests.support.daemon import Daemon, E2ECase, free_port, start_daemon, start_stub, wait_for
from tests.support.webhooks import fixture

RECORD = "import os, sys; open(sys.argv[1], 'a').write(os.environ['SB_EVENT'] + '\\n')"


class SettingsCase(E2ECase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.path = os.path.join(self.dir, "streamerbrainz.conf")
        self.heard = os.path.join(self.dir, "heard")

    def write(self, text, mode=0o600):
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(self.path, mode)

    def hook(self):
        """An on-play line that appends each event a hook hears to ``self.heard``."""
        return "on-play = %s -c \"%s\" %s\n" % (sys.executable, RECORD, self.heard)

    def heard_events(self):
        try:
            with open(self.heard, encoding="utf-8") as handle:
                return handle.read().split()
        except FileNotFoundError:
            return []

    def start(self, text, log_level=None):
        self.write(text)
        self.stub = start_stub(self, fixture("sessions_empty.xml"))
        self.daemon = start_daemon(self, self.stub, log_level=log_level,
                                   extra_args=["-config", self.path])
        self.assertTrue(self.stub.wait_for_count(1, 5), self.daemon.log())
        return self.daemon

    def play(self):
        """A play webhook whose fetch finds the track playing; its state line."""
        mark = self.daemon.mark()
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        self.wait_state("playing", start=mark)

    def reload(self, text, line):
        mark = self.daemon.mark()
        self.write(text)
        self.daemon.send_signal(signal.SIGHUP)
        return self.daemon.wait_for_line(line, start=mark)


class StartTest(SettingsCase):

    def test_the_file_is_read_and_its_hook_runs(self):
        daemon = self.start("[hooks]\n" + self.hook())
        daemon.wait_for_line("settings file read file=%s" % self.path)
        self.play()
        self.assertTrue(wait_for(lambda: self.heard_events() == ["play"]), daemon.log())

    def test_a_bad_file_is_one_line_and_exit_2_before_anything_binds(self):
        port = free_port()
        cases = [
            ("[plex]\nmachine-ids = x\n", 0o600,
             "%s:2: [plex] machine-ids: unknown key; did you mean machine-id?" % self.path),
            ("[plex]\n", 0o666,
             "%s: may be written by its group or by anyone, and it names commands the daemon "
             "runs; make it the owner's alone (chmod go-w %s)" % (self.path, self.path)),
        ]
        for text, mode, wanted in cases:
            with self.subTest(mode=oct(mode)):
                self.write(text, mode)
                daemon = Daemon(["-config", self.path, "-webhooks-port", str(port),
                                 "-webhooks-bind", "127.0.0.1"])
                self.addCleanup(daemon.stop)
                self.assertEqual(daemon.wait_exit(10), 2)
                daemon.wait_output_closed()
                self.assertEqual(daemon.lines(), ["streamerbrainz: " + wanted])
                with socket.socket() as probe:  # the port was never bound
                    probe.bind(("127.0.0.1", port))


class ReloadTest(SettingsCase):

    def test_a_live_setting_takes_effect_at_sighup(self):
        daemon = self.start("[general]\nlog-level = info\n")
        self.assertEqual(daemon.matching("[DEBUG]"), [])
        self.reload("[general]\nlog-level = debug\n[hooks]\n" + self.hook(),
                    "SIGHUP: settings applied changed=-on-play,-log-level")
        mark = daemon.mark()
        self.play()
        self.assertTrue(wait_for(lambda: self.heard_events() == ["play"]), daemon.log())
        self.assertTrue(daemon.matching("[DEBUG]", start=mark), daemon.log())

    def test_a_setting_that_needs_a_restart_is_named_and_the_running_one_stays(self):
        daemon = self.start("[hooks]\n" + self.hook())
        line = self.reload("[webhooks]\nallow = 192.0.2.0/24\n[hooks]\n" + self.hook(),
                           "SIGHUP: a changed setting needs a restart")
        self.assertIn("[WARN]", line)
        self.assertTrue(line.endswith("setting=-webhooks-allow"), line)
        self.assertEqual(daemon.matching("SIGHUP: settings applied"), [])
        self.play()  # from 127.0.0.1, which the new allow list would refuse
        self.assertTrue(wait_for(lambda: self.heard_events() == ["play"]), daemon.log())

    def test_a_file_that_does_not_validate_changes_nothing_and_the_daemon_runs_on(self):
        daemon = self.start("[hooks]\n" + self.hook())
        line = self.reload("[hooks]\non-play = /bin/false\n[plex]\nmachine-ids = x\n",
                           "SIGHUP: the settings do not validate; nothing changed")
        self.assertIn("[ERROR]", line)
        self.assertIn("%s:4: [plex] machine-ids: unknown key; did you mean machine-id?"
                      % self.path, line)
        self.assertEqual(daemon.matching("SIGHUP: settings applied"), [])
        self.play()
        self.assertTrue(wait_for(lambda: self.heard_events() == ["play"]), daemon.log())
        self.assertTrue(daemon.running())
        status, _, _ = webhooks.get(daemon.port, "/healthz")
        self.assertEqual(status, 200)
