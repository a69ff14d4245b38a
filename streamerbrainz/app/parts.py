"""The one place that turns a ``Config`` into the daemon's services and listeners.

A new subsystem is one block here: build it from the config when it is
configured (its module imported only then: memory is dear on a Pi), then
add it to ``services`` (when it owns a thread or a socket) and to
``listeners`` (when it reacts to changes). The daemon starts the services
in list order and stops them in reverse; it tells the listeners in list
order, which is the order of effects.
"""

from streamerbrainz.core.idle import IdleLog
from streamerbrainz.core.keeper import StateKeeper
from streamerbrainz.core.local import LocalPlayers
from streamerbrainz.plex.client import PlexClient
from streamerbrainz.lib.log import get_logger
from streamerbrainz.web import live

log = get_logger(__name__)


def volume_policy(config):
    """CamillaDSP's volume policy from the config: its levels, cap, fades and offsets."""
    from streamerbrainz.camilladsp.policy import Policy
    return Policy(config.camilladsp_idle, config.camilladsp_pause, config.camilladsp_max_volume,
                  config.camilladsp_fade_in_ms, config.camilladsp_fade_out_ms,
                  config.camilladsp_source_volume)


class StartError(Exception):
    """The daemon cannot start (another one holds -state-dir): one line, exit status 1."""


