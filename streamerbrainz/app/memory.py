"""Keep the daemon's memory small where the C library allows it.

glibc gives every thread that allocates at the same time as another its own
malloc arena (up to eight per core) and keeps their memory once freed. Each
HTTP connection is served on a thread of its own, so a burst of webhooks
leaves a megabyte or two behind for good. Capping the arenas at two, as
``MALLOC_ARENA_MAX=2`` would, keeps that memory in check at no cost a Pi
would notice. A fixed mmap threshold of 256 KiB keeps large request bodies
in memory of their own, given back to the system as soon as they are freed
(glibc's sliding threshold would otherwise move them to the heap after the
first one, where freed memory stays). Elsewhere (musl, other systems) this
does nothing.
"""

import os

M_ARENA_MAX = -8  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
ARENAS = 2
MMAP_THRESHOLD = 256 * 1024


def limit_malloc_arenas(environ=None):
    """Cap glibc's malloc arenas unless ``MALLOC_ARENA_MAX`` already says otherwise.

    The mmap threshold is fixed too, on the same condition.
    """
    environ = os.environ if environ is None else environ
    if environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return mallopt(M_ARENA_MAX, ARENAS) == 1
