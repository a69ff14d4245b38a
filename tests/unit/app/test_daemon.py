"""The main loop's promises: the watchdog only while every part is alive, listeners in order."""

import queue
import threading
import time
import types
import unittest

from streamerbrainz.app.daemon import Daemon
from streamerbrainz.core.actions import Shutdown
from streamerbrainz.core.listener import Listener
from streamerbrainz.hooks.runners import hook_environment
from tests.support import model
from tests.support.daemon import wait_for

CONFIG = types.SimpleNamespace(
    idle_after=300.0, idle_at_start=False, hooks=(), notify_urls=(), hook_timeout=10.0,
    plex_enabled=False, plexamp_url="", plex_notifications=False, plex_machine_ids=(),
    plex_poll_interval=0.0, state_dir="",
    plex_token="", webhooks_secret="", local_player=(), camilladsp_url="")


class FakeNotifier:
    """Counts watchdog pings; wants one every 10 ms."""

    watchdog_interval = 0.01

    def __init__(self):
        self.pings = 0

    def watchdog(self):
        self.pings += 1

    def ready(self, status=""):
        pass

    def stopping(self):
        pass


class Part:
    name = "accept"

    def __init__(self):
        self.up = True

    def alive(self):
        return self.up


class WatchdogTest(unittest.TestCase):

    def test_no_ping_once_a_part_has_died_and_one_error_says_which(self):
        daemon = Daemon(CONFIG, {})
        daemon.notifier = FakeNotifier()
        part = Part()
        daemon.parts.services = [part]
        checks = []
        all_alive = daemon.all_alive
        daemon.all_alive = lambda: checks.append(None) or all_alive()
        daemon.running = True
        loop = threading.Thread(target=daemon.loop, daemon=True)
        with self.assertLogs("streamerbrainz.app.daemon", "ERROR") as logs:
            loop.start()
            self.assertTrue(wait_for(lambda: daemon.notifier.pings >= 3))
            part.up = False
            dead_at = len(checks)
            self.assertTrue(wait_for(lambda: len(checks) >= dead_at + 5))
            pings = daemon.notifier.pings
            self.assertTrue(wait_for(lambda: len(checks) >= dead_at + 10))
            self.assertLessEqual(daemon.notifier.pings, pings + 1)  # one may be under way
            daemon.actions.put(Shutdown("test"))
            loop.join(5)
        self.assertFalse(loop.is_alive())
        errors = [r.getMessage() for r in logs.records]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("no more watchdog pings", errors[0])
        self.assertEqual(logs.records[0].fields, {"stopped": "accept"})

    def test_pings_while_every_part_is_alive(self):
        daemon = Daemon(CONFIG, {})
        daemon.notifier = FakeNotifier()
        daemon.parts.services = [Part(), Part()]
        daemon.running = True
        loop = threading.Thread(target=daemon.loop, daemon=True)
        loop.start()
        self.assertTrue(wait_for(lambda: daemon.notifier.pings >= 5))
        daemon.actions.put(Shutdown("test"))
        loop.join(5)
        self.assertFalse(loop.is_alive())


class ReloadTest(unittest.TestCase):

    def test_a_token_and_a_secret_reloaded_by_sighup_are_kept_out_of_hooks(self):
        config = types.SimpleNamespace(**dict(vars(CONFIG), hooks={"on-play": "/bin/true"}))
        daemon = Daemon(config, {})
        daemon.parts.plex_clients = [types.SimpleNamespace(token="old-token-123")]
        daemon.parts.server = types.SimpleNamespace(secret="old-secret-123")
        daemon._use_token("old-token-123", "new-token-456")
        daemon._use_secret("old-secret-123", "new-secret-789")
        env = hook_environment({}, base={"NOTE": "x new-token-456 y", "URL": "new-secret-789",
                                         "KEPT": "plain"},
                               secrets=daemon.parts.hooks.runner.secrets)
        self.assertEqual(env, {"KEPT": "plain"})
        self.assertEqual(daemon.parts.plex_clients[0].token, "new-token-456")


class Recorder(Listener):
    def __init__(self, name, heard, fail=False):
        self.name = name
        self.heard = heard
        self.fail = fail

    def players_active(self, change):
        self.heard.append((self.name, "active"))
        if self.fail:
            raise RuntimeError("broken listener")

    def state_changed(self, change):
        self.heard.append((self.name, change.kind))
        if self.fail:
            raise RuntimeError("broken listener")


class ListenerOrderTest(unittest.TestCase):

    def test_each_listener_hears_active_then_the_change_before_the_next_one_and_a_failure_skips_nothing(self):
        daemon = Daemon(CONFIG, {})
        heard = []
        daemon.parts.listeners = [Recorder("amp", heard), Recorder("broken", heard, fail=True),
                                  Recorder("volume", heard)]
        with self.assertLogs("streamerbrainz.core.listener", "ERROR") as logs:
            daemon.dispatch(model.change(machine_id="pi", state="playing",
                                         previous_state="stopped"))
            self.assertEqual(heard, [("amp", "active"), ("amp", "play"),
                                     ("broken", "active"), ("broken", "play"),
                                     ("volume", "active"), ("volume", "play")])
            heard.clear()
            daemon.dispatch(model.change(machine_id="pi", state="paused",
                                         previous_state="playing"))
        self.assertEqual(heard, [("amp", "pause"), ("broken", "pause"), ("volume", "pause")])
        self.assertEqual([r.fields for r in logs.records],
                         [{"listener": "broken", "event": "players_active"},
                          {"listener": "broken", "event": "state_changed"},
                          {"listener": "broken", "event": "state_changed"}])

if __name__ == "__main__":
    unittest.main()
