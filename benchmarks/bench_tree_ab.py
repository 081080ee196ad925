"""A/B of two tlsback source trees over a certificate tree, fresh processes, wall and CPU time.

``python benchmarks/bench_tree_ab.py --compare-src OTHER/src --sizes 0,10000,50000 --runs 9``

For each size (0: the system store alone) and each of ``warm`` / ``cold``, runs
``import tlsback; tlsback.load().context`` in fresh interpreters (bytecode compiled, in a private
``PYTHONPYCACHEPREFIX`` per tree; cache on tmpfs: warm reuses one entry, cold gets an empty cache
directory each run), this tree and ``--compare-src`` interleaved run by run, and prints the
medians of the wall time and of the process's CPU time (``time.process_time``), which load from
other work on the machine disturbs far less. A tree's added cost is its row minus size 0's.
The other tree needs its extension built (``python setup.py build_ext --inplace`` there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
_SNIPPET = (
    "import ssl, time, logging; logging.disable(logging.WARNING); c = time.process_time(); "
    "t = time.perf_counter(); import tlsback; cfg = tlsback.load(); ctx = cfg.context; "
    "dt, dc = time.perf_counter() - t, time.process_time() - c; "
    "assert cfg.store.cache['state'] == {state!r}, cfg.store.cache; print(dt, dc)"
)


def _env(src: str, cache: str, tree: str | None, pyc: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_", "UV_", "TLSBACK_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=src, PYTHONPYCACHEPREFIX=pyc, UV_NO_CONFIG="1", TLSBACK_CACHE_DIR=cache)
    if tree:
        env["SSL_CERT_DIR"] = tree
    return env


def _run(src: str, cache: str, tree: str | None, pyc: str, state: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _SNIPPET.format(state=state)], env=_env(src, cache, tree, pyc),
                         capture_output=True, text=True, cwd=tempfile.gettempdir(), check=False)
    if out.returncode:
        raise SystemExit(f"{src}: {out.stderr}")
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compare-src", required=True)
    p.add_argument("--sizes", default="0,10000")
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--modes", default="warm,cold")
    args = p.parse_args()
    sys.path.insert(0, str(SRC))
    from tlsback import bench

    work = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None, prefix="tlsback-ab-"))
    trees = {"this": str(SRC), "other": str(Path(args.compare_src).resolve())}
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            tree = bench.ensure_tree(n).path if n else None
            for mode in args.modes.split(","):
                samples: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
                for name, src in trees.items():  # fill the warm entry (once), compile the bytecode
                    warm = work / f"warm-{name}-{n}"
                    if not warm.exists():
                        _run(src, str(warm), tree, str(work / f"pyc-{name}"), "built")
                for _ in range(args.runs):
                    for name, src in trees.items():
                        pyc = str(work / f"pyc-{name}")
                        if mode == "warm":
                            samples[name].append(_run(src, str(work / f"warm-{name}-{n}"), tree, pyc, "hit"))
                        else:
                            cold = tempfile.mkdtemp(dir=work)
                            samples[name].append(_run(src, cold + "/c", tree, pyc, "built"))
                            shutil.rmtree(cold, ignore_errors=True)
                for name in trees:
                    wall = statistics.median(w for w, _ in samples[name]) * 1000
                    cpu = statistics.median(c for _, c in samples[name]) * 1000
                    print(f"{mode:4} n={n:<6} {name:5}: wall {wall:8.1f} ms  cpu {cpu:8.1f} ms  "
                          f"(median of {args.runs})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
