"""The daemon: its parts started in order, the main loop, and one shared shutdown deadline.

The main thread runs the loop: it takes actions off one queue and calls
the handler its type maps to; a change goes to every listener in order.
Signals only queue a ``Shutdown`` or a ``Reload``; the loop blocks without a timeout unless
the systemd watchdog wants pings or the idle grace is running. The
watchdog is pinged only while every service is alive, so that a dead
accept thread or state keeper leads systemd to restart the daemon.
SIGHUP re-reads the settings (``reread``) and hands the live ones to the
parts, on the main thread, before it re-reads the secret files.
"""

import dataclasses
import os
import queue
import sys
import time

from streamerbrainz import __version__
from streamerbrainz.app import config as configuration
from streamerbrainz.app import hardening, memory, reload, systemd
from streamerbrainz.app.parts import Parts, StartError
from streamerbrainz.app.signals import SignalWatcher
from streamerbrainz.core.actions import (
    CamillaDSPChanged, PlayerStateChanged, PlayersIdle, Reload, Shutdown)
from streamerbrainz.core.idle import IdleWatch
from streamerbrainz.core.listener import tell, tell_change
from streamerbrainz.core import transport
from streamerbrainz.core.trigger import PLEX, Trigger
from streamerbrainz.lib import log as logging_setup
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.service import stop_all
from streamerbrainz.lib.timefmt import iso
from streamerbrainz.plex import payloads
from streamerbrainz.sources import events as source_events
from streamerbrainz.web import live
from streamerbrainz.web.routes import WEBHOOK_PATH, WebhookServer

log = get_logger(__name__)

TRIGGER_QUEUE_SIZE = 1024
# A control request's longest wait: the fade (at most 5 s), the command (2 s), its confirmation.
CONTROL_WAIT = 11.0
SINK_WAIT = 2.0  # the longest a `sink running` bridge call waits for Plexamp's pause
# Every service stops within this, together: DESIGN promises an exit within
# 2 s of SIGTERM, and the interpreter needs a little of it to wind down.
STOP_WITHIN = 1.5


