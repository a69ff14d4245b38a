"""Ghost players: webhooks naming players Plex never heard of, sent to the real daemon.

The daemon runs without -plex-machine-id (it follows every player) beside a
stand-in Plex whose sessions list is empty, with an -on-active hook that
writes a marker file. The sessions list is the truth: a webhook alone must
not make a player play, run the hook, or grow /state (README, "Ghost players").
"""

import json
import os
import shlex
import shutil
import sys
import tempfile

from tests.support import procstat, webhooks
from tests.support.daemon import MACHINE_ID, E2ECase, state_changes, wait_for
from tests.support.webhooks import fixture

MAX_PLAYERS = 64  # streamerbrainz.core.tracker.MAX_PLAYERS, as the README states it
BURST = 2000
MAX_STATE_BYTES = 64 * 1024


def ghost_id(n):
    return "0badc0de-0000-4000-8000-%012d" % n


def play_payload(machine_id):
    """``payload_play.json`` with its Player.uuid replaced by ``machine_id``."""
    payload = json.loads(fixture("payload_play.json"))
    payload["Player"]["uuid"] = machine_id
    payload["Player"]["title"] = "Ghost %s" % machine_id[-4:]
    return json.dumps(payload, separators=(",", ":"))


class GhostPlayersTest(E2ECase):

    def setUp(self):
        directory = tempfile.mkdtemp(prefix="sbz-ghosts-")
        self.marker = os.path.join(directory, "amplifier-on")
        self.addCleanup(shutil.rmtree, directory, True)
        hook = " ".join(shlex.quote(word) for word in [
            sys.executable, "-c", "import sys; open(sys.argv[1], 'w').close()", self.marker])
        self.start_plex_and_daemon("sessions_empty.xml", machine_id=None,
                                   extra_args=["-on-active", hook])

    def post_play(self, machine_id):
        content_type, body = webhooks.multipart_body(play_payload(machine_id))
        status, headers, answer = webhooks.post(self.daemon.port, body, content_type)
        self.check_accepted(status, headers, answer)

    def barrier(self):
        """Wait until every webhook sent so far has been served by a fetch.

        The fetcher serves triggers in order, so once the real player shows
        up paused, the fetch for every earlier webhook is done, and the main
        loop has acted on whatever it decided.
        """
        self.set_sessions("sessions_track_paused.xml")
        self.send()
        self.wait_state("paused", timeout=30)

    def state(self):
        status, _, body = webhooks.get(self.daemon.port, "/state")
        self.assertEqual(status, 200, body)
        return body, json.loads(body.decode("utf-8"))

    def assert_no_ghost_played(self):
        ghosts = [c for c in state_changes(self.daemon) if c.get("machine_id") != MACHINE_ID]
        self.assertEqual(len(ghosts), 0, "state changes for ghost players, e.g. %s" % ghosts[:3])
        self.assertEqual(self.daemon.matching("players active"), [])
        self.assertFalse(os.path.exists(self.marker), "-on-active ran for a ghost player")
        _, document = self.state()
        self.assertFalse(document["any_playing"], document)

    def test_a_webhook_for_a_player_plex_never_heard_of_plays_nothing(self):
        ghost = ghost_id(1)
        self.post_play(ghost)
        self.daemon.wait_for_line("webhook received", timeout=5)
        self.barrier()
        self.assert_no_ghost_played()
        _, document = self.state()
        self.assertEqual([p["machine_id"] for p in document["players"]], [MACHINE_ID])
        self.assertEqual(document["players"][0]["state"], "paused")

    def test_a_burst_of_ghosts_leaves_state_small_and_memory_in_budget(self):
        for n in range(BURST):
            self.post_play(ghost_id(n))
        self.barrier()
        body, document = self.state()
        self.assertLessEqual(len(document["players"]), MAX_PLAYERS)
        self.assertLess(len(body), MAX_STATE_BYTES, "/state is %d bytes" % len(body))
        rss = procstat.rss_mib(self.daemon.pid)
        self.assertLess(rss, procstat.BUDGET_RSS_MIB, "RSS %.1f MiB" % rss)
        self.assert_no_ghost_played()

    def test_a_player_in_the_sessions_list_plays_as_before(self):
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        fields = self.wait_state("playing")
        self.assertEqual(fields["machine_id"], MACHINE_ID)
        self.daemon.wait_for_line("players active", timeout=5)
        self.assertTrue(wait_for(lambda: os.path.exists(self.marker), timeout=10),
                        "-on-active did not run\n" + self.daemon.log())
        _, document = self.state()
        self.assertTrue(document["any_playing"], document)
        self.assertEqual([(p["machine_id"], p["state"]) for p in document["players"]],
                         [(MACHINE_ID, "playing")])


if __name__ == "__main__":
    import unittest

    unittest.main()
