"""Speed of :mod:`imusynth.core.iir` against SciPy's C filters, and the import cost it saves (issue 14).

Shapes: (99, 18000) (the 13-second benchmark clip's post-processing, channels x samples, along the last
axis and, transposed, along axis 0) and (3, 401) (a short run). Filters: the package's second-order
Butterworth low-pass (``lfilter`` one pass, ``filtfilt``) and a fourth-order one in sections
(``sosfiltfilt``). Times are process CPU time per call, best of 3 repeats (the development machine's 2
cores are shared: compare CPU times, quote the load average). The import cost of ``scipy.signal``
versus ``imusynth.core.iir`` is measured in fresh interpreters (wall time and resident memory added,
``/proc/self/status``; numpy preloaded in both). Also reports the largest relative difference from
SciPy for each case.

Run from the repository root::

    .venv/bin/python benchmarks/bench_iir.py [--repeat 3]

Prints a table and writes ``benchmarks/results/bench_iir.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
IMPORT_PROBE = ("import time, numpy\n"
                "def rss():\n"
                "    line = [v for v in open('/proc/self/status') if v.startswith('VmRSS')][0]\n"
                "    return int(line.split()[1]) / 1024\n"
                "r0, t = rss(), time.perf_counter()\n"
                "import {module}\n"
                "print(time.perf_counter() - t, rss() - r0)")


def cpu_ms(fn, calls: int, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - t) / calls)
    return best * 1e3


def import_cost(module: str, runs: int = 5) -> tuple[float, float]:
    """Median wall seconds and MiB of resident memory (Linux VmRSS) added by importing ``module``."""
    out = []
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(module=module)], check=True,
                           capture_output=True, text=True)
        out.append([float(v) for v in r.stdout.split()])
    return tuple(np.median(np.array(out), axis=0))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import scipy.signal as sig

    from imusynth.core import iir

    rng = np.random.default_rng(0)
    b, a = iir.butter_lowpass_ba(2, 6.0, 30.0)
    sos = iir.butter_lowpass_sos(4, 6.0, 30.0)
    rows = []
    for shape, axis in (((99, 18000), -1), ((18000, 99), 0), ((3, 401), -1)):
        x = rng.standard_normal(shape).cumsum(axis=axis)
        calls = 10 if x.size > 100_000 else 300
        for name, ours, ref in (
            ("lfilter", partial(iir.lfilter, b, a, x, axis=axis), partial(sig.lfilter, b, a, x, axis=axis)),
            ("filtfilt", partial(iir.filtfilt, b, a, x, axis=axis),
             partial(sig.filtfilt, b, a, x, axis=axis)),
            ("sosfiltfilt(4)", partial(iir.sosfiltfilt, sos, x, axis=axis),
             partial(sig.sosfiltfilt, sos, x, axis=axis)),
        ):
            want = ref()
            err = float(np.max(np.abs(ours() - want)) / np.max(np.abs(want)))
            t_ours, t_ref = cpu_ms(ours, calls, args.repeat), cpu_ms(ref, calls, args.repeat)
            rows.append({"shape": list(shape), "axis": axis, "function": name, "ours_cpu_ms": t_ours,
                         "scipy_cpu_ms": t_ref, "ratio": t_ours / t_ref, "max_rel_diff": err})
            print(f"{str(shape):12s} axis={axis:2d} {name:15s} ours {t_ours:8.3f} ms  scipy {t_ref:8.3f} ms  "
                  f"x{t_ours / t_ref:5.2f}  max rel diff {err:.1e}")
    imports = {m: import_cost(m) for m in ("scipy.signal", "imusynth.core.iir")}
    for m, (s, mib) in imports.items():
        print(f"import {m:18s} {s * 1e3:7.1f} ms wall  +{mib:5.1f} MiB resident (numpy preloaded)")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_iir.json").write_text(json.dumps({
        "rows": rows, "imports": {m: {"wall_s": s, "rss_mib": mib} for m, (s, mib) in imports.items()},
        "load_average": load, "machine": platform.platform(), "numpy": np.__version__,
        "scipy": __import__("scipy").__version__}, indent=2) + "\n")


if __name__ == "__main__":
    main()
