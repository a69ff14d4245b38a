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


class FailureLog:
    """Logs a run of failures as people want to read it.

    The first failure of each kind at its level; repeats at DEBUG, counted
    and mentioned (``… (repeated 57 times in the last minute)``) with the
    next one after the window; one line when things work again.
    """

    def __init__(self, log, window=60.0):
        self.log = log
        self.failures = 0
        self._repeats = RepeatFilter(window)

    def failed(self, kind, now, message, level="warn", **fields):
        self.failures += 1
        log_now, repeats = self._repeats.check(kind, now)
        if not log_now:
            self.log.debug(message, **fields)
            return
        if repeats:
            message += " (repeated %d times in the last minute)" % repeats
        getattr(self.log, level)(message, **fields)

    def recovered(self, message, **fields):
        """Log ``message`` if failures came before; return whether it did."""
        if not self.failures:
            return False
        self.log.info(message, failures=self.failures, **fields)
        self.failures = 0
        self._repeats.clear()
        return True
