"""Statistics and the way the table writes figures (no measurement here)."""


def percentile(values, p):
    """Nearest-rank percentile of ``values`` (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def p95(values):
    return percentile(values, 95)


def ms(seconds):
    return "%.2f ms" % (seconds * 1000.0)


def mib(kib):
    return "%.1f MiB" % (kib / 1024.0)
