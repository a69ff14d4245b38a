"""The mosquitto harness (tests/support/mosquitto.py) against the real broker.

A user's messages go through, a wrong password is refused, a retained
message outlives a restart, and a killed broker starts again on its port.
Skipped only when mosquitto is not installed; no test sleeps: each waits on
a subscriber's condition or on a program's exit, with a deadline.
"""

import os
import unittest

from tests.support import mosquitto
from tests.support.mosquitto import Mosquitto, Subscriber, publish, retained, start_mosquitto

USER, PASSWORD = "sbz", "pass word:1"
CREDENTIALS = {"user": USER, "password": PASSWORD}


@mosquitto.skip_unless_mosquitto
class HarnessTest(unittest.TestCase):

    def broker(self, users=None):
        return start_mosquitto(self, {USER: PASSWORD} if users is None else users)

    def subscribe(self, broker, topics, **options):
        subscriber = Subscriber(broker.port, topics, **dict(CREDENTIALS, **options))
        self.addCleanup(subscriber.stop)
        return subscriber

    def test_a_subscriber_sees_what_is_published(self):
        broker = self.broker()
        self.assertEqual(broker.url, "mqtt://127.0.0.1:%d" % broker.port)
        self.assertNotEqual(broker.port, 1883)
        subscriber = self.subscribe(broker, ["sbz/#", "other"])
        publish(broker.port, "sbz/room one/state", "playing  two spaces", **CREDENTIALS)
        publish(broker.port, "sbz/empty", b"", qos=1, **CREDENTIALS)
        publish(broker.port, "other", b"\x00\xffbinary\n", qos=1, **CREDENTIALS)
        publish(broker.port, "unsubscribed", "not seen", **CREDENTIALS)
        last = subscriber.wait_for_topic("other")
        self.assertEqual(last, mosquitto.Message("other", b"\x00\xffbinary\n", False, 0))
        self.assertEqual(subscriber.messages(), [
            mosquitto.Message("sbz/room one/state", b"playing  two spaces", False, 0),
            mosquitto.Message("sbz/empty", b"", False, 0),
            last,
        ])

    def test_the_probe_stays_out_of_sight(self):
        broker = self.broker()
        everything = self.subscribe(broker, "#")
        self.subscribe(broker, "sbz/+")  # its probe goes by while `everything` listens
        publish(broker.port, "sbz/x", "1", qos=1, **CREDENTIALS)
        everything.wait_for_topic("sbz/x")
        self.assertEqual([message.topic for message in everything.messages()], ["sbz/x"])

    def test_qos_1_subscription(self):
        broker = self.broker()
        subscriber = self.subscribe(broker, "sbz/q", qos=1)
        publish(broker.port, "sbz/q", "once", qos=1, **CREDENTIALS)
        self.assertEqual(subscriber.wait_for_topic("sbz/q").qos, 1)

    def test_a_retained_message_outlives_a_restart(self):
        broker = self.broker()
        publish(broker.port, "sbz/retained", "kept", retain=True, qos=1, **CREDENTIALS)
        publish(broker.port, "sbz/live", "gone", qos=1, **CREDENTIALS)
        self.assertEqual(retained(broker.port, "sbz/#", **CREDENTIALS),
                         {"sbz/retained": b"kept"})
        port = broker.port
        broker.restart()
        self.assertEqual(broker.port, port)
        self.assertIn("Saving in-memory database", broker.log())
        self.assertEqual(retained(broker.port, "#", **CREDENTIALS), {"sbz/retained": b"kept"})
        self.assertEqual(retained(broker.port, "elsewhere/#", **CREDENTIALS), {})
        late = self.subscribe(broker, "sbz/retained")
        self.assertTrue(late.wait_for_topic("sbz/retained").retained)

    def test_a_wrong_password_is_refused(self):
        broker = self.broker()
        done = publish(broker.port, "sbz/x", "no", user=USER, password="wrong", check=False)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("not authorised", done.stderr)
        self.assertNotIn("wrong", " ".join(done.args))
        anonymous = publish(broker.port, "sbz/x", "no", check=False)
        self.assertNotEqual(anonymous.returncode, 0)
        self.assertEqual(mosquitto.connack_code(broker.port, USER, "wrong"), 5)
        self.assertEqual(mosquitto.connack_code(broker.port, USER, PASSWORD), 0)
        with self.assertRaises(AssertionError) as caught:
            publish(broker.port, "sbz/x", "no", user=USER, password="wrong")
        self.assertNotIn("wrong", str(caught.exception))
        with self.assertRaises(AssertionError) as caught:
            Subscriber(broker.port, "sbz/#", user=USER, password="wrong", timeout=2)
        self.assertIn("CONNACK code 5", str(caught.exception))
        self.assertNotIn("wrong", str(caught.exception))

    def test_anonymous_when_no_users(self):
        broker = self.broker(users={})
        self.assertIn("allow_anonymous true", broker.config())
        subscriber = Subscriber(broker.port, "a")
        self.addCleanup(subscriber.stop)
        publish(broker.port, "a", "b")
        self.assertEqual(subscriber.wait_for_topic("a").payload, b"b")

    def test_kill_then_start(self):
        broker = self.broker()
        pid = broker.proc.pid
        self.subscribe(broker, "sbz/#")  # a client connected at the crash
        broker.kill()
        self.assertFalse(broker.running())
        broker.start()
        self.assertNotEqual(broker.proc.pid, pid)
        again = self.subscribe(broker, "sbz/#")
        publish(broker.port, "sbz/after", "up", qos=1, **CREDENTIALS)
        self.assertEqual(again.wait_for_topic("sbz/after").payload, b"up")
        self.assertEqual(broker.log().count("== harness: start"), 2)
        self.assertIn("== harness: mosquitto killed", broker.log())

    def test_close_removes_everything(self):
        broker = Mosquitto({USER: PASSWORD})
        with broker:
            self.assertTrue(broker.running())
            with open(broker.password_path) as handle:
                self.assertNotIn(PASSWORD, handle.read())
            self.assertEqual(os.stat(broker.password_path).st_mode & 0o777, 0o600)
        self.assertFalse(broker.running())
        self.assertFalse(os.path.exists(broker.dir))

    def test_a_start_that_fails_says_why(self):
        first = self.broker()
        taken = Mosquitto({USER: PASSWORD}, port=first.port)
        self.addCleanup(taken.close)
        with self.assertRaises(AssertionError) as caught:
            taken.start(timeout=5)
        self.assertIn("exited with status", str(caught.exception))
        self.assertIn("Address already in use", str(caught.exception))
        self.assertFalse(taken.running())


if __name__ == "__main__":
    unittest.main()
