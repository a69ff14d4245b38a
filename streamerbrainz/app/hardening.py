"""Keep the daemon's memory and start-up environment out of its hooks' reach.

A hook runs as the daemon's user, and any process of that user may read
``/proc/<daemon pid>/environ`` (where the token file's path may stand) and
the daemon's memory (where the token itself does). Marking the daemon "not
dumpable" makes the kernel refuse both to processes without
``CAP_SYS_PTRACE``; hooks are unaffected, as every new program starts
dumpable again. It also turns off core dumps, which would hold the token.
Elsewhere than Linux this does nothing.
"""

PR_SET_DUMPABLE = 4  # from <linux/prctl.h>


def hide_from_same_user():
    """Mark this process not dumpable; return whether that worked."""
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return False
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
