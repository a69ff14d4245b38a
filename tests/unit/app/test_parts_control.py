"""Which way a command reaches one of the streamer's Plexamp players (app.parts' transport).

The Plexamp at -plexamp-url directly; a -local-player Plexamp on its
address from the sessions (port 32500), and through the Plex server's
player proxy when that address does not answer or is not known.
"""

import dataclasses
import queue
import unittest

from streamerbrainz.app import config as configuration
from streamerbrainz.app.parts import Parts
from streamerbrainz.core.tracker import PlayerState
from tests.support.sources import start_plexamp

LOCAL = "5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99"
TOKEN = "server-token-123456"


def config(server_url, **overrides):
    """Every default, with Plex at ``server_url`` and the streamer's own Plexamp LOCAL."""
    settings = dict(plex_server_url=server_url, plex_token=TOKEN, local_player=(LOCAL,))
    settings.update(overrides)
    return dataclasses.replace(configuration.build(configuration.gather({}, {}), {}),
                               **settings)


class ProxyTest(unittest.TestCase):

    def parts(self, address):
        self.server = start_plexamp(self, machine_id="the-plex-server")  # plays the proxy
        parts = Parts(config(self.server.url), queue.Queue(), queue.Queue())
        parts.keeper.snapshot = {LOCAL: PlayerState(machine_id=LOCAL, state="playing",
                                                    player="Office", product="Plexamp",
                                                    address=address)}
        return parts

    def test_a_local_plexamp_whose_address_does_not_answer_goes_through_the_server(self):
        parts = self.parts("192.0.2.1")  # TEST-NET-1: no player answers there, ever
        parts.transport.send(LOCAL, "pause")
        (command,) = self.server.commands()
        self.assertEqual((command.name, command.headers.get("X-Plex-Target-Client-Identifier"),
                          command.headers.get("X-Plex-Token")), ("pause", LOCAL, TOKEN))

    def test_without_an_address_it_goes_through_the_server(self):
        parts = self.parts("")
        parts.transport.send(LOCAL, "stop")
        self.assertEqual([c.name for c in self.server.commands()], ["stop"])

    def test_a_player_that_is_not_the_streamers_is_refused(self):
        parts = self.parts("")
        parts.keeper.snapshot = {LOCAL: dataclasses.replace(parts.keeper.snapshot[LOCAL],
                                                            product="Plex for Android")}
        with self.assertRaises(ValueError):
            parts.transport.send(LOCAL, "pause")
        self.assertEqual(self.server.commands(), [])
        self.assertEqual(parts.plexamp_machine_ids(), [])


if __name__ == "__main__":
    unittest.main()
