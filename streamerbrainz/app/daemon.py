"""Wiring, the main loop and its handler table, signals and shutdown.

The main thread runs the loop: it takes actions off one queue and calls
the handler its type maps to. Signals only queue a ``Shutdown``; the loop
blocks without a timeout unless the systemd watchdog wants pings.
"""

import queue
import signal
import socket
import sys
import threading
import time

from streamerbrainz import __version__
from streamerbrainz.app import config as configuration
from streamerbrainz.app import hardening
from streamerbrainz.web import live
from streamerbrainz.lib import log as logging_setup
from streamerbrainz.app import memory
from streamerbrainz.app import systemd
from streamerbrainz.core.actions import (PlayersActive, PlayersIdle, PlexStateChanged, Reload,
                                    Shutdown)
from streamerbrainz.core.idle import IdleWatch
from streamerbrainz.app.config import WEBHOOK_PATH
from streamerbrainz.lib.log import get_logger
from streamerbrainz.plex.payloads import WebhookEvent
from streamerbrainz.plex.client import PlexClient
from streamerbrainz.core.keeper import SessionFetcher
from streamerbrainz.web.routes import WebhookServer

log = get_logger(__name__)

TRIGGER_QUEUE_SIZE = 1024
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
WATCHED_SIGNALS = SHUTDOWN_SIGNALS + (signal.SIGHUP,)


class SignalWatcher:
    """Turns SIGTERM, SIGINT and SIGHUP into actions on the main loop's queue.

    The kernel may deliver a signal to any thread, and a main thread blocked
    on a queue would not notice it; so the interpreter writes each signal's
    number to a socket (``signal.set_wakeup_fd``) and a thread of ours reads
    it. Byte 0 is our own sentinel for "stop watching".
    """

    def __init__(self, actions):
        self.actions = actions
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="signals", daemon=True)

    def install(self):
        for signum in WATCHED_SIGNALS:
            signal.signal(signum, lambda signum, frame: None)
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._thread.start()

    def _run(self):
        while True:
            data = self._read.recv(64)
            if not data:
                return
            for signum in data:
                if signum == 0:
                    return
                if signum == signal.SIGHUP:
                    self.actions.put(Reload())
                elif signum in SHUTDOWN_SIGNALS:
                    self.actions.put(Shutdown(signal.Signals(signum).name))

    def close(self):
        signal.set_wakeup_fd(-1)
        try:
            self._write.send(b"\0")
        except OSError:
            pass
        self._thread.join(0.5)
        self._read.close()
        self._write.close()


