"""The ``players`` listing's suggestions: the command as the user started it."""

import os
import shutil
import sys
import unittest

from streamerbrainz.app import config
from streamerbrainz.app.commands import players

CONFIG = config.Config(plex_server_url="http://plex.home.arpa:32400",
                       plex_token_file="/etc/streamerbrainz/plex-token")


class ProgramTest(unittest.TestCase):

    def test_python_dash_m_names_the_interpreter_the_shell_finds(self):
        python3 = shutil.which("python3")
        if python3 is None:
            self.skipTest("no python3 on PATH")
        self.assertEqual(players.program("/opt/sb/streamerbrainz/__main__.py", python3),
                         "python3 -m streamerbrainz")

    def test_an_interpreter_the_shell_would_not_find_is_named_by_its_path(self):
        path = os.path.join(os.path.dirname(sys.executable), "..", "bin", "python-not-on-path")
        self.assertEqual(players.program("__main__.py", path), path + " -m streamerbrainz")

    def test_the_console_script(self):
        self.assertEqual(players.program("/nowhere/bin/streamerbrainz"),
                         "/nowhere/bin/streamerbrainz")


class SuggestionsTest(unittest.TestCase):

    def test_start_command(self):
        self.assertEqual(players.start_command(CONFIG, "abc", "python3 -m streamerbrainz"),
                         "python3 -m streamerbrainz -plex-server-url http://plex.home.arpa:32400 "
                         "-plex-token-file /etc/streamerbrainz/plex-token -plex-machine-id abc")

    def test_settings_lines_name_no_token_file_and_every_player(self):
        self.assertEqual(players.settings_lines(CONFIG, ["abc", "def"]),
                         ["[plex]", "server-url = http://plex.home.arpa:32400",
                          "machine-id = abc, def"])
