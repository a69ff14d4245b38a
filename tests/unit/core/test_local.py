"""Which players are local: named ones, else the local Plexamp once known, else all."""

import unittest

from streamerbrainz.core.local import LocalPlayers


class LocalPlayersTest(unittest.TestCase):
    def test_named_players_only(self):
        local = LocalPlayers(("office",), plexamp_id=lambda: "kitchen")
        self.assertTrue(local("office"))
        self.assertFalse(local("kitchen"))
        self.assertEqual(local.describe(), "office")

    def test_the_local_plexamp_once_its_id_is_known(self):
        known = []
        local = LocalPlayers((), plexamp_id=lambda: known[0] if known else None)
        self.assertFalse(local("office"))
        known.append("office")
        self.assertTrue(local("office"))
        self.assertFalse(local("phone"))
        self.assertEqual(local.describe(), "plexamp")

    def test_every_player_without_either(self):
        local = LocalPlayers()
        self.assertTrue(local("anything"))
        self.assertEqual(local.describe(), "*")


if __name__ == "__main__":
    unittest.main()