class Parts:
    """What a running daemon is made of, built once from its config.

    ``plex_clients`` hold the token (SIGHUP replaces it in each);
    ``sessions`` is the Plex fetch (None without a server) and ``keeper``
    the state keeper (None when nothing can trigger it); ``local`` says
    which players are the streamer's own; ``server`` is set by the daemon
    once it has bound its port.
    """

    def __init__(self, config, triggers, actions):
        self.config = config
        self.plex_clients = []
        self.sessions = self.keeper = self.server = None
        self.hub = live.EventHub()
        self.sources = []
        self.hooks = self.camilladsp = None
        self.listeners = [self.hub, IdleLog(config.idle_after)]
        self.services = []  # in start order; the HTTP server and the hub come last

        if config.hooks or config.notify_urls:
            self.services.append(self._hooks(config))

        if config.plex_enabled:
            from streamerbrainz.plex.fetch import SessionFetch
            self.sessions = SessionFetch(self.plex_client(), config.plex_timeout)
        self.history = None
        self.history_error = ""
        self._held = None  # what CamillaDSP's service held when the last run ended (kept)
        known = self._open_history() if config.state_dir else {}
        if self.history is not None:  # started before CamillaDSP, stopped after it
            self.services.append(self.history)
        # Always: the bridged sources (Spotify, AirPlay) need it even without Plex.
        self.keeper = StateKeeper(triggers, actions, self.sessions, config.plex_machine_ids,
                                  config.plex_poll_interval, known=known)
        self.services.append(self.keeper)

        if config.plex_notifications:
            from streamerbrainz.plex.notifications import NotificationStream
            self.sources.append(NotificationStream(self.plex_client(), triggers,
                                                   self.keeper.follows))
        plexamp = None
        if config.plexamp_url:
            from streamerbrainz.plex.plexamp import PlexampPoller
            client = PlexClient(config.plexamp_url, "", config.plex_timeout, name="Plexamp")
            plexamp = PlexampPoller(client, triggers, self.keeper.follows)
            self.sources.append(plexamp)
        self.services.extend(self.sources)
        self._plexamp = plexamp
        self.local = LocalPlayers(config.local_player, plexamp_id=(
            (lambda: plexamp.identity[0] if plexamp.identity else None) if plexamp else None))

        if config.camilladsp_url:
            from streamerbrainz.camilladsp.policy import NOTHING_HELD
            from streamerbrainz.camilladsp.service import CamillaDSP
            history = self.history
            self.camilladsp = CamillaDSP(config.camilladsp_url, volume_policy(config),
                                         config.camilladsp_fader, self.local, actions,
                                         source_faders=config.camilladsp_source_fader,
                                         memory=self._held or NOTHING_HELD,
                                         remember=history.remember_volume if history else None)
            self.services.append(self.camilladsp)
            self.listeners.append(self.camilladsp)

        if self.history is not None:
            self.listeners.append(self.history)

        self.mqtt = None
        if config.mqtt_url:
            self.mqtt = self._mqtt(known)
            self.services.append(self.mqtt)
            self.listeners.append(self.mqtt)

        self.transport = self.handover = None
        if plexamp is not None or config.plex_enabled:
            self.transport = self._transport()
            self.services.append(self.transport)
            self.listeners.append(self.transport)
            # Built with -source-policy off too: SIGHUP may turn it on.
            from streamerbrainz.core.handover import Handover
            transport = self.transport
            self.handover = Handover(
                self.local, self.controllable,
                lambda machine_id, cause: transport.request(machine_id, "pause", cause,
                                                            reopen=True),
                silence=self.camilladsp.silence if self.camilladsp else None,
                enabled=config.source_policy == "last-wins")
            self.listeners.append(self.handover)

    def _hooks(self, config):
        """The hooks service, built and placed among the listeners: after the idle log."""
        from streamerbrainz.hooks.runners import Hooks
        self.hooks = Hooks(dict(config.hooks), config.notify_urls, config.hook_timeout,
                           secrets=(config.plex_token, config.webhooks_secret,
                                    config.mqtt_password))
        self.listeners.insert(2, self.hooks)
        return self.hooks

    def configure(self, config):
        """SIGHUP's live settings, on the main thread: every part that holds one takes it.

        Returns a service to start and stop with the others (the hooks, when
        the first hook or URL comes with this reload), or None.
        """
        self.config = config
        new = None
        if self.hooks is not None:
            self.hooks.configure(dict(config.hooks), config.notify_urls, config.hook_timeout)
        elif config.hooks or config.notify_urls:
            new = self._hooks(config)
        self.listeners[1].idle_after = config.idle_after
        if self.camilladsp is not None:
            self.camilladsp.configure(volume_policy(config))
        if self.handover is not None:
            self.handover.enabled = config.source_policy == "last-wins"
        return new

    def _mqtt(self, known):
        """The MQTT service: the broker, this host's node, and the commands it may pass on."""
        import socket
        import ssl
        from streamerbrainz import __version__
        from streamerbrainz.mqtt import topics
        from streamerbrainz.mqtt.flags import parse_url
        from streamerbrainz.mqtt.service import MQTT, Settings
        config = self.config
        broker = parse_url(config.mqtt_url)
        tls = ssl.create_default_context(cafile=config.mqtt_ca_file or None) if broker.tls \
            else None
        host = socket.gethostname()
        node = topics.node_id(host)
        settings = Settings(broker, config.mqtt_password, tls, topics.client_id(node),
                            config.mqtt_keepalive, config.mqtt_discovery, host, __version__)
        dsp = self.camilladsp
        service = MQTT(settings, topics.Topics(config.mqtt_topic_prefix, node,
                                               config.mqtt_discovery_prefix),
                       control=self.mqtt_control,
                       set_volume=(lambda db: dsp.user_set(volume_db=db)) if dsp else None,
                       set_mute=(lambda mute: dsp.user_set(mute=mute)) if dsp else None,
                       controllable=self.controllable, max_volume=config.camilladsp_max_volume)
        service.preload(known, config.plex_machine_ids, camilladsp=dsp is not None)
        return service

    def mqtt_control(self, player, action):
        """(the MQTT thread) Pass a command on to the soft transport; why not, or ""."""
        from streamerbrainz.mqtt.topics import safe
        transport = self.transport
        if transport is None:
            return "no Plexamp to control: set -plexamp-url (or -local-player)"
        for machine_id in self.plexamp_machine_ids():
            if safe(machine_id) == player:
                transport.request(machine_id, action, "mqtt")
                return ""
        return "not a Plexamp this daemon controls"

    def _open_history(self):
        """Open the database in -state-dir; the players' last states, for the keeper.

        A second daemon on the same directory is refused (StartError: the
        daemon does not start); any other failure is one ERROR line and the
        daemon runs without history.
        """
        from streamerbrainz.history.store import StoreError
        from streamerbrainz.history.writer import open_writer
        try:
            self.history, known, volume = open_writer(self.config.state_dir,
                                                      self.config.history_days)
        except StoreError as err:
            if err.kind == "locked":
                raise StartError(str(err)) from None
            log.error("history off: the daemon runs without it", error=str(err))
            self.history_error = str(err)
            return {}
        if volume is not None and self.config.camilladsp_url:
            from streamerbrainz.camilladsp.policy import memory_of
            self._held = memory_of(volume)
        return known

    def _transport(self):
        """The soft transport for the streamer's Plexamp, with CamillaDSP's fade when configured.

        The Plexamp at -plexamp-url is driven directly; another of the
        streamer's own Plexamp players (-local-player) on its address from
        the sessions (port 32500), else through the Plex server's player
        proxy.
        """
        from streamerbrainz.core.transport import Transport
        from streamerbrainz.plex.client import CLIENT_IDENTIFIER
        from streamerbrainz.plex.control import ControlError, PlexampControl
        config = self.config
        controls = {}  # (base URL, machine id) -> PlexampControl (the transport thread's)
        # Built here, so that SIGHUP's new token reaches it with the others.
        server = self.plex_client() if config.plex_enabled else None

        def control(base_url, machine_id, via_server=False):
            key = (base_url, machine_id)
            if key not in controls:
                if len(controls) >= 8:
                    controls.clear()
                controls[key] = PlexampControl(base_url, CLIENT_IDENTIFIER, machine_id,
                                               server=server if via_server else None)
            return controls[key]

        def send(machine_id, action):
            if not self.controllable(machine_id):
                raise ValueError("%s is not a Plexamp of this streamer" % machine_id)
            if self.plexamp_id_is(machine_id):
                control(config.plexamp_url, machine_id).send(action)
                return
            known = self.keeper.snapshot.get(machine_id)
            if known is not None and known.address:  # its own API first, on the LAN
                host = known.address if ":" not in known.address else "[%s]" % known.address
                try:
                    control("http://%s:32500" % host, machine_id).send(action)
                    return
                except ControlError as err:
                    if err.kind not in ("network", "timeout"):
                        raise
            control(config.plex_server_url, machine_id, via_server=True).send(action)

        dsp = self.camilladsp
        keeper = self.keeper
        return Transport(send, lambda: keeper.snapshot,
                         quiet=dsp.quiet if dsp is not None else None,
                         release=dsp.release if dsp is not None else None)

    def plexamp_machine_id(self):
        """The machine id of the Plexamp at -plexamp-url, or None until it said."""
        known = self._plexamp.identity if self._plexamp is not None else None
        return known[0] if known is not None else None

    def controllable(self, machine_id):
        """Whether the soft transport may drive this player: a Plexamp of this streamer."""
        if self.plexamp_id_is(machine_id):
            return True
        known = self.keeper.snapshot.get(machine_id)
        return (self.config.plex_enabled and bool(self.config.local_player)
                and self.local(machine_id) and known is not None
                and known.product == "Plexamp")

    def plexamp_machine_ids(self):
        """Every player the soft transport may drive now, the one at -plexamp-url first."""
        first = self.plexamp_machine_id()
        found = [first] if first else []
        found += sorted(machine_id for machine_id in self.keeper.snapshot
                        if machine_id not in found and self.controllable(machine_id))
        return found

    def plexamp_id_is(self, machine_id):
        """Whether ``machine_id`` is the Plexamp at -plexamp-url (once it said who it is)."""
        known = self.plexamp_machine_id()
        return known is not None and known == machine_id

    def plex_client(self):
        """A new client of the configured Plex server; each thread asks through its own."""
        config = self.config
        client = PlexClient(config.plex_server_url, config.plex_token, config.plex_timeout,
                            ca_file=config.plex_ca_file)
        self.plex_clients.append(client)
        return client

    def add_server(self, server):
        """The bound HTTP server: started after everything it feeds, stopped first."""
        self.server = server
        self.services.extend([server, self.hub])
