"""What a process costs, read from /proc: resident memory and CPU time.

The hostile tests read these before and after an attack to show the
budget held (README, "The budget").
"""

import os

BUDGET_RSS_MIB = 64
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    """Resident set size of ``pid`` in MiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise ValueError("no VmRSS for pid %d" % pid)


def peak_rss_mib(pid):
    """Highest resident set size of ``pid`` so far, in MiB (VmHWM)."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise ValueError("no VmHWM for pid %d" % pid)


def cpu_seconds(pid):
    """User plus system CPU time ``pid`` has used, in seconds."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
