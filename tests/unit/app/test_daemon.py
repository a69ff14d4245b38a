"""The main loop's promises: the watchdog only while every part is alive, listeners in order."""

import dataclasses
import logging
import threading
import types
import unittest

from streamerbrainz.app import config as configuration
from streamerbrainz.app import reload
from streamerbrainz.app.daemon import Daemon
from streamerbrainz.core.actions import Reload, Shutdown
from streamerbrainz.core.listener import Listener
from streamerbrainz.hooks.runners import hook_environment
from tests.support import model
from tests.support.daemon import wait_for
from tests.support.logs import captured

CONFIG = configuration.build(configuration.gather({}, {}), {})  # every default


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
        config = dataclasses.replace(CONFIG, hooks=(("on-play", "/bin/true"),))
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


class SettingsReloadTest(unittest.TestCase):
    """SIGHUP: live settings at once, the others named and kept, a bad file changes nothing."""

    def daemon(self, cli_values=None):
        values = configuration.gather(cli_values or {}, {})
        self.reread_with = values
        daemon = Daemon(configuration.build(values, {}), {}, values=values, reread=self.reread)
        self.addCleanup(daemon.stop, daemon.started_services)
        self.logs = self.enterContext_(captured())
        return daemon

    def enterContext_(self, manager):
        value = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)
        return value

    def reread(self):
        if isinstance(self.reread_with, Exception):
            raise self.reread_with
        return self.reread_with, configuration.build(self.reread_with, {}, read_secrets=False)

    def reload(self, daemon, cli_values):
        self.reread_with = configuration.gather(cli_values, {})
        daemon.on_reload(Reload())

    def test_a_live_setting_takes_effect_at_once(self):
        daemon = self.daemon()
        self.reload(daemon, {"idle-after": "60", "log-level": "warn"})
        self.assertEqual(self.logs.find("SIGHUP: settings applied"),
                         [{"changed": "-idle-after,-log-level"}])
        self.assertEqual((daemon.config.idle_after, daemon.idle.idle_after,
                          daemon.parts.listeners[1].idle_after), (60.0, 60.0, 60.0))
        self.assertEqual(daemon.config.log_level, "warn")
        self.assertEqual(logging.getLogger("streamerbrainz").level, logging.WARNING)

    def test_a_setting_that_needs_a_restart_is_named_each_time_and_kept(self):
        daemon = self.daemon()
        for _ in range(2):
            self.reload(daemon, {"webhooks-port": "4000", "idle-after": "60"})
        self.assertEqual(self.logs.find("SIGHUP: a changed setting needs a restart; the running "
                                        "value stays", "WARN"),
                         [{"setting": "-webhooks-port"}] * 2)
        self.assertEqual(self.logs.find("SIGHUP: settings applied"),
                         [{"changed": "-idle-after"}])
        self.assertEqual((daemon.config.webhooks_port, daemon.config.idle_after), (3001, 60.0))

    def test_the_first_hook_starts_a_hooks_service_that_hears_changes(self):
        daemon = self.daemon()
        self.assertIsNone(daemon.parts.hooks)
        self.reload(daemon, {"on-play": "/bin/true", "hook-timeout": "3"})
        hooks = daemon.parts.hooks
        self.assertIn(hooks, daemon.parts.services)
        self.assertIn(hooks, daemon.started_services)
        self.assertIn(hooks, daemon.parts.listeners)
        self.assertTrue(hooks.alive())
        self.assertEqual((hooks.commands, hooks.runner.timeout), ({"on-play": ["/bin/true"]}, 3.0))
        self.reload(daemon, {"on-play": "/bin/false", "hook-timeout": "3"})
        self.assertIs(daemon.parts.hooks, hooks)
        self.assertEqual(hooks.commands, {"on-play": ["/bin/false"]})

    def test_settings_that_do_not_validate_change_nothing(self):
        daemon = self.daemon({"idle-after": "120"})
        daemon.parts.plex_clients = [types.SimpleNamespace(token="old-token-123")]
        self.reread_with = configuration.ConfigError("F:3: [players] idle-after: bad")
        daemon.on_reload(Reload())
        self.assertEqual(self.logs.find("SIGHUP: the settings do not validate; nothing changed",
                                        "ERROR"), [{"error": "F:3: [players] idle-after: bad"}])
        self.assertEqual(daemon.config.idle_after, 120.0)
        self.assertEqual(self.logs.find("SIGHUP: reloaded"), [], "no secret re-read either")


class ReloadRulesTest(unittest.TestCase):

    def test_changed_split_and_kept(self):
        old = configuration.gather({}, {})
        new = configuration.gather({"webhooks-port": "1", "on-play": "x", "since": "7d"}, {})
        names = reload.changed(old, new)
        self.assertEqual(names, ["webhooks-port", "on-play"])
        self.assertEqual(reload.split(names), (["on-play"], ["webhooks-port"]))
        kept = reload.kept(old, new, ["webhooks-port"])
        self.assertEqual((kept["webhooks-port"], kept["on-play"]), (3001, "x"))

    def test_applied_takes_only_the_live_attributes(self):
        running = configuration.build(configuration.gather({}, {}), {})
        fresh = configuration.build(configuration.gather(
            {"webhooks-port": "1", "on-play": "x", "camilladsp-pause": "-30"}, {}), {})
        config = reload.applied(running, fresh, ["on-play", "camilladsp-pause"])
        self.assertEqual((config.hooks, config.camilladsp_pause, config.webhooks_port),
                         ((("on-play", "x"),), -30.0, 3001))


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