class Daemon:
    """One running StreamerBrainz: HTTP server, session fetcher and main loop."""

    def __init__(self, config, environ):
        self.config = config
        self.actions = queue.SimpleQueue()
        self.triggers = queue.Queue(maxsize=TRIGGER_QUEUE_SIZE)
        self.notifier = systemd.Notifier(environ)
        self.client = self.fetcher = None
        self.sources = []
        if config.plex_enabled:
            self.client = PlexClient(config.plex_server_url, config.plex_token,
                                     config.plex_timeout, ca_file=config.plex_ca_file)
        if config.plex_enabled or config.plexamp_url:
            self.fetcher = SessionFetcher(self.client, self.triggers, self.actions,
                                          config.plex_machine_ids, config.plex_timeout,
                                          config.plex_poll_interval)
        # Optional parts are imported only when configured: memory is dear on a Pi.
        if config.plex_notifications:
            from streamerbrainz.plex.notifications import NotificationStream
            stream_client = PlexClient(config.plex_server_url, config.plex_token,
                                       config.plex_timeout, ca_file=config.plex_ca_file)
            self.sources.append(NotificationStream(stream_client, self.triggers,
                                                   self.fetcher.follows))
        if config.plexamp_url:
            from streamerbrainz.plex.plexamp import PlexampPoller
            plexamp_client = PlexClient(config.plexamp_url, "", config.plex_timeout,
                                        name="Plexamp")
            self.sources.append(PlexampPoller(plexamp_client, self.triggers,
                                              self.fetcher.follows))
        self.hub = live.EventHub()
        self.hooks = None
        if config.hooks or config.notify_urls:
            from streamerbrainz.hooks.runners import Hooks
            self.hooks = Hooks(dict(config.hooks), config.notify_urls, config.hook_timeout,
                               secrets=(config.plex_token, config.webhooks_secret))
        self.idle = IdleWatch(config.idle_after, config.idle_at_start, time.monotonic())
        self.last_change = None
        self.server = None
        self.running = False
        self.started = time.time()
        self.handlers = {
            PlexStateChanged: self.on_state_changed,
            PlayersActive: self.on_active,
            PlayersIdle: self.on_idle,
            Shutdown: self.on_shutdown,
            Reload: self.on_reload,
        }

    # -- handlers -----------------------------------------------------------

    def on_state_changed(self, action):
        log.info("Plex state changed", state=action.state, title=action.title,
                 artist=action.artist, album=action.album, position_ms=action.position_ms,
                 duration_ms=action.duration_ms, session_key=action.session_key,
                 rating_key=action.rating_key, player=action.player, product=action.product,
                 machine_id=action.machine_id)
        self.hub.publish("plex_state_changed", live.action_json(action))
        self.last_change = action
        if self.idle.update(action.machine_id, action.state, time.monotonic()):
            self.dispatch(PlayersActive(action))  # before the play hooks: amplifier first
        if self.hooks:
            self.hooks.state_changed(action)

    def on_active(self, action):
        log.info("players active", player=action.cause.player, machine_id=action.cause.machine_id)
        if self.hooks:
            self.hooks.active(action.cause)

    def on_idle(self, action):
        log.info("players idle", idle_after_s=self.config.idle_after)
        if self.hooks:
            self.hooks.idle(action.last)

    def on_shutdown(self, action):
        log.info("shutting down", reason=action.reason)
        self.running = False

    def on_reload(self, action):
        """Re-read the token and secret files; keep the old value when one fails."""
        if self.client is not None:
            self._reload_secret("plex-token-file", self.config.plex_token_file,
                                configuration.read_token, self.client.token,
                                self._use_token)
        if self.server is not None and self.config.webhooks_secret_file:
            self._reload_secret("webhooks-secret-file", self.config.webhooks_secret_file,
                                lambda path, flag: configuration.read_webhooks_secret(path),
                                self.server.secret, self._use_secret)

    @staticmethod
    def _reload_secret(flag, path, read, old, use):
        try:
            new = read(path, flag)
        except configuration.ConfigError as err:
            log.warn("SIGHUP: keeping the current value", flag="-" + flag, error=str(err))
            return
        use(old, new)
        log.info("SIGHUP: reloaded", flag="-" + flag, changed=new != old)

    def _use_token(self, old, new):
        if new != old:
            logging_setup.add_secret(new)
            self.client.token = new
            for source in self.sources:
                if source.client.token:
                    source.client.token = new
            self.triggers.put_nowait(WebhookEvent(received_at=time.monotonic(), source="reload"))

    def _use_secret(self, old, new):
        if new != old:
            logging_setup.add_secret(new)
            self.server.secret = new

    # -- lifecycle ----------------------------------------------------------

    def health(self):
        outcome = self.fetcher.last_fetch if self.fetcher else None
        in_progress, seconds = self.fetcher.fetch_progress() if self.fetcher else (False, 0.0)
        return {
            "status": "ok",
            "version": __version__,
            "plex_enabled": self.config.plex_enabled,
            "uptime_s": int(time.time() - self.started),
            "last_fetch": {
                "outcome": outcome.outcome if outcome else "never",
                "at": live.iso(outcome.at) if outcome else None,
                "error": outcome.error if outcome else "",
            },
            "fetch_in_progress": in_progress,
            "fetch_seconds": round(seconds, 1),
        }

    def state(self):
        snapshot = self.fetcher.snapshot if self.fetcher else {}
        followed = self.config.plex_machine_ids
        return live.state_document(snapshot, followed, time.monotonic(), self.started)

    def run(self):
        """Start, serve until a signal, stop; return the exit status."""
        signals = SignalWatcher(self.actions)
        signals.install()
        try:
            return self.serve()
        finally:
            signals.close()

    def serve(self):
        config = self.config
        try:
            self.server = WebhookServer(
                (config.webhooks_bind, config.webhooks_port), self.triggers,
                followed=config.plex_machine_ids, plex_enabled=self.fetcher is not None,
                health=self.health, state=self.state, hub=self.hub,
                secret=config.webhooks_secret, allow=config.webhooks_allow)
        except OSError as err:
            host = config.webhooks_bind
            host = "[%s]" % host if ":" in host else host
            reason = (err.strerror or str(err)).lower()
            print("streamerbrainz: cannot listen on %s:%d: %s"
                  % (host, config.webhooks_port, reason), file=sys.stderr)
            return 1
        host, port = self.server.server_address[:2]
        log.info("webhooks server listening", addr=host, port=port)
        endpoint = WEBHOOK_PATH + ("/\u2026" if config.webhooks_secret else "")
        if config.plex_enabled:
            log.info("Plex webhook enabled", server=config.plex_server_url,
                     machine_id=",".join(config.plex_machine_ids) or "*", endpoint=endpoint)
        elif self.fetcher is None:
            log.warn("Plex is not enabled: webhooks are acknowledged and nothing more; "
                     "set -plex-server-url and -plex-token-file")
        if config.plex_notifications:
            log.info("Plex notifications enabled", server=config.plex_server_url)
        if config.plex_poll_interval:
            log.info("Plex polling enabled", interval_s=config.plex_poll_interval)
        if config.plexamp_url:
            log.info("Plexamp timeline enabled", url=config.plexamp_url)
        server_thread = threading.Thread(target=self.server.serve, name="accept", daemon=True)
        server_thread.start()
        if self.fetcher is not None:
            self.fetcher.start()
            if self.client is not None:
                self.triggers.put_nowait(WebhookEvent(received_at=time.monotonic(),
                                                      source="start"))
        for source in self.sources:
            source.start()
        if self.hooks:
            self.hooks.start()
        self.running = True
        self.notifier.ready("listening on port %d" % port)
        try:
            self.loop()
        finally:
            self.stop(server_thread)
        return 0

    def next_timeout(self, now):
        """Seconds until the loop must wake without an action, or None: no timer."""
        timeouts = []
        if self.notifier.watchdog_interval:
            timeouts.append(self.notifier.watchdog_interval)
        if self.idle.deadline is not None:
            timeouts.append(max(0.0, self.idle.deadline - now))
        return min(timeouts) if timeouts else None

    def loop(self):
        interval = self.notifier.watchdog_interval
        last_ping = time.monotonic()
        while self.running:
            try:
                action = self.actions.get(timeout=self.next_timeout(time.monotonic()))
            except queue.Empty:
                action = None
            now = time.monotonic()
            if interval and now - last_ping >= min(1.0, interval):
                self.notifier.watchdog()
                last_ping = now
            if action is not None:
                self.dispatch(action)
            if self.running and self.idle.due(time.monotonic()):
                self.dispatch(PlayersIdle(self.last_change))

    def dispatch(self, action):
        """Call the handler the action's type maps to; log and survive its failure."""
        handler = self.handlers.get(type(action))
        if handler is None:
            log.error("no handler for action", action=type(action).__name__)
            return
        try:
            handler(action)
        except Exception:
            log.exception("action handler failed", action=type(action).__name__)

    def stop(self, server_thread):
        """Stop accepting, stop the fetcher (cutting a hung fetch), close connections."""
        self.notifier.stopping()
        self.server.stop()
        self.hub.close()
        server_thread.join(0.5)
        for source in self.sources:
            if not source.stop(timeout=0.5):
                log.warn("source did not stop in time", source=source.name)
        if self.fetcher is not None and not self.fetcher.stop(timeout=1.0):
            log.warn("session fetcher did not stop in time")
        self.server.close(timeout=0.3)
        if self.hooks:
            self.hooks.stop(timeout=0.3)
        log.info("stopped")


def run(config, environ):
    memory.limit_malloc_arenas(environ)  # before any thread starts
    hardening.hide_from_same_user()
    return Daemon(config, environ).run()
