"""Plexamp transport commands: the pure builders, then ``PlexampControl`` against the stand-in."""

import threading
import time
import unittest

from streamerbrainz.lib import opener
from streamerbrainz.plex import client as plex
from streamerbrainz.plex import control
from tests.support.daemon import free_port
from tests.support.httpstub import StubServer, start_server
from tests.support.plexstub import DEFAULT_TOKEN
from tests.support.sources import PLEXAMP_MACHINE_ID, Timeline, start_plexamp

CLIENT_ID = "streamerbrainz-test-client"
PLAYING = Timeline("playing", 20000, 200000, "42", "Heroes", "David Bowie", "\"Heroes\"")
MARGIN = 0.5  # what a test allows beyond a timeout


class ToCommandTests(unittest.TestCase):
    def test_each_action_maps_to_its_plexamp_command(self):
        table = [
            ("play", "play"),
            ("pause", "pause"),
            ("toggle", "playPause"),
            ("next", "skipNext"),
            ("previous", "skipPrevious"),
            ("stop", "stop"),
        ]
        for action, command in table:
            with self.subTest(action=action):
                self.assertEqual(control.to_command(action), command)
        self.assertEqual(sorted(control.COMMANDS), sorted(a for a, _ in table))

    def test_an_unknown_action_is_a_one_line_value_error_listing_the_valid_ones(self):
        for action in ("", "Pause", "playPause", "skipNext", "resume", None):
            with self.subTest(action=action):
                with self.assertRaises(ValueError) as caught:
                    control.to_command(action)
                message = str(caught.exception)
                self.assertEqual(message, "unknown Plexamp action %r: use one of play, pause, "
                                          "toggle, next, previous, stop" % (action,))
                self.assertNotIn("\n", message)


class CommandPathTests(unittest.TestCase):
    def test_path_names_the_command_type_music_and_the_command_id(self):
        table = [
            ("play", 1, "/player/playback/play?type=music&commandID=1"),
            ("pause", 2, "/player/playback/pause?type=music&commandID=2"),
            ("playPause", 10, "/player/playback/playPause?type=music&commandID=10"),
            ("skipNext", 123456, "/player/playback/skipNext?type=music&commandID=123456"),
            ("skipPrevious", 7, "/player/playback/skipPrevious?type=music&commandID=7"),
            ("stop", 99, "/player/playback/stop?type=music&commandID=99"),
        ]
        for command, command_id, path in table:
            with self.subTest(command=command):
                self.assertEqual(control.command_path(command, command_id), path)


class CommandHeadersTests(unittest.TestCase):
    def test_identification_then_both_identifiers_and_never_a_token(self):
        plain = {"X-Plex-Product": "StreamerBrainz", "X-Plex-Version": "1.0"}
        table = [
            # (identification, expected)
            ({}, {"X-Plex-Client-Identifier": "ours",
                  "X-Plex-Target-Client-Identifier": "player-1"}),
            (plain, dict(plain, **{"X-Plex-Client-Identifier": "ours",
                                   "X-Plex-Target-Client-Identifier": "player-1"})),
            (dict(plain, **{"X-Plex-Client-Identifier": "theirs"}),
             dict(plain, **{"X-Plex-Client-Identifier": "ours",
                            "X-Plex-Target-Client-Identifier": "player-1"})),
            (dict(plain, **{"X-Plex-Token": DEFAULT_TOKEN}),
             dict(plain, **{"X-Plex-Client-Identifier": "ours",
                            "X-Plex-Target-Client-Identifier": "player-1"})),
        ]
        for identification, expected in table:
            with self.subTest(identification=identification):
                given = dict(identification)
                self.assertEqual(control.command_headers(identification, "ours", "player-1"),
                                 expected)
                self.assertEqual(identification, given, "the identification was changed")

    def test_the_plex_clients_identification_headers_are_all_kept(self):
        identification = plex.PlexClient("http://127.0.0.1:32500", "").headers()
        headers = control.command_headers(identification, CLIENT_ID, PLEXAMP_MACHINE_ID)
        for name in ("X-Plex-Product", "X-Plex-Version", "X-Plex-Platform",
                     "X-Plex-Device-Name"):
            with self.subTest(header=name):
                self.assertEqual(headers[name], identification[name])
        self.assertEqual(headers["X-Plex-Client-Identifier"], CLIENT_ID)
        self.assertEqual(headers["X-Plex-Target-Client-Identifier"], PLEXAMP_MACHINE_ID)


