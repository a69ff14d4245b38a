"""Keep a repeated failure from flooding the log.

The first occurrence of a message is logged; repeats within the window are
counted and summarised with the next occurrence after it, so no timer is
needed and an idle daemon stays idle.
"""


class RepeatFilter:
    """Decides, per key, whether to log now and how many repeats to mention."""

    def __init__(self, window=60.0):
        self.window = window
        self._seen = {}  # key -> [time last logged, repeats since]

    def check(self, key, now):
        """Return ``(log_now, repeats_not_logged)`` for one occurrence of ``key``."""
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.window:
            repeats = entry[1] if entry else 0
            self._seen[key] = [now, 0]
            return True, repeats
        entry[1] += 1
        return False, 0

    def clear(self):
        """Forget everything (after a recovery); return how many keys were seen."""
        seen = len(self._seen)
        self._seen.clear()
        return seen
