"""What the volume should do, as pure functions: goals from changes, plans from readings.

A ``Goal`` is what the state asks for: the user's own volume (``level``
None, "open"), or a level the daemon holds the volume down to (``MUTE``
or a number of dB). A plan turns a goal, a fresh ``Reading`` of the
fader and the ``Memory`` of what the daemon did into timed ``Step`` s,
so that the service thread only sends them. The rule that keeps a
listener's volume theirs: a reading the daemon did not cause (a knob, a
GUI, CamillaDSP coming back from its statefile at another level) is the
user's, and a restore returns to the user's setting, never to a value of
ours, and never above the cap.
"""

import collections
import json
import math

from streamerbrainz.camilladsp.protocol import MIN_DB
from streamerbrainz.core.trigger import PLEX

MUTE = "mute"
EPSILON_DB = 0.01  # CamillaDSP ignores smaller changes
FADE_FROM_DB = 30.0  # a fade-in out of silence starts this far below its target
STEP_S = 0.2  # the time between two steps of a fade longer than CamillaDSP's own ramp
SOUND_DB = -60.0  # a capture peak above this is sound arriving (silence reads near -100)

Policy = collections.namedtuple(
    "Policy", "idle pause max_volume fade_in_ms fade_out_ms source_volume", defaults=(1000, ()))
Policy.__doc__ = """The volume policy: ``idle`` and ``pause`` are MUTE, dB or None (off);
``fade_out_ms`` is the soft pause's fade before it mutes; ``source_volume`` the
``(source, dB)`` offsets of a restore while that source plays."""

Goal = collections.namedtuple("Goal", "level cause player source", defaults=(None,))
Goal.__doc__ = """Open (``level`` None) or hold down to ``level``; ``cause`` names why;
``source`` is the source that plays (for its volume offset), None when unknown."""

Reading = collections.namedtuple("Reading", "volume mute")
Step = collections.namedtuple("Step", "at what value")
Step.__doc__ = """Send at ``at`` seconds after the plan: ``what`` is volume, mute or cap."""

Memory = collections.namedtuple("Memory", "user low high muted offset", defaults=(0.0,))
Memory.__doc__ = """What the daemon holds: ``user`` is the user's Reading to restore (None when
it holds nothing), ``low``..``high`` the volumes it set since (None when none),
``muted`` whether it muted, ``offset`` the source's offset (dB) in the volume it
left (the user's volume is the fader's less it)."""
NOTHING_HELD = Memory(None, None, None, False)

Plan = collections.namedtuple("Plan", "steps memory outcome releases")
Plan.__doc__ = """The steps, the memory while they run, what the plan does (for the log:
muted, lowered, restored, capped, unchanged, taken over), and ``releases``:
whether the memory becomes NOTHING_HELD once the last step is sent."""


def memory_text(memory):
    """``memory`` as JSON text, to keep across a restart."""
    user = None if memory.user is None else [memory.user.volume, memory.user.mute]
    return json.dumps({"user": user, "low": memory.low, "high": memory.high,
                       "muted": memory.muted, "offset": memory.offset})


def memory_of(text):
    """The Memory kept as ``text`` by ``memory_text``; NOTHING_HELD for anything else."""
    try:
        data = json.loads(text)
        user = data["user"]
        user = None if user is None else Reading(float(user[0]), bool(user[1]))
        low, high = data["low"], data["high"]
        low = None if low is None else float(low)
        high = None if high is None else float(high)
        memory = Memory(user, low, high, bool(data["muted"]), float(data["offset"]))
    except (ValueError, TypeError, KeyError, IndexError):
        return NOTHING_HELD
    if user is None or not all(math.isfinite(v) for v in (user.volume, memory.offset)):
        return NOTHING_HELD
    return memory


