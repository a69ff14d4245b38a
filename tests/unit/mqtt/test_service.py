"""The MQTT service against the stand-in broker: what it says, what it takes, what it survives."""

import json
import time
import unittest
from unittest import mock

from streamerbrainz.mqtt import service as service_module
from streamerbrainz.mqtt import topics as topics_module
from streamerbrainz.mqtt.flags import Broker
from streamerbrainz.mqtt.service import MQTT, Settings
from tests.support import model
from tests.support.daemon import wait_for
from tests.support.logs import captured
from tests.support.mqttbroker import StandInBroker

MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
PASSWORD = "mqtt-pa55word-xyz"
TOPICS = topics_module.Topics("streamerbrainz", "pi")


def change(state="playing", previous="stopped", title="Once in a Lifetime", **fields):
    return model.change(machine_id=MACHINE_ID, player="Office", state=state,
                        previous_state=previous, title=title, **fields)


class ServiceCase(unittest.TestCase):

    def setUp(self):
        self.broker = StandInBroker().start()
        self.addCleanup(self.broker.stop)
        patcher = mock.patch.object(service_module, "FIRST_BACKOFF", 0.05)
        patcher.start()
        self.addCleanup(patcher.stop)
        manager = captured()
        self.logs = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)
        self.commands = []

    def start(self, keepalive=60, discovery=True, password=PASSWORD, preload=True, **options):
        settings = Settings(Broker("127.0.0.1", self.broker.port, False, "ha"), password, None,
                            "sbz-test", keepalive, discovery, "pi", "1.0")
        options.setdefault("control", lambda player, action: self.commands.append(
            (player, action)) or "")
        self.service = MQTT(settings, TOPICS, **options)
        if preload:
            self.service.preload({}, followed=[MACHINE_ID],
                                 camilladsp=options.get("set_volume") is not None)
        self.service.start()
        self.addCleanup(self.stop)
        return self.service

    def stop(self):
        self.assertTrue(self.service.stop(time.monotonic() + 2))

    def retained(self, topic, wanted, timeout=5):
        """Wait until the broker holds ``wanted`` (bytes, or a predicate) for ``topic``."""
        check = wanted if callable(wanted) else (lambda payload: payload == wanted)
        held = self.broker.wait_for(lambda b: topic in b.retained and check(b.retained[topic]),
                                    timeout)
        self.assertTrue(held, "%s: %r" % (topic, self.broker.retained.get(topic)))

    def assert_no_password_in_logs(self):
        self.assertNotIn(PASSWORD, self.logs.text())


class ConnectTest(ServiceCase):

    def test_connect_with_a_last_will_then_online_subscriptions_and_discovery(self):
        self.start()
        connect = self.broker.wait_for_packet("CONNECT")
        fields = connect.fields
        self.assertEqual((fields["client_id"], fields["keep_alive"], fields["username"]),
                         ("sbz-test", 60, "ha"))
        self.assertEqual((fields["will_topic"], fields["will_message"], fields["will_retain"],
                          fields["will_qos"]), (TOPICS.availability, b"offline", True, 1))
        self.retained(TOPICS.availability, b"online")
        subscribe = self.broker.wait_for_packet("SUBSCRIBE")
        self.assertEqual(sorted(topic for topic, qos in subscribe.fields["topics"]),
                         sorted([TOPICS.player_set, TOPICS.entities]))
        sensor = TOPICS.config("sensor", MACHINE_ID)
        self.retained(sensor, lambda payload: json.loads(payload)["state_topic"]
                      == TOPICS.state(MACHINE_ID))
        self.retained(TOPICS.entities, lambda payload: sensor in json.loads(payload))
        self.retained(TOPICS.any_playing, b"OFF")
        self.assertEqual(self.logs.find("MQTT connected"), [{"broker": "127.0.0.1:%d"
                                                             % self.broker.port}])
        self.assert_no_password_in_logs()

    def test_a_change_is_a_retained_state_an_event_and_any_playing(self):
        self.start()
        self.retained(TOPICS.availability, b"online")
        self.service.state_changed(change(position_ms=30496))
        self.retained(TOPICS.state(MACHINE_ID), lambda payload: json.loads(payload)["state"]
                      == "playing")
        state = json.loads(self.broker.retained[TOPICS.state(MACHINE_ID)])
        self.assertEqual((state["title"], state["position_ms"], state["player"]),
                         ("Once in a Lifetime", 30496, "Office"))
        event = self.broker.wait_for_packet(
            "PUBLISH", lambda packet: packet.fields["topic"] == TOPICS.event(MACHINE_ID))
        self.assertEqual((event.fields["qos"], event.fields["retain"]), (0, False))
        self.assertEqual(json.loads(event.fields["payload"])["event"], "play")
        self.retained(TOPICS.any_playing, b"ON")
        self.retained(TOPICS.last_change, lambda payload: json.loads(payload)["player"]
                      == "Office")

    def test_a_refused_login_is_one_line_and_it_tries_again(self):
        self.broker.require_login("ha", "another password")
        self.start()
        self.broker.wait_for(lambda b: sum(p.kind == "CONNECT" for p in b.received) >= 2)
        lines = self.logs.find("MQTT broker not reachable; retrying with backoff", "WARN")
        self.assertEqual(len(lines), 1, self.logs.text())
        self.assertIn("the broker refused the user name or password (CONNACK 4)",
                      lines[0]["error"])
        self.assert_no_password_in_logs()

    def test_stop_says_offline_and_disconnects(self):
        self.start()
        self.retained(TOPICS.availability, b"online")
        self.assertTrue(self.service.stop(time.monotonic() + 2))
        self.retained(TOPICS.availability, b"offline")
        self.assertTrue(self.broker.wait_for(
            lambda b: [c.reason for c in b.closes] == ["disconnect"]), self.broker.closes)

    def test_idle_it_only_pings(self):
        self.start(keepalive=1)
        self.broker.wait_for_packet("PINGREQ")  # the first follows the subscriptions at once
        pings = self.broker.wait_for(
            lambda b: sum(p.kind == "PINGREQ" for p in b.received) >= 3, timeout=4)
        self.assertTrue(pings, self.broker.received)
        first, second = [p for p in self.broker.received if p.kind == "PINGREQ"][1:3]
        self.assertGreaterEqual(second.at - first.at, 0.9)
        after = [p.kind for p in self.broker.received
                 if first.at < p.at <= second.at]
        self.assertEqual(after, ["PINGREQ"], "nothing but the ping while idle")
        self.assertEqual(self.broker.connections(), 1)


