"""End to end: live state (issue 4).

Several followed players (``-plex-machine-id`` repeated or comma-separated,
or every player when absent), ``GET /state`` with interpolated positions,
the ``GET /events`` Server-Sent Events stream and its limits, and the
``status`` command.
"""

import concurrent.futures
import datetime
import http.client
import json
import re
import socket
import threading
import time
import unittest

from tests.support import webhooks
from tests.support.daemon import (FOREIGN_MACHINE_ID, MACHINE_ID, E2ECase, free_port,
                                  parse_log_line, run_cli, start_daemon, start_stub,
                                  state_changes, state_pattern, wait_for)

TITLE = "Once in a Lifetime"
ANY_CHANGE = re.compile(r"\[INFO\] Plex state changed state=")
KITCHEN = "0d6a1c2e-77aa-4bd0-9c1f-3e5b7d9f1a2c"
BEDROOM = "d2c4e6f8-1a3b-4c5d-9e7f-a1b2c3d4e5f6"

PLAYER_KEYS = {"machine_id", "player", "product", "state", "title", "artist", "album",
               "duration_ms", "position_ms", "session_key", "rating_key", "since",
               "updated_at", "source"}

# machine id -> (player title, session key, rating key, track title)
PLAYERS = {
    MACHINE_ID: ("Office", "53", "6260", TITLE),
    KITCHEN: ("Kitchen", "61", "7001", "Road to Nowhere"),
    BEDROOM: ("Bedroom", "62", "7002", "This Must Be the Place"),
    FOREIGN_MACHINE_ID: ("Neighbour", "63", "7003", "Psycho Killer"),
}


def sessions_xml(states):
    """A /status/sessions answer with one Track per player in ``states`` (id -> state)."""
    items = []
    for machine_id, state in states.items():
        player, session_key, rating_key, title = PLAYERS[machine_id]
        items.append(
            '<Track type="track" sessionKey="%s" ratingKey="%s" key="/library/metadata/%s" '
            'title="%s" grandparentTitle="Talking Heads" parentTitle="Best Of" '
            'duration="259560" viewOffset="30496">'
            '<Media audioCodec="flac" duration="259560"><Part decision="directplay"/></Media>'
            '<User id="1" title="pi-owner"/>'
            '<Player machineIdentifier="%s" state="%s" title="%s" product="Plexamp" '
            'platform="Linux" local="1"/></Track>'
            % (session_key, rating_key, rating_key, title, machine_id, state, player))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="%d">%s'
            '</MediaContainer>\n' % (len(items), "".join(items))).encode("utf-8")


def webhook_for(machine_id, event):
    payload = json.loads(webhooks.fixture("payload_play.json"))
    payload["event"] = event
    payload["Player"]["uuid"] = machine_id
    payload["Player"]["title"] = PLAYERS[machine_id][0]
    payload["Metadata"]["ratingKey"] = PLAYERS[machine_id][2]
    payload["Metadata"]["title"] = PLAYERS[machine_id][3]
    return webhooks.multipart_body(json.dumps(payload, separators=(",", ":")))


def post_all(port, bodies):
    """POST every (content_type, body) at once; return the answers in order."""
    barrier = threading.Barrier(len(bodies))

    def send(item):
        content_type, body = item
        barrier.wait(5)
        return webhooks.post(port, body, content_type)

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def get_json(port, path="/state"):
    status, headers, body = webhooks.get(port, path)
    assert status == 200, (status, body)
    assert headers.get("content-type", "").startswith("application/json"), headers
    return json.loads(body.decode("utf-8"))


class SseClient:
    """A minimal reader of the daemon's /events stream over a raw socket."""

    def __init__(self, port, rcvbuf=None, timeout=5):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.body = b""
        if self.status != 200:
            length = int(self.headers.get("content-length", "0"))
            while len(self.buffer) < length:
                self._fill()
            self.body = self.buffer[:length]

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("stream closed")
        self.buffer += data

    def _until(self, marker):
        while marker not in self.buffer:
            self._fill()
        block, _, self.buffer = self.buffer.partition(marker)
        return block

    def block(self):
        """The next blank-line-separated block as a list of lines."""
        return self._until(b"\n\n").decode("utf-8").split("\n")

    def event(self):
        """The next event as a dict (id, event, data), skipping comments and retry."""
        while True:
            fields = {}
            for line in self.block():
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = fields[name] + "\n" + value if name in fields else value
            if "event" in fields or "data" in fields:
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                return fields

    def close(self):
        self.sock.close()