class Daemon:
    """One running StreamerBrainz: its parts (see ``parts``) and the main loop.

    ``last_change``, ``running``, ``config``, ``values`` and ``started_services``
    belong to the main thread. ``reread()`` returns the settings gathered
    again and their Config (secrets not read), or raises ConfigError.
    """

    def __init__(self, config, environ, values=None, reread=None):
        self.config = config
        self.values = values
        self.reread = reread
        self.started_services = []
        self.actions = queue.SimpleQueue()
        self.triggers = queue.Queue(maxsize=TRIGGER_QUEUE_SIZE)
        self.notifier = systemd.Notifier(environ)
        self.parts = Parts(config, self.triggers, self.actions)
        self.idle = IdleWatch(config.idle_after, config.idle_at_start, time.monotonic())
        for machine_id, known in self.parts.keeper.states.items():  # what played before
            self.idle.update(machine_id, known.state, time.monotonic())
        self.last_change = None
        self.running = False
        self.started = time.time()
        self._dead = ()
        self.handlers = {
            PlayerStateChanged: self.on_state_changed,
            PlayersIdle: self.on_idle,
            Shutdown: self.on_shutdown,
            Reload: self.on_reload,
            CamillaDSPChanged: self.on_camilladsp,
        }

    # -- handlers -----------------------------------------------------------

    def on_state_changed(self, change):
        track = change.track
        name = "Plex" if change.source == PLEX else source_events.label(change.source)
        log.info("%s state changed" % name, state=change.state, title=track.title,
                 artist=track.artist, album=track.album, position_ms=change.position_ms,
                 duration_ms=track.duration_ms, session_key=track.session_key,
                 rating_key=track.rating_key, player=change.player, product=change.product,
                 machine_id=change.machine_id)
        self.last_change = change
        became_active = self.idle.update(change.machine_id, change.state, time.monotonic())
        tell_change(self.parts.listeners, change, became_active)

    def on_idle(self, action):
        tell(self.parts.listeners, "players_idle", action.last)

    def on_camilladsp(self, action):
        tell(self.parts.listeners, "camilladsp_changed", action.status)

    def on_shutdown(self, action):
        log.info("shutting down", reason=action.reason)
        self.running = False

    def on_reload(self, action):
        """Re-read the settings, then the token and secret files; keep the old on a failure."""
        if self.reread is not None and self.values is not None and not self._reload_settings():
            return
        parts = self.parts
        if parts.plex_clients:
            self._reload_secret("plex-token-file", self.config.plex_token_file,
                                configuration.read_token, parts.plex_clients[0].token,
                                self._use_token)
        if parts.server is not None and self.config.webhooks_secret_file:
            self._reload_secret("webhooks-secret-file", self.config.webhooks_secret_file,
                                lambda path, flag: configuration.read_webhooks_secret(path),
                                parts.server.secret, self._use_secret)

    def _reload_settings(self):
        """Apply the live settings that changed; False when the settings do not validate."""
        try:
            values, fresh = self.reread()
        except configuration.ConfigError as err:
            log.error("SIGHUP: the settings do not validate; nothing changed", error=str(err))
            return False
        live, restart = reload.split(reload.changed(self.values, values))
        for name in restart:
            log.warn("SIGHUP: a changed setting needs a restart; the running value stays",
                     setting="-" + name)
        if live:
            config = reload.applied(self.config, fresh, live)
            self.idle.set_grace(config.idle_after)
            service = self.parts.configure(config)
            if service is not None:
                self.parts.services.append(service)
                service.start()
                self.started_services.append(service)
            self.config = config
            log.info("SIGHUP: settings applied", changed=",".join("-" + name for name in live))
            logging_setup.set_level(config.log_level)  # after the line, at the old level
        self.values = reload.kept(self.values, values, restart)
        return True

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
            if self.parts.hooks is not None:
                self.parts.hooks.add_secret(new)
            for client in self.parts.plex_clients:
                client.token = new
            # Hooks built by a later reload leave it out of their environment too.
            self.config = dataclasses.replace(self.config, plex_token=new)
            self.triggers.put_nowait(Trigger(received_at=time.monotonic(), source="reload"))

    def _use_secret(self, old, new):
        if new != old:
            logging_setup.add_secret(new)
            if self.parts.hooks is not None:
                self.parts.hooks.add_secret(new)
            self.parts.server.secret = new
            self.config = dataclasses.replace(self.config, webhooks_secret=new)

    # -- lifecycle ----------------------------------------------------------

    def health(self):
        sessions = self.parts.sessions
        outcome = sessions.last_fetch if sessions else None
        in_progress, seconds = sessions.fetch_progress() if sessions else (False, 0.0)
        return {
            "status": "ok",
            "version": __version__,
            "plex_enabled": self.config.plex_enabled,
            "uptime_s": int(time.time() - self.started),
            "last_fetch": {
                "outcome": outcome.outcome if outcome else "never",
                "at": iso(outcome.at) if outcome else None,
                "error": outcome.error if outcome else "",
            },
            "fetch_in_progress": in_progress,
            "fetch_seconds": round(seconds, 1),
            **self.camilladsp_status(),
            **self.history_status(),
            **({"mqtt": self.parts.mqtt.status} if self.parts.mqtt is not None else {}),
        }

    def history_answer(self):
        """What answers ``/history``: the reader on -state-dir, or None without it."""
        if not self.config.state_dir:
            return None
        from streamerbrainz.history import api
        directory = self.config.state_dir
        return lambda what, query: api.answer(directory, what, query)

    def history_status(self):
        """``{"history": status}`` when -state-dir is set, else nothing."""
        parts = self.parts
        if parts.history is not None:
            return {"history": parts.history.status}
        if parts.history_error:
            return {"history": {"enabled": False, "error": parts.history_error}}
        return {}

    def camilladsp_status(self):
        """``{"camilladsp": status}`` when CamillaDSP is configured, else nothing."""
        camilladsp = self.parts.camilladsp
        return {"camilladsp": camilladsp.status} if camilladsp is not None else {}

    def state(self):
        keeper = self.parts.keeper
        snapshot = keeper.snapshot if keeper else {}
        followed = self.config.plex_machine_ids
        document = live.state_document(snapshot, followed, time.monotonic(), self.started)
        document.update(self.camilladsp_status())
        return document

    def run(self):
        """Start, serve until a signal, stop; return the exit status."""
        signals = SignalWatcher(self.actions)
        signals.start()
        try:
            return self.serve()
        finally:
            signals.stop(time.monotonic() + 0.5)

    def serve(self):
        config = self.config
        parts = self.parts
        try:
            server = WebhookServer(
                (config.webhooks_bind, config.webhooks_port), self.triggers, payloads.read,
                followed=config.plex_machine_ids,
                plex_enabled=bool(config.plex_enabled or config.plexamp_url),
                health=self.health, state=self.state, hub=parts.hub,
                secret=config.webhooks_secret, allow=config.webhooks_allow,
                read_source=source_events.parse, sources_allow=config.sources_allow,
                control=self.control, control_allow=config.control_allow,
                settle_source=self.settle_source, history=self.history_answer())
        except OSError as err:
            host = config.webhooks_bind
            host = "[%s]" % host if ":" in host else host
            reason = (err.strerror or str(err)).lower()
            print("streamerbrainz: cannot listen on %s:%d: %s"
                  % (host, config.webhooks_port, reason), file=sys.stderr)
            return 1
        parts.add_server(server)
        host, port = server.server_address[:2]
        log.info("webhooks server listening", addr=host, port=port)
        self.log_configuration()
        started = self.started_services
        try:
            for service in list(parts.services):
                service.start()
                started.append(service)
            if parts.sessions is not None:
                self.triggers.put_nowait(Trigger(received_at=time.monotonic(), source="start"))
            self.running = True
            self.notifier.ready("listening on port %d" % port)
            self.loop()
        finally:
            self.stop(started)
        return 0

    def control(self, action, player):
        """``POST /control/<action>`` (on an HTTP worker): ``(status, {"done": ...})``."""
        if action not in transport.ACTIONS:
            return 404, {"done": False, "reason": "unknown action %r: use one of %s"
                                                  % (action[:40], ", ".join(transport.ACTIONS))}
        parts = self.parts
        if parts.transport is None:
            return 503, {"done": False, "reason": "no Plexamp to control: set -plexamp-url "
                                                  "(or -plex-server-url and -local-player)"}
        candidates = parts.plexamp_machine_ids()
        snapshot = parts.keeper.snapshot
        if player:
            candidates = [machine_id for machine_id in candidates if player in (
                machine_id, getattr(snapshot.get(machine_id), "player", machine_id))]
            if not candidates:
                return 404, {"done": False, "reason": "player %r is not a Plexamp this "
                                                      "daemon controls" % player[:64]}
        if not candidates:
            return 503, {"done": False, "reason": "no Plexamp to control yet: the one at "
                                                  "-plexamp-url has not answered, or no "
                                                  "-local-player Plexamp is known"}
        if len(candidates) > 1:
            return 400, {"done": False, "reason": "several Plexamp players: name one with "
                                                  "?player= (machine id or name)"}
        machine_id = candidates[0]
        result = parts.transport.request(machine_id, action, "control").wait(CONTROL_WAIT)
        return 200, ({"done": True} if result.done else {"done": False, "reason": result.reason})

    def settle_source(self, trigger):
        """(an HTTP worker) A ``sink running`` returns once a playing Plexamp answered its pause.

        librespot opens the device right after; so Spotify follows Plexamp's
        pause instead of racing it for the DAC. Bounded by SINK_WAIT.
        """
        parts = self.parts
        if (trigger.event != "sink" or trigger.state != "playing" or parts.transport is None
                or self.config.source_policy != "last-wins"):
            return
        snapshot = parts.keeper.snapshot
        for machine_id in parts.plexamp_machine_ids():
            now = snapshot.get(machine_id)
            if now is not None and now.state == "playing":
                parts.transport.wait_answered(machine_id, "pause", trigger.received_at,
                                              SINK_WAIT)
                return

    def log_configuration(self):
        config = self.config
        endpoint = WEBHOOK_PATH + ("/\u2026" if config.webhooks_secret else "")
        if config.plex_enabled:
            log.info("Plex webhook enabled", server=config.plex_server_url,
                     machine_id=",".join(config.plex_machine_ids) or "*", endpoint=endpoint)
        elif not config.plexamp_url:
            log.warn("Plex is not enabled: webhooks are acknowledged and nothing more; "
                     "set -plex-server-url and -plex-token-file")
        if config.plex_notifications:
            log.info("Plex notifications enabled", server=config.plex_server_url)
        if config.plex_poll_interval:
            log.info("Plex polling enabled", interval_s=config.plex_poll_interval)
        if config.plexamp_url:
            log.info("Plexamp timeline enabled", url=config.plexamp_url)
        if config.mqtt_url:
            mqtt = self.parts.mqtt
            log.info("MQTT enabled", broker=mqtt.connection_name, node=mqtt.topics.node,
                     topics=mqtt.topics.base + "/", discovery=config.mqtt_discovery)
        if config.camilladsp_url:
            from streamerbrainz.camilladsp.policy import level_text
            log.info("CamillaDSP volume enabled", url=config.camilladsp_url,
                     fader=config.camilladsp_fader, pause=level_text(config.camilladsp_pause),
                     idle=level_text(config.camilladsp_idle),
                     max_volume_db=("" if config.camilladsp_max_volume is None
                                    else config.camilladsp_max_volume),
                     local_player=self.parts.local.describe())

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
                if self.all_alive():
                    self.notifier.watchdog()
                last_ping = now
            if action is not None:
                self.dispatch(action)
            if self.running and self.idle.due(time.monotonic()):
                self.dispatch(PlayersIdle(self.last_change))

    def all_alive(self):
        """Whether every service is alive; the first time one is not, one ERROR line."""
        dead = tuple(service.name for service in self.parts.services if not service.alive())
        if dead and dead != self._dead:
            log.error("a part of the daemon has stopped; no more watchdog pings, so that "
                      "systemd restarts it", stopped=",".join(dead))
        self._dead = dead
        return not dead

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

    def stop(self, services):
        """Stop ``services`` in reverse start order, all by one deadline."""
        self.notifier.stopping()
        for name in stop_all(services, time.monotonic() + STOP_WITHIN):
            log.warn("did not stop in time", part=name)
        log.info("stopped")


def leave(status):
    """End the process with ``status`` once the daemon has stopped, without the teardown.

    Every service has stopped and said so; what the interpreter would do
    now (free every object, module by module: 12 to 30 ms) the kernel
    does at once. Only the output is flushed first.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def run(config, environ, values=None, reread=None):
    memory.limit_malloc_arenas(environ)  # before any thread starts
    hardening.hide_from_same_user()
    try:
        daemon = Daemon(config, environ, values=values, reread=reread)
    except StartError as err:
        print("streamerbrainz: %s" % err, file=sys.stderr)
        return 1
    return daemon.run()