class DeliveryTest(ServiceCase):

    def test_a_publish_that_lost_its_puback_goes_again_with_dup(self):
        self.start()
        self.retained(TOPICS.availability, b"online")
        self.retained(TOPICS.entities, lambda payload: True)
        self.broker.drop_before_puback(1)
        self.service.state_changed(change())
        self.retained(TOPICS.state(MACHINE_ID), lambda payload: json.loads(payload)["state"]
                      == "playing")
        dups = [p for p in self.broker.published(TOPICS.state(MACHINE_ID)) if p.fields["dup"]]
        self.assertTrue(dups, self.broker.received)
        self.assertEqual(self.logs.find("MQTT connected again")[0]["broker"],
                         "127.0.0.1:%d" % self.broker.port)

    def test_a_stalled_broker_costs_a_bounded_outbox_and_the_newest_state_arrives(self):
        self.start(max_events=100)
        self.retained(TOPICS.entities, lambda payload: True)
        self.broker.stall()
        for n in range(10000):
            self.service.state_changed(change(title="track %d" % n, rating_key=str(n)))
            self.assertLessEqual(len(self.service.outbox), 100 + 8)
        self.broker.resume()
        self.retained(TOPICS.state(MACHINE_ID), lambda payload: json.loads(payload)["title"]
                      == "track 9999", timeout=20)
        self.assertEqual(len(self.logs.find(
            "MQTT broker is not taking messages: dropping the oldest events until it does "
            "(the newest state of each player is kept)", "WARN")), 1)
        self.assertTrue(wait_for(lambda: self.logs.find(
            "MQTT events dropped while the broker took none", "WARN")))

    def test_a_broker_restart_gets_every_retained_state_again(self):
        self.start()
        self.service.state_changed(change())
        self.retained(TOPICS.state(MACHINE_ID), lambda payload: True)
        self.broker.stop()
        state = self.broker.retained[TOPICS.state(MACHINE_ID)]
        self.broker.clear_retained()  # a broker without persistence lost its store
        self.broker.start()
        self.retained(TOPICS.state(MACHINE_ID), state, timeout=10)
        self.retained(TOPICS.availability, b"online")

    def test_configs_an_earlier_run_published_and_this_one_does_not_are_removed(self):
        gone = TOPICS.config("sensor", "kitchen")
        self.broker.publish(gone, b'{"name": "Kitchen"}', qos=1, retain=True)
        self.broker.publish(TOPICS.entities, json.dumps([gone]).encode(), qos=1, retain=True)
        self.start()
        self.assertTrue(self.broker.wait_for(lambda b: gone not in b.retained),
                        self.broker.retained)
        self.retained(TOPICS.entities, lambda payload: gone not in json.loads(payload)
                      and TOPICS.config("sensor", MACHINE_ID) in json.loads(payload))


class CommandTest(ServiceCase):

    def test_player_commands_go_to_control_and_others_are_ignored(self):
        volumes, mutes = [], []
        self.start(set_volume=volumes.append, set_mute=mutes.append)
        self.broker.wait_for_packet("SUBSCRIBE")
        self.retained(TOPICS.entities, lambda payload: True)
        player = topics_module.safe(MACHINE_ID)
        for topic, payload in ((TOPICS.command(MACHINE_ID), b"pause"),
                               (TOPICS.command(MACHINE_ID), b"dance"),
                               (TOPICS.volume_set, b"-30.5"), (TOPICS.volume_set, b"loud"),
                               (TOPICS.volume_set, b"nan"), (TOPICS.mute_set, b"ON"),
                               (TOPICS.command(MACHINE_ID), b" Next ")):
            self.broker.publish(topic, payload, qos=1)
        self.assertTrue(wait_for(lambda: len(self.commands) == 2), self.commands)
        self.assertEqual(self.commands, [(player, "pause"), (player, "next")])
        self.assertEqual((volumes, mutes), ([-30.5], [True]))
        ignored = self.logs.levels("DEBUG")
        self.assertTrue(any("ignored" in text for text, _ in ignored), ignored)

    def test_a_retained_command_never_replays(self):
        self.broker.publish(TOPICS.command(MACHINE_ID), b"play", qos=1, retain=True)
        self.start()
        self.assertTrue(wait_for(lambda: self.logs.find("MQTT retained command ignored")))
        self.assertEqual(self.commands, [])


if __name__ == "__main__":
    unittest.main()