class PlexampControlTests(unittest.TestCase):
    def setUp(self):
        self.amp = start_plexamp(self)
        self.amp.set_timeline(*PLAYING)
        self.control = control.PlexampControl(self.amp.url, CLIENT_ID, PLEXAMP_MACHINE_ID)

    def test_each_action_lands_as_its_command_with_rising_ids_and_both_identifiers(self):
        actions = ["pause", "play", "toggle", "next", "previous", "stop"]
        ids = [self.control.send(action) for action in actions]
        self.assertEqual(ids, [1, 2, 3, 4, 5, 6])
        commands = self.amp.commands()
        self.assertEqual([c.name for c in commands],
                         ["pause", "play", "playPause", "skipNext", "skipPrevious", "stop"])
        self.assertEqual([c.command_id for c in commands], ids)
        for command in commands:
            with self.subTest(command=command.name):
                self.assertEqual(command.headers.get("X-Plex-Client-Identifier"), CLIENT_ID)
                self.assertEqual(command.headers.get("X-Plex-Target-Client-Identifier"),
                                 PLEXAMP_MACHINE_ID)
                self.assertEqual(command.headers.get("X-Plex-Product"), "StreamerBrainz")
                self.assertNotIn("X-Plex-Token", command.headers)
        for request in self.amp.all_requests():
            self.assertEqual(request.query.get("type"), ["music"])
            self.assertNotIn("token", request.raw_path.lower())
        self.assertEqual(self.amp.timeline().state, "stopped")

    def test_through_the_plex_server_the_token_goes_in_its_header_only(self):
        from streamerbrainz.plex.client import PlexClient
        token = "server-token-123456"
        server = PlexClient(self.amp.url, token, 5.0)  # the stand-in plays the server's proxy
        proxied = control.PlexampControl(self.amp.url, CLIENT_ID, PLEXAMP_MACHINE_ID,
                                         server=server)
        proxied.send("pause")
        (command,) = self.amp.commands()
        self.assertEqual(command.headers.get("X-Plex-Token"), token)
        self.assertEqual(command.headers.get("X-Plex-Target-Client-Identifier"),
                         PLEXAMP_MACHINE_ID)
        for request in self.amp.all_requests():
            self.assertNotIn(token, request.raw_path)

    def test_a_second_control_counts_its_own_ids(self):
        other = control.PlexampControl(self.amp.url, CLIENT_ID, PLEXAMP_MACHINE_ID)
        self.assertEqual(self.control.send("pause"), 1)
        self.assertEqual(other.send("play"), 1)
        self.assertEqual(self.control.send("pause"), 2)

    def test_commands_from_many_threads_get_distinct_ids_and_arrive_in_their_order(self):
        start = threading.Barrier(8)
        errors = []

        def send():
            start.wait(5)
            try:
                self.control.send("toggle")
            except Exception as err:
                errors.append(err)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(errors, [])
        self.assertEqual([c.command_id for c in self.amp.commands()], list(range(1, 9)))

    def test_a_url_with_a_trailing_slash_sends_the_same_path(self):
        slashed = control.PlexampControl(self.amp.url + "/", CLIENT_ID, PLEXAMP_MACHINE_ID)
        slashed.send("pause")
        [request] = self.amp.requests_to("/player/playback/pause")
        self.assertEqual(request.raw_path, "/player/playback/pause?type=music&commandID=1")

    def test_an_unknown_action_raises_and_sends_nothing(self):
        with self.assertRaises(ValueError):
            self.control.send("rewind")
        self.assertEqual(self.amp.commands(), [])
        self.assertEqual(self.control.send("pause"), 1)

    def test_an_ignored_command_returns_normally_and_the_timeline_did_not_change(self):
        self.amp.ignore("pause")
        self.assertEqual(self.control.send("pause"), 1)
        self.assertEqual([c.name for c in self.amp.commands()], ["pause"])
        self.assertEqual(self.amp.timeline(), PLAYING)

    def test_an_answer_later_than_the_timeout_raises_in_time_naming_url_and_action(self):
        self.amp.delay("pause", 30)
        slow = control.PlexampControl(self.amp.url, CLIENT_ID, PLEXAMP_MACHINE_ID, timeout=0.5)
        started = time.monotonic()
        with self.assertRaises(opener.RequestError) as caught:
            slow.send("pause")
        self.assertLess(time.monotonic() - started, 0.5 + MARGIN)
        self.assertTrue(self.amp.wait_for_command("pause"))
        err = caught.exception
        self.assertIsInstance(err, control.ControlError)
        self.assertEqual(err.kind, "timeout")
        self.assertTrue(err.retryable)
        self.assertEqual(str(err), "Plexamp %s pause: no answer within 0.5s" % self.amp.url)
        self.assertNotIn("token", str(err).lower())
        self.assertNotIn(DEFAULT_TOKEN, str(err))

    def test_a_refused_connection_raises_one_line_naming_url_and_action(self):
        url = "http://127.0.0.1:%d" % free_port()
        refused = control.PlexampControl(url, CLIENT_ID, PLEXAMP_MACHINE_ID)
        started = time.monotonic()
        with self.assertRaises(opener.RequestError) as caught:
            refused.send("play")
        self.assertLess(time.monotonic() - started, 2.0 + MARGIN)
        err = caught.exception
        self.assertEqual(err.kind, "network")
        self.assertEqual(str(err), "Plexamp %s play: cannot reach the player: connection refused"
                         % url)
        self.assertNotIn("\n", str(err))


