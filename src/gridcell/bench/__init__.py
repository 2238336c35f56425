"""Benchmarks behind the product figures; each yields one dict per figure (see benchmarks/README.md)."""


def python_speed_ms() -> float:
    """A fixed pure-Python workload (10 million additions), best of three. Machines of the same kind differ
    in speed from one session to the next, so figures carry this reading to be compared by."""
    import time

    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)