def parse_level(raw, flag):
    """``mute``, ``off`` or a number of dB from a flag's text; ValueError with the fix."""
    text = raw.strip().lower()
    if text in ("mute", "off"):
        return MUTE if text == "mute" else None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not MIN_DB <= value <= 0.0:
        raise ValueError("-%s: %r is not mute, off or a level in dB from -150 to 0 (e.g. -40)"
                         % (flag, raw))
    return value


def level_text(level):
    """A level as the log shows it: mute, off, or its dB."""
    if level is None:
        return "off"
    return level if level == MUTE else "%.1f" % level


class Drive:
    """Which goal each change of a local player asks for; the main thread's.

    ``is_local(machine_id)`` says which players are the streamer's own.
    A hold needs a real pause or stop of a player seen playing, and the
    idle hold a play since start: a daemon that starts while nothing plays
    does not mute what it never muted.
    """

    def __init__(self, policy, is_local):
        self.policy = policy
        self.is_local = is_local
        self.playing = set()
        self.played = False
        self.source = PLEX  # the local source that started last (read by the service thread)

    def state_changed(self, change):
        """The Goal a change asks for, or None."""
        if change.source == PLEX and not self.is_local(change.machine_id):
            return None  # a bridged source (Spotify, AirPlay) is always the streamer's own
        if change.state == "playing":
            self.playing.add(change.machine_id)
            self.played = True
            self.source = change.source
            return Goal(None, "playing", change.player, change.source)
        if change.state == "buffering":
            return None
        self.playing.discard(change.machine_id)
        if (self.policy.pause is not None and not self.playing
                and change.previous_state in ("playing", "buffering")):
            return Goal(self.policy.pause, change.state, change.player)
        return None

    def players_idle(self):
        if self.policy.idle is not None and not self.playing and self.played:
            return Goal(self.policy.idle, "idle", "")
        return None


def is_ours(memory, volume):
    """Whether ``volume`` is one the daemon set since it last read the user's."""
    return (memory.low is not None
            and memory.low - EPSILON_DB <= volume <= memory.high + EPSILON_DB)


def user_setting(memory, reading):
    """The user's volume and mute: what is remembered, unless the reading shows a change."""
    if memory.user is None:
        return reading
    if is_ours(memory, reading.volume):
        volume = memory.user.volume
    else:  # the knob moved: what it shows holds the source's offset the daemon left
        volume = reading.volume - memory.offset
    mute = memory.user.mute if memory.muted and reading.mute else reading.mute
    return Reading(volume, mute)


def ramp(start, end, seconds, step_s=STEP_S, first_at=0.0):
    """Volume steps from ``start`` (excluded) to ``end`` (included), linear in dB."""
    count = max(1, int(math.ceil(seconds / step_s - 1e-9))) if seconds > 0 else 1
    return [Step(first_at + seconds * i / count, "volume", start + (end - start) * i / count)
            for i in range(1, count + 1)]


def _remember(memory, user, steps, muted, offset=None):
    offset = memory.offset if offset is None else offset
    volumes = [step.value for step in steps if step.what == "volume"]
    if memory.user is not None and memory.low is not None:
        volumes += [memory.low, memory.high]
    if not volumes:
        return Memory(user, None, None, muted, offset)
    return Memory(user, min(volumes), max(volumes), muted, offset)


def plan_hold(level, reading, memory, fade_s=0.0):
    """Hold the volume down to ``level`` (MUTE or dB) from what ``reading`` shows."""
    user = user_setting(memory, reading)
    if memory.user is None:  # a hold starts: the range of ours starts afresh
        memory = NOTHING_HELD
    if reading.mute:
        return Plan([], _remember(memory, user, [], memory.muted), "unchanged", False)
    if level == MUTE:
        # A soft pause fades out first, then mutes: the volume it leaves low is ours.
        steps = (ramp(reading.volume, max(MIN_DB, reading.volume - FADE_FROM_DB), fade_s)
                 if fade_s > 0 else [])
        steps.append(Step(fade_s, "mute", True))
        return Plan(steps, _remember(memory, user, steps, True), "muted", False)
    if reading.volume <= level + EPSILON_DB:
        return Plan([], _remember(memory, user, [], memory.muted), "unchanged", False)
    steps = ramp(reading.volume, level, fade_s)
    return Plan(steps, _remember(memory, user, steps, memory.muted), "lowered", False)


