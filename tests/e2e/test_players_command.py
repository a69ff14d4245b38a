"""End to end: ``python -m streamerbrainz players`` lists what Plex plays, and where."""

import os
import sys
import unittest

from tests.support.daemon import MACHINE_ID, run_cli, start_stub, write_token
from tests.support.plexstub import DEFAULT_TOKEN
from tests.support.webhooks import fixture

# (player title, product, platform, state, machine identifier, what is playing)
MANY_ROWS = [
    ("Living Room", "Plex for Android (TV)", "Android", "playing", "7f3e0c5a9b1d2e4f",
     ("Big Buck Bunny",)),
    ("Kitchen iPhone", "Plexamp", "iOS", "paused", "5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f",
     ("David Bowie", "Heroes")),
    ("Office", "Plexamp", "Linux", "playing", MACHINE_ID, ("Talking Heads", "Once in a Lifetime")),
    ("Studio Mac", "Plexamp", "macOS", "buffering", "d2c4e6f8-1a3b-4c5d-9e7f-a1b2c3d4e5f6",
     ("Donna Summer", "I Feel Love")),
    ("Firefox", "Plex Web", "Firefox", "playing", "sww38hk3rsict7h16i0dfmd4", ("Beach at dusk",)),
]


class PlayersCommandTests(unittest.TestCase):

    def run_players(self, sessions, stub_token=DEFAULT_TOKEN, token=DEFAULT_TOKEN):
        self.stub = start_stub(self, fixture(sessions), token=stub_token)
        self.token = token
        token_file = write_token(self, token)
        result = run_cli(["players", "-plex-server-url", self.stub.url,
                          "-plex-token-file", token_file])
        self.assertNotIn("Traceback", result.stderr)
        for stream in (result.stdout, result.stderr):
            self.assertNotIn(token, stream, "the token leaked into the output")
        for request in self.stub.all_requests():
            self.assertNotIn(token, request.raw_path, "the token was sent in a URL")
        return result

    def row(self, stdout, machine_id):
        rows = [line for line in stdout.splitlines() if machine_id in line
                and " -m streamerbrainz " not in line and "machine-id = " not in line]
        return rows

    @staticmethod
    def commands(stdout):
        """The suggested command lines: the interpreter that ran, ``-m streamerbrainz``."""
        started = os.path.basename(sys.executable), sys.executable
        return [line.strip() for line in stdout.splitlines()
                if line.strip().partition(" -m streamerbrainz ")[0] in started]

    def test_table_has_one_row_per_session_and_ends_with_the_command(self):
        result = self.run_players("sessions_many.xml")
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        for title, product, platform, state, machine_id, playing in MANY_ROWS:
            with self.subTest(player=title):
                rows = self.row(out, machine_id)
                self.assertGreaterEqual(len(rows), 1, out)
                matching = [r for r in rows if all(part in r for part in playing)]
                self.assertEqual(len(matching), 1, out)
                for cell in (title, product, platform, state):
                    self.assertIn(cell, matching[0])
        # Our player has two sessions (the stale paused one and the current one).
        office = self.row(out, MACHINE_ID)
        self.assertEqual(len(office), 2, out)
        self.assertTrue(any("Psycho Killer" in r and "paused" in r for r in office), out)
        # The compilation row names the track artist, not "Various Artists".
        self.assertNotIn("Various Artists", out)
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        self.assertEqual(len(self.commands(out)), 5, out)
        self.assertIn("-plex-machine-id", self.commands(out)[-1])
        # Then the settings-file lines: every player, in the table's order.
        self.assertEqual(lines[-3:], [
            "[plex]", "server-url = %s" % self.stub.url,
            "machine-id = sww38hk3rsict7h16i0dfmd4, 5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f, "
            "7f3e0c5a9b1d2e4f, bc97b983-8169-47e3-bbcc-54a12d662546, "
            "d2c4e6f8-1a3b-4c5d-9e7f-a1b2c3d4e5f6"])
        self.assertEqual(result.stderr.strip(), "")
        request = self.stub.session_requests()[0]
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.assertEqual(headers.get("x-plex-token"), self.token)
        self.assertIn("application/xml", headers.get("accept", ""))
        self.assertTrue(headers.get("x-plex-client-identifier"))
        self.assertTrue(headers.get("x-plex-product"))

    def test_command_line_names_the_machine_identifier(self):
        result = self.run_players("sessions_track.xml")
        self.assertEqual(result.returncode, 0, result.stderr)
        commands = self.commands(result.stdout)
        self.assertTrue(any(MACHINE_ID in line and "-plex-machine-id" in line
                            and self.stub.url in line for line in commands), result.stdout)

    def test_no_sessions(self):
        result = self.run_players("sessions_empty.xml")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"(?i)no active sessions")
        self.assertEqual(self.stub.count, 1)

    def test_missing_attributes_and_no_player(self):
        result = self.run_players("sessions_missing_attrs.xml")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(MACHINE_ID, result.stdout)
        self.assertIn("Garage", result.stdout)
        self.assertIn("0d6a1c2e-77aa-4bd0-9c1f-3e5b7d9f1a2c", result.stdout)
        # The element without a <Player> is not a session.
        self.assertNotIn("Music for Airports", result.stdout)
        self.assertNotIn("Brian Eno", result.stdout)

    def test_rejected_token_exits_1_with_one_line(self):
        result = self.run_players("sessions_many.xml", token="wrong-token-4Hh8Jj")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("401", lines[0])
        self.assertTrue(lines[0].startswith("streamerbrainz: "), lines[0])
        self.assertEqual(self.stub.count, 1, "a rejected token is not retried")
        self.assertNotIn("Office", result.stdout)

    def test_players_needs_a_server_url(self):
        result = run_cli(["players"])
        self.assertEqual(result.returncode, 2, result.stderr)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("streamerbrainz: "), lines[0])
        self.assertIn("-plex-server-url", lines[0])


if __name__ == "__main__":
    unittest.main()
