"""The /status/sessions parser, and PlexClient against a stand-in Plex on 127.0.0.1."""

import socket
import threading
import unittest

from streamerbrainz.plex import client as plex
from streamerbrainz.plex.client import PlexClient, PlexError
from tests.support.httpstub import StubServer, start_server
from tests.support.model import session

TOKEN = "tok-Zq8xW3vB7nM2kL5p"

TRACK_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer size="1">
  <Track addedAt="1715112800" art="/library/metadata/6258/art/1715112830" duration="259560"
         grandparentKey="/library/metadata/6258" grandparentRatingKey="6258"
         grandparentTitle="Talking Heads" guid="plex://track/5d07cdb4403c640290f4b3a1"
         index="1" key="/library/metadata/6260" librarySectionID="1"
         parentRatingKey="6259" parentTitle="Once in a Lifetime: The Best Of"
         ratingKey="6260" sessionKey="53" thumb="/library/metadata/6259/thumb/1715112830"
         title="Once in a Lifetime" type="track" viewOffset="30496">
    <Media audioChannels="2" audioCodec="flac" bitrate="1010" container="flac" duration="259560" id="6012">
      <Part container="flac" duration="259560" file="/music/th/01.flac" id="6013" decision="directplay">
        <Stream audioChannelLayout="stereo" bitDepth="16" codec="flac" id="17760" samplingRate="44100" streamType="2" selected="1"/>
      </Part>
    </Media>
    <User id="1" thumb="https://plex.tv/users/abc/avatar" title="elan"/>
    <Player address="192.168.1.50" machineIdentifier="5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99"
            platform="Linux" platformVersion="6.1.21-v8+" product="Plexamp" profile="Generic"
            state="playing" title="Office" vendor="" version="4.11.5" local="1" relayed="0" secure="1" userID="1"/>
    <Session id="q1w2e3" bandwidth="1120" location="lan"/>
  </Track>
</MediaContainer>
"""

# A Track on the Pi, a movie on a TV, a photo, a stale and a current Track on
# one player (sessionKey 9 < 53 < 100: compared as numbers, not text), and
# elements that are not sessions.
MANY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer size="6">
  <Track type="track" sessionKey="9" ratingKey="100" title="Old Song" grandparentTitle="Old Band"
         parentTitle="Old Album" duration="1000" viewOffset="500">
    <Player machineIdentifier="pi" state="paused" title="Office" product="Plexamp" platform="Linux"/>
  </Track>
  <Video type="movie" sessionKey="54" ratingKey="2001" title="Big Buck Bunny" duration="596000"
         viewOffset="120000" librarySectionID="2">
    <Media id="1"/>
    <User id="2" title="guest"/>
    <Player machineIdentifier="tv-1234" state="paused" title="Living Room TV" product="Plex for Android (TV)" platform="Android"/>
  </Video>
  <Track type="track" sessionKey="100" ratingKey="6262" title="Jóga" originalTitle="Björk"
         grandparentTitle="Various Artists" parentTitle="Homogenic &amp; More" duration="305000"
         viewOffset="1000">
    <Player machineIdentifier="pi" state="playing" title="Office" product="Plexamp" platform="Linux"/>
  </Track>
  <Photo type="photo" sessionKey="7" ratingKey="9001" title="Beach">
    <Player machineIdentifier="phone" state="playing" title="" product="Plex for iOS" platform="iOS"/>
  </Photo>
  <Track type="track" sessionKey="53" ratingKey="6260" title="Middle Song">
    <Player machineIdentifier="pi" state="playing" title="Office" product="Plexamp"/>
  </Track>
  <Track type="track" sessionKey="60" ratingKey="7000" title="Theme music without a player"/>
  <Setting id="x" value="not a session"/>
</MediaContainer>
""".encode("utf-8")

MISSING_XML = b"""<MediaContainer size="3">
  <Track><Player machineIdentifier="bare"/></Track>
  <Video sessionKey="abc" duration="soon" viewOffset="-5"><Player/></Video>
  <Track sessionKey="3" duration="1.5e3"><Player machineIdentifier="nameless" product="Plexamp"/></Track>
</MediaContainer>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE MediaContainer [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<MediaContainer size="1">
  <Track title="&lol9;" sessionKey="1"><Player machineIdentifier="pi" state="playing"/></Track>
</MediaContainer>
"""