def plan_open(reading, memory, cap=None, fade_s=0.0, offset=0.0):
    """Give the user their volume back (faded in, at most ``cap``), or apply the cap alone.

    ``offset`` (dB) is the playing source's (-camilladsp-source-volume): the
    volume given back is the user's plus it, and while it is not 0 the
    memory stays, so that the next restore starts from the user's volume,
    not from the offset one.
    """
    if memory.user is None:
        if cap is not None and not reading.mute and reading.volume > cap + EPSILON_DB:
            return Plan([Step(0.0, "cap", cap)], NOTHING_HELD, "capped", True)
        return Plan([], NOTHING_HELD, "unchanged", True)
    user = user_setting(memory, reading)
    wanted = max(MIN_DB, user.volume + offset)
    target = wanted if cap is None else min(wanted, cap)
    steps = []
    if reading.mute and memory.muted and not user.mute:
        start = max(MIN_DB, target - FADE_FROM_DB) if fade_s > 0 else target
        if abs(reading.volume - start) > EPSILON_DB:
            steps.append(Step(0.0, "volume", start))
        steps.append(Step(0.0, "mute", False))
        if fade_s > 0:
            steps += ramp(start, target, fade_s)
    elif reading.mute:  # muted by the user, not by us: only the volume goes back
        if abs(reading.volume - target) > EPSILON_DB:
            steps.append(Step(0.0, "volume", target))
    elif reading.volume < target - EPSILON_DB:
        steps += ramp(reading.volume, target, fade_s)
    elif reading.volume > target + EPSILON_DB:
        steps.append(Step(0.0, "volume", target))  # down to the cap: never a loud surprise
    taken_over = not is_ours(memory, reading.volume) and not (memory.muted and reading.mute)
    outcome = "restored" if steps else ("taken over" if taken_over else "unchanged")
    if offset:  # keep the user's volume: the fader holds the source's offset
        kept = _remember(memory, user, steps + [Step(0.0, "volume", target)], False, offset)
        return Plan(steps, kept, outcome, False)
    return Plan(steps, _remember(memory, user, steps, memory.muted, 0.0), outcome, True)


def after_failure(failed, steps, volume, muted):
    """The steps still worth sending after ``failed`` did not take.

    ``volume`` and ``muted`` are where the fader is. A failed step is
    skipped, except that a volume step that fails while muted drops the
    plan's later volume steps: a fade that could not start low would
    unmute at the current volume, dip and climb. The unmute is kept unless
    the current volume is above where the plan was going (the cap): then it
    stays muted rather than get loud.
    """
    if failed.what == "mute" or not muted:
        return list(steps)
    volumes = [step.value for step in steps if step.what != "mute"]
    target = volumes[-1] if volumes else failed.value
    too_loud = volume > target + EPSILON_DB
    return [step for step in steps
            if step.what == "mute" and not (too_loud and step.value is False)]


def after_reconnect(memory, reading):
    """The memory to plan with when a new connection first shows ``reading``.

    CamillaDSP restarted without its statefile comes back at 0 dB: not a
    user's choice. While the daemon holds the volume down, a reading louder
    than the user's remembered volume is taken as not the user's (the range
    of ours widens to hold it), so the restore returns to the remembered
    volume; a quieter one is the user's.
    """
    if memory.user is None or reading.volume <= memory.user.volume + EPSILON_DB:
        return memory
    low = reading.volume if memory.low is None else min(memory.low, reading.volume)
    high = reading.volume if memory.high is None else max(memory.high, reading.volume)
    return memory._replace(low=low, high=high)


def sound_arrives(peaks, threshold=SOUND_DB):
    """Whether capture peaks (dB per channel) show sound coming in."""
    return any(peak > threshold for peak in peaks)