def trickle(interval):
    """A responder that sends an OK head, then its 100-byte body a byte per ``interval``."""
    def respond(handler, request):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.flush()
        for _ in range(100):
            if handler.server.stub.until_stopped(interval):
                return
            handler.wfile.write(b"x")
            handler.wfile.flush()
    return respond


def status(code):
    def respond(handler, request):
        handler.send_body(code, b"", "text/plain")
    return respond


class AnswerTests(unittest.TestCase):
    """What a server other than the stand-in may answer."""

    def send(self, respond, timeout=2.0):
        server = start_server(self, StubServer(respond))
        sender = control.PlexampControl(server.url, CLIENT_ID, PLEXAMP_MACHINE_ID, timeout)
        return server, sender.send("pause")

    def test_a_body_that_trickles_past_the_timeout_raises_at_the_timeout(self):
        # Every byte comes well within the timeout; the whole answer does not.
        started = time.monotonic()
        with self.assertRaises(control.ControlError) as caught:
            self.send(trickle(0.05), timeout=0.5)
        self.assertLess(time.monotonic() - started, 0.5 + MARGIN)
        self.assertEqual(caught.exception.kind, "timeout")
        self.assertIn("pause: no answer within 0.5s", str(caught.exception))

    def test_an_endless_ok_answer_is_read_only_in_part_and_counts_as_taken(self):
        # Reading it all would run into the timeout.
        def respond(handler, request):
            handler.close_connection = True
            handler.send_response(200)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Connection", "close")
            handler.end_headers()
            while not handler.server.stub.until_stopped(0):
                handler.wfile.write(b"OK" * 4096)
        _, command_id = self.send(respond, timeout=1.0)
        self.assertEqual(command_id, 1)

    def test_an_answer_other_than_200_raises_naming_the_status(self):
        for code, kind in ((404, "http"), (500, "http"), (401, "auth"), (204, "http")):
            with self.subTest(code=code):
                with self.assertRaises(control.ControlError) as caught:
                    self.send(status(code))
                err = caught.exception
                self.assertEqual((err.kind, err.status), (kind, code))
                self.assertRegex(str(err), r"^Plexamp http://127\.0\.0\.1:\d+ pause: the player "
                                           r"answered %d" % code)
                self.assertNotIn("token", str(err).lower())


if __name__ == "__main__":
    unittest.main()