class ParseSessionsTest(unittest.TestCase):

    def test_music_track(self):
        (found,) = plex.parse_sessions(TRACK_XML)
        self.assertEqual(found, session(
            machine_id="5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99",
            player="Office",
            product="Plexamp",
            platform="Linux",
            state="playing",
            session_key="53",
            rating_key="6260",
            media_type="track",
            title="Once in a Lifetime",
            artist="Talking Heads",
            album="Once in a Lifetime: The Best Of",
            duration_ms=259560,
            position_ms=30496,
            address="192.168.1.50",
        ))

    def test_a_player_address_is_kept_only_when_it_is_an_ip(self):
        for given, kept in (("192.168.1.50", "192.168.1.50"), ("fe80::1", "fe80::1"),
                            ("evil.example", ""), ("127.0.0.1:32500/x", ""), ("", "")):
            with self.subTest(given=given):
                self.assertEqual(plex.ip_literal(given), kept)

    def test_empty_container(self):
        self.assertEqual(plex.parse_sessions(b'<MediaContainer size="0"></MediaContainer>'), [])
        self.assertEqual(plex.parse_sessions(b'<MediaContainer size="0"/>'), [])

    def test_every_media_element_with_a_player_is_a_session(self):
        sessions = plex.parse_sessions(MANY_XML)
        self.assertEqual([(s.machine_id, s.track.session_key) for s in sessions],
                         [("pi", "9"), ("tv-1234", "54"), ("pi", "100"), ("phone", "7"),
                          ("pi", "53")])

    def test_video_session(self):
        video = plex.parse_sessions(MANY_XML)[1]
        self.assertEqual((video.track.media_type, video.track.title, video.state, video.player),
                         ("movie", "Big Buck Bunny", "paused", "Living Room TV"))
        self.assertEqual((video.track.duration_ms, video.position_ms), (596000, 120000))
        self.assertEqual(video.track.artist, "")
        self.assertEqual(video.track.album, "")

    def test_photo_session_and_player_title_falls_back_to_product(self):
        photo = plex.parse_sessions(MANY_XML)[3]
        self.assertEqual(photo.track.media_type, "photo")
        self.assertEqual(photo.player, "Plex for iOS")
        self.assertEqual(photo.product, "Plex for iOS")

    def test_original_title_before_grandparent_title(self):
        joga = plex.parse_sessions(MANY_XML)[2]
        self.assertEqual((joga.track.title, joga.track.artist, joga.track.album),
                         ("Jóga", "Björk", "Homogenic & More"))

    def test_grandparent_title_when_no_original_title(self):
        old = plex.parse_sessions(MANY_XML)[0]
        self.assertEqual(old.track.artist, "Old Band")

    def test_missing_attributes_become_empty_or_zero(self):
        bare, odd, nameless = plex.parse_sessions(MISSING_XML)
        self.assertEqual(bare, session(machine_id="bare", media_type="track"))
        self.assertEqual((odd.machine_id, odd.track.session_key, odd.track.duration_ms, odd.position_ms,
                          odd.state, odd.player), ("", "abc", 0, 0, "", ""))
        self.assertEqual(nameless.player, "Plexamp")
        self.assertEqual(nameless.track.duration_ms, 1500)

    def test_current_by_player_picks_the_highest_numeric_session_key(self):
        current = plex.current_by_player(plex.parse_sessions(MANY_XML))
        self.assertEqual(set(current), {"pi", "tv-1234", "phone"})
        self.assertEqual(current["pi"].track.session_key, "100")
        self.assertEqual(current["pi"].track.title, "Jóga")
        self.assertEqual(current["tv-1234"].track.title, "Big Buck Bunny")

    def test_current_by_player_order_does_not_matter(self):
        sessions = plex.parse_sessions(MANY_XML)
        for ordering in (sessions, list(reversed(sessions))):
            self.assertEqual(plex.current_by_player(ordering)["pi"].track.session_key, "100")

    def test_current_by_player_prefers_numeric_keys(self):
        sessions = [session(machine_id="p", session_key="zzz", title="odd"),
                    session(machine_id="p", session_key="2", title="numeric")]
        self.assertEqual(plex.current_by_player(sessions)["p"].track.title, "numeric")

    def test_current_by_player_never_crashes_on_odd_session_keys(self):
        # DESIGN §6: odd attributes never crash. "²" and "³" pass str.isdigit()
        # but int() refuses them; "١٢" (Arabic-Indic digits) int() accepts.
        for odd in ("²", "³", "١٢", "", "-1", "1.5", " 7"):
            with self.subTest(session_key=odd):
                sessions = [session(machine_id="p", session_key=odd, title="odd"),
                            session(machine_id="p", session_key="5", title="numeric")]
                for ordering in (sessions, sessions[::-1]):
                    current = plex.current_by_player(ordering)
                    self.assertEqual(set(current), {"p"})

    def test_current_by_player_of_nothing(self):
        self.assertEqual(plex.current_by_player([]), {})

    def assert_malformed(self, data):
        with self.assertRaises(PlexError) as caught:
            plex.parse_sessions(data)
        self.assertEqual(caught.exception.kind, "malformed")
        self.assertFalse(caught.exception.retryable)
        return str(caught.exception)

    def test_billion_laughs_is_refused(self):
        self.assert_malformed(BILLION_LAUGHS)

    def test_doctype_is_refused(self):
        self.assert_malformed(b'<!DOCTYPE MediaContainer>\n<MediaContainer size="0"/>')

    def test_external_entity_is_refused(self):
        self.assert_malformed(b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY x SYSTEM '
                              b'"file:///etc/passwd">]>\n<MediaContainer><Track title="&x;">'
                              b'<Player machineIdentifier="p"/></Track></MediaContainer>')

    def test_entity_after_a_long_prologue_is_refused(self):
        data = (b'<?xml version="1.0"?>\n<!--' + b" " * 8192 + b'-->\n'
                + BILLION_LAUGHS.split(b"\n", 1)[1])
        self.assert_malformed(data)

    def test_not_xml(self):
        for data in (b"", b"not xml at all", b'{"MediaContainer": {"size": 0}}',
                     b"<MediaContainer><Track>", b"\xff\xfe<\x00"):
            with self.subTest(data=data):
                self.assert_malformed(data)

    def test_other_root_element(self):
        message = self.assert_malformed(
            b"<html><head><title>Unauthorized</title></head>"
            b"<body><h1>401 Unauthorized</h1></body></html>")
        self.assertIn("MediaContainer", message)


