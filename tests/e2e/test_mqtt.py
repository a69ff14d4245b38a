"""End to end with a real broker: the daemon as a Home Assistant device over MQTT.

The daemon runs as a subprocess beside a real mosquitto (tests/support/
mosquitto.py: a broker of the test's own, with a user and a password
file) and the stand-ins it follows (Plex, Plexamp, CamillaDSP). What is
checked is what Home Assistant would see with ``mosquitto_sub``: the
discovery configs, the retained state, the last will after ``kill -9``,
a command that reaches the player, the state again after the broker
restarts, and one retained config per entity after the daemon restarts.
"""

import json
import os
import signal
import socket
import tempfile

from tests.support import mosquitto
from tests.support.camilladsp import StandInCamillaDSP
from tests.support.daemon import E2ECase, start_daemon, start_stub, wait_for
from tests.support.sources import PLEXAMP_MACHINE_ID, start_plexamp
from tests.support.webhooks import fixture
from streamerbrainz.mqtt import topics as topics_module

USER, PASSWORD = "streamerbrainz", "mqtt-pa55-for-the-test"
MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
NODE = topics_module.node_id(socket.gethostname())
TOPICS = topics_module.Topics("streamerbrainz", NODE)


@mosquitto.skip_unless_mosquitto
class MQTTCase(E2ECase):

    def setUp(self):
        self.broker = mosquitto.start_mosquitto(self, users={USER: PASSWORD})
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.password_file = os.path.join(tmp.name, "mqtt-password")
        with open(self.password_file, "w") as handle:
            handle.write(PASSWORD + "\n")
        self.subscriber = self.subscribe(["homeassistant/#", "streamerbrainz/#"])

    def subscribe(self, topics):
        subscriber = mosquitto.Subscriber(self.broker.port, topics, USER, PASSWORD)
        self.addCleanup(subscriber.stop)
        return subscriber

    def mqtt_flags(self, *more):
        return ["-mqtt-url", "mqtt://%s@127.0.0.1:%d" % (USER, self.broker.port),
                "-mqtt-password-file", self.password_file, "-mqtt-keepalive", "5"] + list(more)

    def message(self, topic, predicate=None, start=0, timeout=10):
        return self.subscriber.wait_for(
            lambda m: m.topic == topic and (predicate is None or predicate(m)), timeout, start)

    def retained(self, topic_filter="#"):
        return mosquitto.retained(self.broker.port, topic_filter, USER, PASSWORD)

    def assert_no_secret_on_the_wire(self):
        for message in self.subscriber.messages():
            for secret in (PASSWORD, self.daemon.token or PASSWORD):
                self.assertNotIn(secret.encode(), message.payload, message.topic)
                self.assertNotIn(secret, message.topic)
        self.assertNotIn(PASSWORD, self.daemon.log())


class DeviceTest(MQTTCase):

    def test_discovery_the_retained_state_and_the_last_will(self):
        daemon = self.start_plex_and_daemon("sessions_empty.xml", extra_args=self.mqtt_flags())
        daemon.wait_for_line("MQTT connected broker=127.0.0.1:%d" % self.broker.port)
        sensor = self.message(TOPICS.config("sensor", MACHINE_ID))
        config = json.loads(sensor.payload)
        self.assertIn(sensor.topic, self.retained("homeassistant/#"))
        self.assertEqual((config["state_topic"], config["availability_topic"]),
                         (TOPICS.state(MACHINE_ID), TOPICS.availability))
        self.message(TOPICS.config("binary_sensor", "playing"))
        self.message(TOPICS.config("sensor", "last_change"))
        self.message(TOPICS.availability, lambda m: m.payload == b"online")
        mark = self.subscriber.mark()
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        state = self.message(TOPICS.state(MACHINE_ID), start=mark)
        self.assertEqual(json.loads(state.payload)["state"], "playing")
        self.message(TOPICS.any_playing, lambda m: m.payload == b"ON", start=mark)
        event = self.message(TOPICS.event(MACHINE_ID), start=mark)
        self.assertEqual(json.loads(event.payload)["event"], "play")
        held = self.retained("streamerbrainz/#")
        self.assertEqual(json.loads(held[TOPICS.state(MACHINE_ID)])["title"],
                         "Once in a Lifetime")
        self.assertNotIn(TOPICS.event(MACHINE_ID), held, "events are not retained")
        mark = self.subscriber.mark()
        daemon.send_signal(signal.SIGKILL)
        daemon.wait_exit(5)
        self.message(TOPICS.availability, lambda m: m.payload == b"offline", start=mark)
        self.assertEqual(self.retained(TOPICS.availability)[TOPICS.availability], b"offline")
        self.assert_no_secret_on_the_wire()

    def test_a_clean_stop_says_offline_at_once(self):
        daemon = self.start_plex_and_daemon("sessions_empty.xml", extra_args=self.mqtt_flags())
        self.message(TOPICS.availability, lambda m: m.payload == b"online")
        mark = self.subscriber.mark()
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        self.message(TOPICS.availability, lambda m: m.payload == b"offline", start=mark,
                     timeout=2)
        daemon.wait_for_line("MQTT disconnected")

    def test_after_the_broker_restarts_the_state_is_there_again(self):
        daemon = self.start_plex_and_daemon("sessions_track.xml", extra_args=self.mqtt_flags())
        self.message(TOPICS.state(MACHINE_ID), lambda m: json.loads(m.payload)["state"]
                     == "playing")
        self.broker.kill()  # the retained store since its start is lost with it
        self.broker.start()
        daemon.wait_for_line("MQTT connected again", timeout=15)
        held = self.retained()
        self.assertEqual(json.loads(held[TOPICS.state(MACHINE_ID)])["state"], "playing")
        self.assertEqual(held[TOPICS.availability], b"online")
        self.assertIn(TOPICS.config("sensor", MACHINE_ID), held)

    def test_a_wrong_password_is_one_line_and_the_daemon_serves_on(self):
        with open(self.password_file, "w") as handle:
            handle.write("not-the-password\n")
        daemon = self.start_plex_and_daemon("sessions_empty.xml", extra_args=self.mqtt_flags())
        line = daemon.wait_for_line("MQTT broker not reachable; retrying with backoff")
        self.assertIn("CONNACK", line)
        self.assertNotIn("not-the-password", daemon.log())
        self.send()  # webhooks are taken all the same
        self.assertTrue(daemon.running())


