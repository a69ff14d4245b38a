"""The CamillaDSP service: the volume follows the music, on a thread of its own.

As a listener (main thread) it turns each change into a ``Goal`` with the
pure ``policy.Drive`` and queues it; nothing there waits on the network.
Its thread owns the connection, the ``Memory`` of what it holds down and
the fade in progress: before each change of ours it reads the fader, asks
``policy`` for a plan and sends its steps, each at its time, waiting on
its inbox (a new goal cuts a fade at once and turns it around from where
it is). While it holds the volume down it reads the capture level every
few seconds, and sound that no followed player explains gives the user
their volume back. A lost connection is retried with backoff and, once
back, reconciled with what the state now wants. At shutdown it restores
what it holds down, within the daemon's deadline.

Thread ownership: ``drive`` is the main thread's; ``link``, ``goal``,
``memory``, ``steps``, ``_where``, ``_probe_at``, ``_done`` and ``_soft`` are the service
thread's (the soft transport's thread only waits on the Event in ``_done``);
``status`` is a dict the service thread replaces whole and any thread
reads.
"""

import collections
import queue
import threading
import time

from streamerbrainz.camilladsp import policy, protocol
from streamerbrainz.camilladsp.link import Link, ReplyError, WebSocketError
from streamerbrainz.camilladsp.protocol import peaks_of
from streamerbrainz.core.actions import CamillaDSPChanged
from streamerbrainz.core.listener import Listener
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.repeats import FailureLog
from streamerbrainz.lib.service import ThreadService
from streamerbrainz.lib.timefmt import iso

log = get_logger(__name__)

REPLY_TIMEOUT = 1.0  # connect, and each reply; CamillaDSP answers in milliseconds
PROBE_EVERY = 5.0  # seconds between capture reads while the volume is held down
FIRST_BACKOFF, MAX_BACKOFF = 1.0, 10.0  # a play must not wait long for a returned CamillaDSP
STOP_MARGIN = 0.1  # seconds kept from the daemon's deadline to abort a call that hangs
STOP = object()

Timed = collections.namedtuple("Timed", "due step")
# A soft pause: hold ``goal`` after a fade of ``fade_s``; ``done`` is set once it is muted.
Soft = collections.namedtuple("Soft", "goal fade_s done")
# The soft transport gives the volume back: the soft pause did not happen (or is over).
Release = collections.namedtuple("Release", "goal")
# A player held down by a soft pause has stopped playing: what it plays next opens again.
Settled = collections.namedtuple("Settled", "player")
# New volume settings (SIGHUP): a ``policy.Policy``.
Configure = collections.namedtuple("Configure", "settings")
# A person's volume (dB) or mute, from Home Assistant: either may be None.
UserSet = collections.namedtuple("UserSet", "volume_db mute")
# A source's own fader (-camilladsp-source-fader) to mute or unmute.
SourceMute = collections.namedtuple("SourceMute", "source fader mute")