class StandInPlex(StubServer):
    """A tiny Plex on 127.0.0.1 that records requests and answers as told.

    ``answer(handler, plex)`` returns ``(status, body)`` (or None when it
    answered itself); ``plex.hang()`` holds the handler until cleanup.
    """

    def __init__(self, test, answer):
        super().__init__()
        self.answer_with = answer
        self.arrived = threading.Event()
        start_server(test, self)

    def answer(self, handler, request):
        self.arrived.set()
        result = self.answer_with(handler, self)
        if result is not None:
            handler.send_body(*result)

    def hang(self):
        self.until_stopped(30)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PlexClientTest(unittest.TestCase):

    def client(self, server, timeout=5.0, suffix=""):
        return PlexClient(server.url + suffix, TOKEN, timeout=timeout)

    def assert_fails(self, client, kind):
        with self.assertRaises(PlexError) as caught:
            client.sessions()
        err = caught.exception
        self.assertEqual(err.kind, kind, str(err))
        self.assertNotIn(TOKEN, str(err))
        self.assertNotIn(TOKEN, repr(err))
        self.assertNotIn(TOKEN, repr(err.args))
        return err

    def test_sessions_with_the_token_in_a_header_only(self):
        server = StandInPlex(self, lambda handler, plex_: (200, TRACK_XML))
        sessions = self.client(server).sessions()
        self.assertEqual([s.track.title for s in sessions], ["Once in a Lifetime"])
        (request,) = server.requests
        path, headers = request.raw_path, request.headers
        self.assertEqual(path, "/status/sessions")
        self.assertNotIn(TOKEN, path)
        self.assertEqual(headers.get("X-Plex-Token"), TOKEN)
        self.assertEqual(headers.get("Accept"), "application/xml")
        self.assertEqual(headers.get("X-Plex-Product"), "StreamerBrainz")
        self.assertTrue(headers.get("X-Plex-Client-Identifier"))
        self.assertTrue(headers.get("X-Plex-Version"))

    def test_sessions_are_asked_again_on_the_same_connection(self):
        server = StandInPlex(self, lambda handler, plex_: (200, TRACK_XML))
        client = self.client(server)
        for _ in range(3):
            self.assertEqual(len(client.sessions()), 1)
        self.assertEqual(len({request.peer for request in server.requests}), 1,
                         server.requests)

    def test_a_connection_the_server_closed_while_idle_is_made_anew(self):
        def answer(handler, plex_):
            handler.close_connection = True  # closes after answering, without saying so
            return 200, TRACK_XML
        server = StandInPlex(self, answer)
        client = self.client(server)
        for _ in range(3):
            self.assertEqual(len(client.sessions()), 1)
        self.assertEqual(len({request.peer for request in server.requests}), 3)

    def test_an_error_answer_drops_the_connection(self):
        answers = [(500, b"oops"), (200, TRACK_XML)]
        server = StandInPlex(self, lambda handler, plex_: answers.pop(0))
        client = self.client(server)
        self.assert_fails(client, "http")
        self.assertEqual(len(client.sessions()), 1)
        self.assertEqual(len({request.peer for request in server.requests}), 2)

    def test_client_identifier_is_stable(self):
        server = StandInPlex(self, lambda handler, plex_: (200, b"<MediaContainer/>"))
        self.client(server).sessions()
        PlexClient(server.url, TOKEN).sessions()
        ids = {r.headers.get("X-Plex-Client-Identifier") for r in server.requests}
        self.assertEqual(len(ids), 1)

    def test_server_url_with_a_path_prefix(self):
        server = StandInPlex(self, lambda handler, plex_: (200, b"<MediaContainer/>"))
        self.assertEqual(self.client(server, suffix="/plex/").sessions(), [])
        self.assertEqual(server.requests[0].raw_path, "/plex/status/sessions")

    def test_401_is_auth_and_not_retryable(self):
        body = (b"<html><head><title>Unauthorized</title></head>"
                b"<body><h1>401 Unauthorized</h1></body></html>")
        server = StandInPlex(self, lambda handler, plex_: (401, body))
        err = self.assert_fails(self.client(server), "auth")
        self.assertFalse(err.retryable)
        self.assertEqual(err.status, 401)
        self.assertEqual(len(server.requests), 1)

    def test_403_is_auth(self):
        server = StandInPlex(self, lambda handler, plex_: (403, b"Forbidden"))
        self.assertFalse(self.assert_fails(self.client(server), "auth").retryable)

    def test_500_is_http_and_retryable(self):
        server = StandInPlex(self, lambda handler, plex_: (500, b"oops"))
        err = self.assert_fails(self.client(server), "http")
        self.assertTrue(err.retryable)
        self.assertEqual(err.status, 500)
        self.assertIn("500", str(err))

    def test_404_is_http_and_not_retryable(self):
        server = StandInPlex(self, lambda handler, plex_: (404, b"nope"))
        err = self.assert_fails(self.client(server), "http")
        self.assertFalse(err.retryable)

    def test_malformed_answer(self):
        server = StandInPlex(self, lambda handler, plex_: (200, b"<html>hello</html>"))
        err = self.assert_fails(self.client(server), "malformed")
        self.assertFalse(err.retryable)

    def test_server_that_never_answers_times_out(self):
        server = StandInPlex(self, lambda handler, plex_: plex_.hang())
        err = self.assert_fails(self.client(server, timeout=0.3), "timeout")
        self.assertTrue(err.retryable)
        self.assertIn("0.3", str(err))

    def test_body_that_stalls_times_out(self):
        def stall(handler, plex_):
            handler.send_response(200)
            handler.send_header("Content-Length", "100000")
            handler.end_headers()
            handler.wfile.write(b"<MediaContainer>")
            handler.wfile.flush()
            plex_.hang()

        server = StandInPlex(self, stall)
        self.assert_fails(self.client(server, timeout=0.3), "timeout")

    def test_sessions_timeout_argument_overrides_the_default(self):
        server = StandInPlex(self, lambda handler, plex_: plex_.hang())
        client = self.client(server, timeout=30)
        with self.assertRaises(PlexError) as caught:
            client.sessions(timeout=0.3)
        self.assertEqual(caught.exception.kind, "timeout")

    def test_connection_refused_is_network(self):
        client = PlexClient("http://127.0.0.1:%d" % free_port(), TOKEN, timeout=2)
        err = self.assert_fails(client, "network")
        self.assertTrue(err.retryable)

    def test_abort_cuts_a_hung_request(self):
        server = StandInPlex(self, lambda handler, plex_: plex_.hang())
        client = self.client(server, timeout=30)
        outcome = []

        def fetch():
            try:
                outcome.append(client.sessions())
            except PlexError as err:
                outcome.append(err)

        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        self.assertTrue(server.arrived.wait(10), "the request never reached the stand-in")
        client.abort()
        thread.join(10)
        # The stand-in hangs for 30 s and the client's timeout is 30 s, so a
        # thread still alive here (after 10 s at most) was not cut by abort().
        self.assertFalse(thread.is_alive(), "abort() did not cut the request in flight")
        (err,) = outcome
        self.assertIsInstance(err, PlexError)
        self.assertNotIn(TOKEN, str(err))

    def test_after_abort_new_requests_are_refused(self):
        server = StandInPlex(self, lambda handler, plex_: (200, TRACK_XML))
        client = self.client(server)
        client.abort()
        with self.assertRaises(PlexError) as caught:
            client.sessions()
        self.assertNotIn(TOKEN, str(caught.exception))


class PlexErrorTest(unittest.TestCase):

    def test_retryable_kinds(self):
        self.assertTrue(PlexError("network", "x").retryable)
        self.assertTrue(PlexError("timeout", "x").retryable)
        self.assertTrue(PlexError("http", "x", 503).retryable)
        self.assertFalse(PlexError("http", "x", 400).retryable)
        self.assertFalse(PlexError("auth", "x", 401).retryable)
        self.assertFalse(PlexError("malformed", "x").retryable)


if __name__ == "__main__":
    unittest.main()