class RestartTest(MQTTCase):

    def test_one_retained_config_per_entity_and_a_player_no_longer_followed_is_removed(self):
        other = "5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
        self.stub = start_stub(self, fixture("sessions_empty.xml"))
        first = start_daemon(self, self.stub, machine_id=other,
                             extra_args=self.mqtt_flags())
        self.message(TOPICS.config("sensor", other))
        self.message(TOPICS.entities, lambda m: TOPICS.config("sensor", other).encode()
                     in m.payload)
        first.terminate()
        self.assertEqual(first.wait_exit(5), 0)
        self.daemon = start_daemon(self, self.stub, machine_id=MACHINE_ID,
                                   extra_args=self.mqtt_flags())
        self.message(TOPICS.entities, lambda m: TOPICS.config("sensor", MACHINE_ID).encode()
                     in m.payload and TOPICS.config("sensor", other).encode() not in m.payload)
        self.assertTrue(wait_for(lambda: TOPICS.config("sensor", other)
                                 not in self.retained("homeassistant/#"), 10))
        fresh = self.subscribe("homeassistant/#")
        listed = json.loads(self.retained(TOPICS.entities)[TOPICS.entities])
        fresh.wait_for(lambda m: m.topic == listed[-1])
        configs = [m.topic for m in fresh.messages() if m.retained]
        self.assertEqual(sorted(configs), sorted(set(configs)), "one config per entity")
        self.assertEqual(sorted(configs), sorted(listed))


class CommandTest(MQTTCase):

    def test_a_button_pauses_plexamp_and_the_volume_reaches_camilladsp(self):
        amp = start_plexamp(self)
        amp.set_timeline("playing", 61000, 200000, "42", "Heroes", "David Bowie", "\"Heroes\"")
        dsp = StandInCamillaDSP(volume=-23.0).start()
        self.addCleanup(dsp.stop)
        self.daemon = start_daemon(self, machine_id=None, extra_args=self.mqtt_flags(
            "-plexamp-url", amp.url, "-camilladsp-url", dsp.url))
        self.daemon.wait_for_line("Plexamp connected")
        pause = TOPICS.config("button", topics_module.safe(PLEXAMP_MACHINE_ID) + "_pause")
        button = json.loads(self.message(pause).payload)
        self.message(TOPICS.config("number", "volume"))
        mosquitto.publish(self.broker.port, button["command_topic"], button["payload_press"],
                          qos=1, user=USER, password=PASSWORD)
        self.daemon.wait_for_line("MQTT command player=%s command=pause"
                                  % topics_module.safe(PLEXAMP_MACHINE_ID))
        self.assertTrue(amp.wait_for_command("pause", timeout=10), self.daemon.log())
        mosquitto.publish(self.broker.port, TOPICS.volume_set, "-30", qos=1, user=USER,
                          password=PASSWORD)
        self.assertTrue(dsp.wait_for(lambda d: d.volume() == -30.0, 5), self.daemon.log())
        self.message(TOPICS.camilladsp, lambda m: json.loads(m.payload)["volume_db"] == -30.0)
        self.assert_no_secret_on_the_wire()