class CamillaDSP(ThreadService, Listener):
    """Drives one CamillaDSP fader from the local players' changes.

    ``settings`` is a ``policy.Policy`` (replaced whole on the service
    thread when SIGHUP brings new ones, read whole by others);
    ``is_local(machine_id)`` names the streamer's own players; ``actions``
    is the main loop's queue, which hears a ``CamillaDSPChanged`` when the
    status changes.
    """

    name = "camilladsp"

    def __init__(self, url, settings, fader, is_local, actions, timeout=REPLY_TIMEOUT,
                 probe_every=PROBE_EVERY, clock=time.monotonic, source_faders=(),
                 memory=policy.NOTHING_HELD, remember=None):
        super().__init__()
        # What it held down when the last run ended (from -state-dir), and where to keep
        # what it holds now (the history writer's queue; called on this service's thread).
        self.remember = remember
        self._kept = memory
        self.source_faders = dict(source_faders)  # source name -> aux fader
        self._silenced = {}  # aux fader -> whether it should be muted (the service thread's)
        self.probe_every = probe_every
        self.url = url
        self.settings = settings
        self.fader = fader
        self.actions = actions
        self.timeout = timeout
        self.clock = clock
        self.drive = policy.Drive(settings, is_local)
        self.inbox = queue.SimpleQueue()
        self.link = None
        self.goal = None
        self.memory = memory
        self.steps = collections.deque()
        self.releases = False
        self._probe_at = None
        self._connect_at = 0.0
        self._backoff = FIRST_BACKOFF
        self._stop_by = None
        self._failures = FailureLog(log)
        self._warned_version = False
        self._where = {}  # the volume and mute the running plan has left so far
        self._done = None  # a soft pause's Event, set once its plan has ended
        self._soft = None  # the player a soft pause holds down, until released or settled
        self.status = {"connected": False, "version": "", "fader": fader, "volume_db": None,
                       "mute": None, "holding": False, "last_action": None, "error": ""}

    # -- the listener (main thread) --------------------------------------------

    def state_changed(self, change):
        self._want(self.drive.state_changed(change))
        if change.previous_state == "playing" and change.state != "playing":
            self.inbox.put(Settled(change.player))

    def players_idle(self, last):
        self._want(self.drive.players_idle())

    def configure(self, settings):
        """New volume settings (SIGHUP): the next goals follow them, and a lower cap at once."""
        self.drive.policy = settings
        self.inbox.put(Configure(settings))

    def _want(self, goal):
        if goal is not None:
            self.inbox.put(goal)

    # -- the soft transport (its own thread) ----------------------------------------

    def quiet(self, cause, player, deadline):
        """Fade out and mute for a soft pause; return whether it is quiet by ``deadline``.

        Not connected, there is nothing to fade: True at once.
        """
        if self.link is None:
            return True
        done = threading.Event()
        self.inbox.put(Soft(policy.Goal(policy.MUTE, cause, player),
                            self.settings.fade_out_ms / 1000.0, done))
        return done.wait(max(0.0, deadline - time.monotonic()))

    def release(self, cause, player):
        """Give the volume back: the soft pause did not happen."""
        self.inbox.put(Release(policy.Goal(None, cause, player)))

    def user_set(self, volume_db=None, mute=None):
        """A person sets the volume or the mute (MQTT, any thread): sent on the fader as it
        is, the cap still holding; what StreamerBrainz holds down stays held."""
        self.inbox.put(UserSet(volume_db, mute))

    def silence(self, source, mute):
        """Mute (or unmute) ``source``'s own fader; False when it has none (any thread)."""
        fader = self.source_faders.get(source)
        if fader is None:
            return False
        self.inbox.put(SourceMute(source, fader, mute))
        return True

    # -- the service -----------------------------------------------------------

    def wake(self):
        self.inbox.put(STOP)

    def stop(self, deadline):
        """Restore what is held down, then stop; a hanging CamillaDSP is cut off in time."""
        self._stop_by = deadline - STOP_MARGIN
        self.stopping.set()
        self.wake()
        if self._thread is None:
            return True
        self._thread.join(max(0.0, self._stop_by - time.monotonic()))
        if self._thread.is_alive():
            link = self.link
            if link is not None:
                link.abort()
            self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def run(self):
        try:
            while not self.stopping.is_set():
                try:
                    self._turn()
                except Exception:
                    log.exception("CamillaDSP service failed; carrying on")
                    self._drop()
                self._keep()
        finally:
            self._restore_at_exit()

    def _turn(self):
        """Wait for a goal or the next thing due, then do it."""
        now = self.clock()
        if self.link is None and now >= self._connect_at:
            self._connect()
            return
        try:
            item = self.inbox.get(timeout=self._wait(now))
        except queue.Empty:
            item = None
        if item is STOP:
            return
        if isinstance(item, SourceMute):
            self._silenced[item.fader] = item.mute
            self._mute_source(item.fader, item.mute)
            return
        if isinstance(item, Configure):
            self._configure(item.settings)
            return
        if isinstance(item, UserSet):
            self._user_set(item)
            return
        if isinstance(item, Settled):
            if item.player == self._soft:
                self._soft = None
            return
        fade_s = 0.0
        if isinstance(item, Soft):
            self._done, fade_s, item = item.done, item.fade_s, item.goal
            self._soft = item.player
        elif isinstance(item, Release):
            self._soft, item = None, item.goal
        elif self._held_by_soft(item):
            item = None
        if item is not None:
            self.goal = item
            if self.link is None:
                self._connect_at = min(self._connect_at, self.clock())
                self._quiet_done()
                return
            self._apply(item, fade_s=fade_s)
        self._send_due()
        self._probe()

    def _configure(self, settings):
        """Use ``settings`` from now on; an open volume above a new, lower cap comes down."""
        before, self.settings = self.settings.max_volume, settings
        cap = settings.max_volume
        lower = cap is not None and (before is None or cap < before)
        open_now = self.goal is None or self.goal.level is None
        if lower and open_now and self._soft is None and not self.steps:
            self._apply(policy.Goal(None, "settings", ""))

    def _user_set(self, item):
        link = self.link
        if link is None or not link.commands.supported:
            log.info("CamillaDSP not connected: the volume asked for is not set",
                     volume_db=item.volume_db, mute=item.mute)
            return
        commands = protocol.Commands(link.commands.version, self.fader)
        fields, where = {"cause": "user"}, {}
        try:
            if item.volume_db is not None:
                volume = round(self._target(protocol.clamp(item.volume_db)), 2)
                link.send(commands.set_volume(volume))
                fields["volume_db"] = where["volume_db"] = volume
                if volume != item.volume_db:
                    fields["asked_db"] = item.volume_db
            if item.mute is not None:
                link.send(commands.set_mute(item.mute))
                fields["mute"] = where["mute"] = bool(item.mute)
        except ReplyError as err:
            self._failed(err)
        except WebSocketError as err:
            self._lost(err)
            return
        if where:
            log.info("CamillaDSP set", **fields)
            self._set_status(**where)

    def _held_by_soft(self, goal):
        """An open goal for the player a soft pause holds down: it still plays until paused.

        Until the transport gives the volume back or the player stops
        playing, such a goal is a change from before the pause (or a track
        change during its fade): it must not cut the fade nor open the volume.
        """
        if goal is None or goal.level is not None or goal.player != self._soft:
            return False
        log.debug("CamillaDSP kept down for a soft pause", cause=goal.cause, player=goal.player)
        return True

    def _wait(self, now):
        dues = [self._connect_at] if self.link is None else []
        if self.link is not None and self.steps:
            dues.append(self.steps[0].due)
        if self.link is not None and self._probe_at is not None:
            dues.append(self._probe_at)
        return max(0.0, min(dues) - now) if dues else None

    # -- connecting --------------------------------------------------------------

    def _connect(self):
        link = Link(self.url, self.timeout, self.fader)
        self.link = link
        try:
            link.open()
            reading = link.read() if link.commands.supported else None
        except (WebSocketError, ReplyError) as err:
            self.link = None
            link.abort()
            link.close(0)
            self._connect_at = self.clock() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            if not self.stopping.is_set():
                self._failures.failed(getattr(err, "kind", "error"), self.clock(),
                                      "CamillaDSP not reachable; retrying with backoff",
                                      error=str(err))
                self._set_status(connected=False, error=str(err))
            return
        self._backoff = FIRST_BACKOFF
        fields = dict(version=link.version, fader=self.fader)
        if reading is not None:
            fields.update(volume_db=round(reading.volume, 2), mute=reading.mute)
        if not self._failures.recovered("CamillaDSP connected again", **fields):
            log.info("CamillaDSP connected", **fields)
        self._set_status(connected=True, version=link.version, error="",
                         volume_db=fields.get("volume_db"), mute=fields.get("mute"))
        if not link.commands.supported:
            if not self._warned_version:
                log.warn("CamillaDSP %s has no Main volume or faders: StreamerBrainz changes "
                         "nothing; upgrade CamillaDSP to 2.0 or later" % link.version)
                self._warned_version = True
            return
        for fader, mute in self._silenced.items():
            if mute:
                self._mute_source(fader, True)
        self.memory = policy.after_reconnect(self.memory, reading)
        if self.goal is not None:  # reconcile with what the state wants now
            self._apply(self.goal, reading)

    def _lost(self, err):
        """The connection ended; keep the goal and the memory, retry soon."""
        self._drop()
        if self.stopping.is_set():
            return
        self._connect_at = self.clock() + FIRST_BACKOFF
        self._failures.failed("lost", self.clock(), "CamillaDSP connection lost; reconnecting",
                              error=str(err))
        self._set_status(connected=False, error=str(err))

    def _drop(self):
        link, self.link = self.link, None
        self.steps.clear()
        self._probe_at = None
        self._quiet_done()
        if link is not None:
            link.abort()
            link.close(0)  # after the abort: no close handshake, the socket is freed

    # -- acting ------------------------------------------------------------------

    def _apply(self, goal, reading=None, fade_s=0.0):
        """Read the fader (unless ``reading`` is fresh), plan, and send what is due now."""
        link = self.link
        if link is None or not link.commands.supported:
            self._quiet_done()
            return
        if goal.level is None and self.memory.user is None and self.settings.max_volume is None:
            return  # nothing held and no cap: nothing to do, so nothing to read
        if reading is None:
            try:
                reading = link.read()
            except ReplyError as err:
                self._failed(err)
                self._quiet_done()
                return
            except WebSocketError as err:
                self._lost(err)
                return
        settings = self.settings
        if goal.level is None:
            plan = policy.plan_open(reading, self.memory, settings.max_volume,
                                    settings.fade_in_ms / 1000.0, self._offset(goal))
        else:
            plan = policy.plan_hold(goal.level, reading, self.memory, fade_s)
        before = self.memory
        self.memory = plan.memory
        self.releases = plan.releases
        now = self.clock()
        self.steps = collections.deque(Timed(now + step.at, step) for step in plan.steps)
        self._where = {"volume_db": round(reading.volume, 2), "mute": reading.mute}
        self._probe_at = None
        sent, failed = self._send_due(report=False)
        if failed and not sent and not self.steps and self.link is not None:
            self.memory, self.releases = before, False  # nothing took: nothing changed
            return
        self._report(plan, goal, reading)
        if goal.level is not None and self.memory.user is not None and self.link is not None:
            self._start_probing()

    def _offset(self, goal):
        """The playing source's volume offset (dB): the goal's source, else the last started."""
        source = goal.source or self.drive.source
        return dict(self.settings.source_volume).get(source, 0.0)

    def _report(self, plan, goal, reading):
        fields = {}
        if plan.outcome in ("restored", "capped"):
            user = self.memory.user if self.memory.user is not None else reading
            offset = self.memory.offset if self.memory.user is not None else 0.0
            fields["volume_db"] = round(self._target(user.volume + offset), 2)
            if offset:
                fields["offset_db"] = offset
        elif plan.outcome == "lowered":
            fields["volume_db"] = round(goal.level, 2)
        if plan.outcome == "unchanged":
            self._set_status(**self._where)
            return
        fields.update(cause=goal.cause)
        if goal.player:
            fields["player"] = goal.player
        log.info("CamillaDSP %s" % plan.outcome, **fields)
        self._set_status(holding=self.memory.user is not None and goal.level is not None,
                         last_action={"action": plan.outcome, "cause": goal.cause,
                                      "at": iso(time.time())}, **self._where)

    def _send_due(self, report=True):
        """Send the steps that are due; return how many were sent and how many failed.

        The status shows where the plan ended once its last step is sent,
        unless ``report`` is False (``_apply`` reports the whole plan itself).
        """
        now = self.clock()
        sent = failed = 0
        while self.steps and self.steps[0].due <= now + 0.001 and self.link is not None:
            step = self.steps.popleft().step
            if self._send(step):
                sent += 1
            elif self.link is not None:  # refused, not lost: skip it, keep what still makes sense
                failed += 1
                self._skip(step)
        if self.steps:
            return sent, failed
        self._quiet_done()
        if self.link is None:
            return sent, failed
        if self.releases:
            self.memory = policy.NOTHING_HELD
            self.releases = False
        if sent and report:  # the plan's last step: the status shows where it ended
            self._set_status(**self._where)
        return sent, failed

    def _mute_source(self, fader, mute, deadline=None):
        """Send a source fader's mute; a failure is one line, like any command's."""
        link = self.link
        if link is None or not link.commands.supported:
            return
        try:
            link.send(protocol.Commands(link.commands.version, fader).set_mute(mute), deadline)
        except ReplyError as err:
            self._failed(err)
        except WebSocketError as err:
            self._lost(err)

    def _keep(self):
        """Hand what is held down now to ``remember``, when it changed."""
        if self.remember is not None and self.memory != self._kept:
            self._kept = self.memory
            self.remember(policy.memory_text(self.memory))

    def _quiet_done(self):
        """A soft pause's plan has ended (or cannot run): its caller waits no more."""
        done, self._done = self._done, None
        if done is not None:
            done.set()

    def _skip(self, failed):
        """After a refused step, keep only the steps that still make sense."""
        kept = policy.after_failure(failed, [timed.step for timed in self.steps],
                                    self._where["volume_db"], self._where["mute"])
        left = collections.deque()
        wanted = iter(kept)
        next_kept = next(wanted, None)
        for timed in self.steps:
            if timed.step is next_kept:
                left.append(timed)
                next_kept = next(wanted, None)
            elif timed.step.what == "mute" and timed.step.value is False:
                self.releases = False  # still muted by us: the next play tries again
        self.steps = left

    def _sent(self, step):
        if step.what == "mute":
            self._where["mute"] = step.value
        else:
            self._where["volume_db"] = round(step.value, 2)

    def _send(self, step, deadline=None):
        """Send one step; False when it failed (logged)."""
        if self.link is None:
            return False
        commands = self.link.commands
        if step.what == "mute":
            form = commands.set_mute(step.value)
        elif step.what == "cap" and commands.has_limits:
            form = commands.cap_volume(policy.MIN_DB, step.value)
        else:
            form = commands.set_volume(step.value)
        try:
            self.link.send(form, deadline)
        except ReplyError as err:
            self._failed(err)
            return False
        except WebSocketError as err:
            self._lost(err)
            return False
        self._sent(step)
        return True

    def _failed(self, err):
        self._failures.failed(("reply", err.command, err.name), self.clock(),
                              "CamillaDSP command failed; the volume is left as it is",
                              error=str(err))
        if err.kind == "malformed":  # the link closed it: reconnect, with no second line
            self._drop()
            self._connect_at = self.clock() + FIRST_BACKOFF
            self._set_status(connected=False, error=str(err))

    # -- the capture guard -----------------------------------------------------------

    def _start_probing(self):
        """Read the capture peaks once to start afresh, then every ``probe_every`` seconds."""
        if self._peaks() is not None:
            self._probe_at = self.clock() + self.probe_every

    def _probe(self):
        if self._probe_at is None or self.clock() < self._probe_at or self.link is None:
            return
        peaks = self._peaks()
        if peaks is None:
            return
        self._probe_at = self.clock() + self.probe_every
        if policy.sound_arrives(peaks):
            log.info("CamillaDSP: sound arrives that no followed player explains; "
                     "restoring the volume", peak_db=round(max(peaks), 1))
            self.goal = policy.Goal(None, "capture", "")
            self._apply(policy.Goal(None, "capture", ""))

    def _peaks(self):
        """The capture peaks since the last read, or None (the failure is logged)."""
        form = self.link.commands.capture_peak()
        try:
            return peaks_of(form[0], self.link.send(form))
        except ReplyError as err:
            self._failed(err)
        except WebSocketError as err:
            self._lost(err)
        self._probe_at = None
        return None

    # -- shutdown ------------------------------------------------------------------

    def _restore_at_exit(self):
        """Give back what is held down, silently (the players are paused or stopped)."""
        deadline = self._stop_by if self._stop_by is not None else self.clock() + 1.0
        for fader, mute in self._silenced.items():
            if mute:
                self._mute_source(fader, False, deadline)
        link = self.link
        try:
            if link is None or self.memory.user is None or not link.commands.supported:
                return
            try:
                reading = link.read(deadline)
            except (ReplyError, WebSocketError) as err:
                log.warn("CamillaDSP: cannot restore the volume at shutdown", error=str(err))
                return
            plan = policy.plan_open(reading, self.memory, self.settings.max_volume)
            self._where = {"volume_db": round(reading.volume, 2), "mute": reading.mute}
            steps, sent = list(plan.steps), 0
            while steps:
                step = steps.pop(0)
                if self.link is None:
                    return
                if self._send(step, deadline):
                    sent += 1
                else:
                    steps = policy.after_failure(step, steps, self._where["volume_db"],
                                                 self._where["mute"])
            if sent:
                log.info("CamillaDSP restored", cause="shutdown",
                         volume_db=round(self._target(plan.memory.user.volume), 2))
            if sent == len(plan.steps):  # all given back: nothing held any more
                self.memory = policy.NOTHING_HELD
                self._keep()
        finally:
            if self.link is not None:
                left = (self._stop_by or time.monotonic()) - time.monotonic()
                self.link.close(max(0.0, min(0.2, left)))

    def _target(self, volume):
        cap = self.settings.max_volume
        return volume if cap is None else min(volume, cap)

    # -- status ----------------------------------------------------------------------

    def _set_status(self, **fields):
        status = dict(self.status)
        status.update(fields)
        if status != self.status:
            self.status = status
            self.actions.put(CamillaDSPChanged(status))