def next_change(client, state):
    """The next ``plex_state_changed`` event to ``state``.

    The daemon logs a change before it publishes it, so a subscriber that
    connected just after the start-up change was logged may still receive
    it: that one (state playing) is skipped, nothing else.
    """
    event = client.event()
    if event["event"] == "plex_state_changed" and event["data"]["state"] != state:
        assert event["data"]["state"] == "playing", event
        event = client.event()
    assert event["event"] == "plex_state_changed", event
    assert event["data"]["state"] == state, event
    return event


def open_events(testcase, port, **kwargs):
    client = SseClient(port, **kwargs)
    testcase.addCleanup(client.close)
    return client


class StateTests(E2ECase):

    def test_several_followed_players_change_at_once(self):
        self.start_plex_and_daemon(machine_id=None, extra_args=[
            "-plex-machine-id", MACHINE_ID, "--plex-machine-id=%s,%s" % (KITCHEN, BEDROOM)])
        enabled = parse_log_line(self.daemon.wait_for_line("Plex webhook enabled"))
        self.assertEqual(sorted(enabled.fields["machine_id"].split(",")),
                         sorted([MACHINE_ID, KITCHEN, BEDROOM]))
        states = {MACHINE_ID: "playing", KITCHEN: "paused", BEDROOM: "playing",
                  FOREIGN_MACHINE_ID: "playing"}
        self.stub.set_sessions(sessions_xml(states))
        events = {MACHINE_ID: "media.play", KITCHEN: "media.pause", BEDROOM: "media.resume",
                  FOREIGN_MACHINE_ID: "media.play"}
        answers = post_all(self.daemon.port, [webhook_for(m, e) for m, e in events.items()])
        replies = [json.loads(body.decode()) for _, _, body in answers]
        self.assertEqual([status for status, _, _ in answers], [200] * 4, replies)
        self.assertEqual([r["status"] for r in replies], ["queued"] * 3 + ["ignored"], replies)
        self.daemon.wait_for_lines(ANY_CHANGE, 3)
        self.settle()
        changes = state_changes(self.daemon)
        by_player = {c["machine_id"]: c for c in changes}
        self.assertEqual(len(changes), 3, self.daemon.log())
        self.assertEqual(set(by_player), {MACHINE_ID, KITCHEN, BEDROOM})
        for machine_id, change in by_player.items():
            self.assertEqual(change["state"], states[machine_id])
            self.assertEqual(change["player"], PLAYERS[machine_id][0])
            self.assertEqual(change["title"], PLAYERS[machine_id][3])
        document = get_json(self.daemon.port)
        self.assertEqual({p["machine_id"]: p["state"] for p in document["players"]},
                         {m: states[m] for m in (MACHINE_ID, KITCHEN, BEDROOM)})
        self.assertIs(document["any_playing"], True)
        for player in document["players"]:
            self.assertEqual(set(player), PLAYER_KEYS)

    def settle(self):
        """Wait until every queued trigger has been fetched and handled."""
        self.assertTrue(self.stub.wait_idle(5))
        count = self.stub.count
        self.send(None)
        self.assertTrue(self.stub.wait_for_count(count + 1, 5), self.daemon.log())
        self.assertTrue(self.stub.wait_idle(5))

    def test_every_player_is_followed_without_machine_ids(self):
        self.start_plex_and_daemon(machine_id=None)
        enabled = parse_log_line(self.daemon.wait_for_line("Plex webhook enabled"))
        self.assertEqual(enabled.fields["machine_id"], "*")
        states = {MACHINE_ID: "playing", KITCHEN: "paused", FOREIGN_MACHINE_ID: "playing"}
        self.stub.set_sessions(sessions_xml(states))
        self.send(None)
        self.daemon.wait_for_lines(ANY_CHANGE, 3)
        self.settle()
        changes = state_changes(self.daemon)
        self.assertEqual(sorted((c["machine_id"], c["state"]) for c in changes),
                         sorted(states.items()), self.daemon.log())
        document = get_json(self.daemon.port)
        self.assertEqual(sorted(p["machine_id"] for p in document["players"]), sorted(states))
        # A player that leaves the sessions is stopped, and the document says so.
        del states[MACHINE_ID]
        del states[FOREIGN_MACHINE_ID]
        self.stub.set_sessions(sessions_xml(states))
        mark = self.daemon.mark()
        self.send(None)
        self.daemon.wait_for_lines(state_pattern("stopped"), 2, start=mark)
        document = get_json(self.daemon.port)
        self.assertEqual({p["machine_id"]: p["state"] for p in document["players"]},
                         {MACHINE_ID: "stopped", KITCHEN: "paused",
                          FOREIGN_MACHINE_ID: "stopped"})
        self.assertIs(document["any_playing"], False)

    def test_followed_player_never_seen_is_listed_as_stopped(self):
        self.start_plex_and_daemon()
        document = get_json(self.daemon.port)
        self.assertEqual(len(document["players"]), 1)
        [player] = document["players"]
        self.assertEqual((player["machine_id"], player["state"]), (MACHINE_ID, "stopped"))
        self.assertEqual(set(player), PLAYER_KEYS)
        self.assertIs(document["any_playing"], False)

    def read_position(self):
        before = time.monotonic()
        document = get_json(self.daemon.port)
        after = time.monotonic()
        [player] = document["players"]
        return player, before, after

    def test_positions_advance_while_playing_and_freeze_when_paused(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        first, start1, end1 = self.read_position()
        self.assertEqual(set(first), PLAYER_KEYS)
        self.assertEqual((first["state"], first["title"], first["artist"], first["album"]),
                         ("playing", TITLE, "Talking Heads", "Once in a Lifetime: The Best Of"))
        self.assertEqual((first["player"], first["product"]), ("Office", "Plexamp"))
        self.assertEqual((first["session_key"], first["rating_key"]), ("53", "6260"))
        self.assertEqual(first["duration_ms"], 259560)
        for key in ("since", "updated_at"):
            stamp = datetime.datetime.fromisoformat(first[key])
            self.assertIsNotNone(stamp.tzinfo)
            self.assertLess(abs(stamp.timestamp() - time.time()), 30)
        wait_for(lambda: time.monotonic() - end1 >= 0.3, timeout=1)
        second, start2, end2 = self.read_position()
        moved = second["position_ms"] - first["position_ms"]
        self.assertGreaterEqual(moved, int((start2 - end1) * 1000) - 2, (first, second))
        self.assertLessEqual(moved, int((end2 - start1) * 1000) + 2, (first, second))
        self.assertGreaterEqual(first["position_ms"], 30496)
        self.assertEqual(second["since"], first["since"])
        # Paused: the position stands still.
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        paused, _, end3 = self.read_position()
        wait_for(lambda: time.monotonic() - end3 >= 0.3, timeout=1)
        again, _, _ = self.read_position()
        self.assertEqual(paused["state"], "paused")
        self.assertEqual(again["position_ms"], paused["position_ms"])
        self.assertEqual(again["since"], paused["since"])
        document = get_json(self.daemon.port)
        self.assertIs(document["any_playing"], False)


class EventStreamTests(E2ECase):

    def test_state_first_then_one_numbered_event_per_change(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        client = open_events(self, self.daemon.port)
        self.assertEqual(client.status, 200)
        self.assertEqual(client.headers.get("content-type"), "text/event-stream")
        self.assertEqual(client.headers.get("cache-control"), "no-store")
        self.assertEqual(client.block(), ["retry: 3000"])
        state = client.event()
        self.assertEqual(state["event"], "state")
        self.assertNotIn("id", state)
        self.assertEqual(set(state["data"]), {"players", "any_playing"})
        [player] = state["data"]["players"]
        self.assertEqual((player["machine_id"], player["state"]), (MACHINE_ID, "playing"))
        self.assertIs(state["data"]["any_playing"], True)
        # Each change: one event with an id, in order.
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        paused = next_change(client, "paused")
        self.assertEqual(paused["data"]["state"], "paused")
        self.assertEqual(paused["data"]["previous_state"], "playing")
        self.assertEqual(paused["data"]["machine_id"], MACHINE_ID)
        self.assertEqual(paused["data"]["title"], TITLE)
        self.assertEqual(paused["data"]["position_ms"], 30496)
        self.set_sessions("sessions_track.xml")
        self.send("payload_resume.json")
        playing = client.event()
        self.assertEqual(playing["event"], "plex_state_changed")
        self.assertEqual(playing["data"]["state"], "playing")
        self.assertEqual(int(playing["id"]), int(paused["id"]) + 1)
        # A second subscriber starts from the state as it is now.
        other = open_events(self, self.daemon.port)
        other.block()
        self.assertEqual(other.event()["data"]["players"][0]["state"], "playing")

    def test_at_most_sixteen_subscribers(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        clients = []
        for _ in range(16):
            client = open_events(self, self.daemon.port)
            self.assertEqual(client.status, 200)
            self.assertEqual(client.event()["event"], "state")
            clients.append(client)
        refused = open_events(self, self.daemon.port)
        self.assertEqual(refused.status, 503)
        self.assertIn("retry-after", refused.headers)
        self.assertIn("error", json.loads(refused.body.decode()))
        # Everything else still works with sixteen streams open.
        self.assertEqual(get_json(self.daemon.port, "/healthz")["status"], "ok")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        for client in clients:
            next_change(client, "paused")

    def test_subscriber_that_stops_reading_is_dropped(self):
        stub = start_stub(self, webhooks.fixture("sessions_track.xml"))
        daemon = start_daemon(self, stub, log_level="info")
        self.assertTrue(stub.wait_for_count(1, 5))
        daemon.wait_for_line(state_pattern("playing"))
        slow = open_events(self, daemon.port, rcvbuf=4096)
        self.assertEqual(slow.event()["event"], "state")
        # A well-behaved subscriber reads everything meanwhile.
        fast = open_events(self, daemon.port, timeout=10)
        fast.event()
        received = []

        def read_fast():
            try:
                while True:
                    received.append(int(fast.event()["id"]))
            except (OSError, EOFError, ValueError):
                return

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        pause_body = webhooks.multipart_body(webhooks.fixture("payload_pause.json"))
        play_body = webhooks.multipart_body(webhooks.fixture("payload_play.json"))
        connection = None
        changes_wanted = 1000
        slowest = 0.0
        for n in range(changes_wanted):
            content_type, body = pause_body if n % 2 == 0 else play_body
            count = stub.count
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
            started = time.monotonic()
            connection.request("POST", webhooks.WEBHOOK_PATH, body=body,
                               headers={"Content-Type": content_type})
            answer = connection.getresponse()
            answer.read()
            slowest = max(slowest, time.monotonic() - started)
            self.assertEqual(answer.status, 200)
            if answer.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None
            # The fetcher took this webhook in a batch of its own: one change each.
            self.assertTrue(stub.wait_for_count(count + 1, 5), daemon.log()[-3000:])
        if connection is not None:
            connection.close()
        daemon.wait_for_lines(ANY_CHANGE, changes_wanted + 1,
                              timeout=10)
        self.assertLess(slowest, 1.0, "a webhook waited on the stuck subscriber")
        started = time.monotonic()
        status, _, _ = webhooks.get(daemon.port, "/healthz", timeout=1)
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - started, 1.0)
        status, _, _ = webhooks.post_webhook(daemon.port, "payload_pause.json", timeout=1)
        self.assertEqual(status, 200)
        # The fast reader saw every change, numbered without gaps.
        self.assertTrue(wait_for(lambda: len(received) >= changes_wanted, timeout=5),
                        "fast subscriber got %d events" % len(received))
        self.assertEqual(received[:changes_wanted],
                         list(range(received[0], received[0] + changes_wanted)))
        self.assertTrue(daemon.running())
        self.assertNotIn("failed; carrying on", daemon.log())
        # The one that stopped reading was let go, and said so once.
        dropped = daemon.wait_for_line("events subscriber dropped", timeout=1)
        self.assertEqual(parse_log_line(dropped).level, "WARN", dropped)
        self.assertEqual(daemon.count("events subscriber dropped"), 1, "only the slow one")


class StatusCommandTests(E2ECase):

    def test_status_prints_the_table(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        url = "http://127.0.0.1:%d" % self.daemon.port
        result = run_cli(["status", "-url", url])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        lines = result.stdout.splitlines()
        self.assertIn("PLAYER", lines[0])
        self.assertIn("STATE", lines[0])
        self.assertIn("Office", lines[1])
        self.assertIn("playing", lines[1])
        self.assertIn(MACHINE_ID, lines[1])
        self.assertIn("Talking Heads - %s" % TITLE, lines[1])
        self.assertEqual(lines[-1], "Any player playing: yes")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        result = run_cli(["status", "--url=%s" % url])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("paused", result.stdout.splitlines()[1])
        self.assertEqual(result.stdout.splitlines()[-1], "Any player playing: no")

    def test_status_from_the_environment(self):
        self.start_plex_and_daemon()
        result = run_cli(["status"], env={
            "STREAMERBRAINZ_URL": "http://127.0.0.1:%d" % self.daemon.port})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("stopped", result.stdout)
        self.assertIn("Any player playing: no", result.stdout)

    def test_status_without_a_daemon_is_one_line_and_exit_1(self):
        url = "http://127.0.0.1:%d" % free_port()
        result = run_cli(["status", "-url", url])
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn(url, result.stderr)
        self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
    unittest.main()
