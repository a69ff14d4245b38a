"""What waits for the broker: bounded, the newest retained message per topic first to stay.

The main thread puts, the MQTT thread takes. A retained message replaces
the one waiting for its topic (only the newest state matters), so those
are bounded by the number of topics; events queue in order up to
``max_events``, and past that the oldest is dropped and counted. A
broker that is down or stalled therefore costs a fixed amount of memory
however many changes come, and the newest state still goes out when it
is back.
"""

import collections
import threading


class Outbox:
    """``put`` (any thread) and ``take`` (the MQTT thread); ``signal()`` is called after a put
    so that the taker wakes."""

    def __init__(self, max_events=1000, signal=None):
        self.max_events = max_events
        self.signal = signal
        self._lock = threading.Lock()
        self._retained = collections.OrderedDict()  # topic -> Message
        self._events = collections.deque()
        self._dropped = 0
        self._behind = False  # dropping since the box was last emptied

    def put(self, message):
        """Queue ``message``; True when it is the first drop since the box was last emptied."""
        first_drop = False
        with self._lock:
            if message.retain:
                self._retained.pop(message.topic, None)
                self._retained[message.topic] = message
            else:
                self._events.append(message)
                if len(self._events) > self.max_events:
                    self._events.popleft()
                    first_drop = not self._behind
                    self._behind = True
                    self._dropped += 1
        if self.signal is not None:
            self.signal()
        return first_drop

    def take(self, limit):
        """Up to ``limit`` messages, retained ones first, and how many events were dropped
        since the last take."""
        with self._lock:
            taken = []
            while self._retained and len(taken) < limit:
                taken.append(self._retained.popitem(last=False)[1])
            while self._events and len(taken) < limit:
                taken.append(self._events.popleft())
            dropped, self._dropped = self._dropped, 0
            if not self._retained and not self._events:
                self._behind = False
            return taken, dropped

    def __len__(self):
        with self._lock:
            return len(self._retained) + len(self._events)
