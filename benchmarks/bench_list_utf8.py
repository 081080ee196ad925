"""Warm start over a 10,000-certificate tree with UTF-8 file names, this tree against another.

``python benchmarks/bench_list_utf8.py --compare-src OTHER/src [--runs 21]``

The generated 10k tree (``tlsback.bench.ensure_tree``) copied to tmpfs with one PEM file in
ten renamed ``été-...`` (600 names; the hash links point at others), then
``import tlsback; tlsback.load().context`` on a warm entry in fresh processes, the two source
trees interleaved run by run (``bench_tree_ab``'s runner: bytecode compiled, asserts a cache
hit), and each tree's ``sources.list_source`` in process (CPU time, median of 40 per process).
Medians of wall and CPU time. The other tree needs its extension built.
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
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import bench_tree_ab as ab

_LIST = (
    "import statistics, sys, time; from tlsback import sources; import tlsback._ext; "
    "s = sources.Source('SSL_CERT_DIR', sys.argv[1], 'dir', 'env'); ts = []\n"
    "for _ in range(40):\n"
    "    t = time.process_time(); got = sources.list_source(s, native=True); ts.append(time.process_time() - t)\n"
    "assert not got.problems and len(got.files) == int(sys.argv[2]), (got.problems, len(got.files))\n"
    "print(statistics.median(ts))"
)


def _utf8_tree(work: Path) -> tuple[str, int]:
    from tlsback import bench, sources

    tree = work / "tree"
    shutil.copytree(bench.ensure_tree(10000).path, tree, symlinks=True)
    for name in sorted(os.listdir(tree)):
        if name.startswith("cert-") and name.endswith("5.pem"):
            os.rename(tree / name, tree / ("\u00e9t\u00e9-" + name))
    files = len(sources.list_source(sources.Source("SSL_CERT_DIR", str(tree), "dir", "env")).files)
    return str(tree), files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compare-src", required=True)
    p.add_argument("--runs", type=int, default=21)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None, prefix="tlsback-utf8-"))
    trees = {"this": str(HERE.parent / "src"), "other": str(Path(args.compare_src).resolve())}
    try:
        tree, files = _utf8_tree(work)
        print(f"tree: {files} certificate files, {sum(not n.isascii() for n in os.listdir(tree))} UTF-8 names")
        for name, src in trees.items():
            ab._run(src, str(work / f"warm-{name}"), tree, str(work / f"pyc-{name}"), "built")
        starts: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
        lists: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(args.runs):
            for name, src in trees.items():
                starts[name].append(ab._run(src, str(work / f"warm-{name}"), tree, str(work / f"pyc-{name}"), "hit"))
                out = subprocess.run([sys.executable, "-c", _LIST, tree, str(files)], env=dict(os.environ, PYTHONPATH=src),
                                     capture_output=True, text=True, check=True)
                lists[name].append(float(out.stdout))
        for name in trees:
            wall = statistics.median(w for w, _ in starts[name]) * 1e3
            cpu = statistics.median(c for _, c in starts[name]) * 1e3
            listing = statistics.median(lists[name]) * 1e3
            print(f"{name:5}: warm start wall {wall:6.1f} ms  cpu {cpu:6.1f} ms;  list_source cpu {listing:5.1f} ms"
                  f"  (medians of {args.runs})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
