"""Waiting on one non-blocking socket until it can be read or written, by a deadline."""

import select
import time


def ready(sock, writing, deadline):
    """Whether ``sock`` became readable (or writable) before monotonic ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if writing else select.POLLIN)
        return bool(poller.poll(max(1, int(left * 1000 + 0.999))))
    return any(select.select([] if writing else [sock], [sock] if writing else [], [],
                             left))  # pragma: no cover (no poll: Windows)
