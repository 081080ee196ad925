"""Start-up benchmarks: each figure beside its reference, measured in the same run.

What they measure and the figures: docs/cache.md, "Start-up: the warm path".

Two ways to run it:

* ``python benchmarks/bench_startup.py [--runs N] [--sizes 10000,50000] [--json FILE]``: the
  whole-process report. Every figure is the median of ``N`` fresh interpreters (or, for uv, of
  ``N`` ``uv pip compile`` runs against a local HTTPS index), the measurements of a comparison
  interleaved so that load on the machine hits both sides alike. It prints the targets of the
  cache issue with the measured ratios. The tree figures come as wall time and CPU time (the
  process's ``time.process_time``; uv's user + system time), the latter far less disturbed when
  other work shares the machine; the stdlib's eager load of the same certificates is measured
  in the same run up to ``--eager-max`` certificates. ``--trees-only`` prints only the trees.
* ``pytest benchmarks/bench_startup.py``: the same code paths in process under pytest-benchmark
  (warm and cold contexts, ``create_default_context``, the first handshake lazy and eager, the
  eager threshold), each asserting that the result is the expected one (docs/development.md,
  "Benchmarks").

What is compared:

=====================  ==========================================================================
import                 ``import tlsback`` after ``import ssl`` vs ``import ssl`` alone
warm context           ``tlsback.load().context`` with the cache entry in place vs
                       ``ssl.create_default_context()`` (system store) / the stdlib's eager
                       ``load_verify_locations(cadata=...)`` of the same certificates / uv
cold context           the same with an empty cache directory; over a tree, the cost the tree
                       adds (cold with tree + PKI root - cold with the PKI root alone), the way
                       uv's added cost is measured (uv with tree + root - uv with root alone)
container cold         the system store on a first run in a fresh container (a mount namespace
                       with an empty /dev/shm, an empty home, no XDG_RUNTIME_DIR) vs
                       ``ssl.create_default_context()`` there; needs ``unshare --mount``
first handshake        first handshake on a fresh context, lazy store vs eager store
eager threshold        eager load vs warm lazy start (+ the first handshake's lookups) by size
=====================  ==========================================================================
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import startup_support as S

if str(S.SRC) not in sys.path:
    sys.path.insert(0, str(S.SRC))

from tlsback.sources import PLATFORM_BUNDLES, PLATFORM_DIRS  # noqa: E402 - after the path is set

WORK = Path(os.environ.get("TLSBACK_STARTUP_BENCH_DIR", "/tmp/tlsback-startup-bench"))

_IMPORT_SSL = "import time; t = time.perf_counter(); import ssl; print(time.perf_counter() - t)"
_IMPORT_TLSBACK = ("import time, ssl; t = time.perf_counter(); import tlsback; "
                   "print(time.perf_counter() - t)")
_CDC = "import ssl, time; t = time.perf_counter(); ssl.create_default_context(); print(time.perf_counter() - t)"
# What the start-up target is about: the snippet a program runs, timed inside a fresh process
# after `import ssl`, the cache state checked after the clock stopped (not part of the figure).
_TLSBACK_CDC = ("import ssl, time, os; d = os.environ['TLSBACK_CACHE_DIR']; "
                "warm = os.path.isdir(d) and any(n.startswith('e') for n in os.listdir(d)); "
                "t = time.perf_counter(); import tlsback; ctx = tlsback.create_default_context(); "
                "dt = time.perf_counter() - t; c = tlsback.load().store.cache; "
                "assert warm == ({state!r} == 'hit') and c['state'] == 'hit', (warm, c); print(dt)")
# The floor both sides pay: a process's first SSLContext (OpenSSL 3 initialises itself then).
_FIRST_CONTEXT = ("import ssl, time; t = time.perf_counter(); ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); "
                  "print(time.perf_counter() - t)")
# The floor of a warm start that keys the system store by what is on disk: the first SSLContext
# plus one stat (links followed) of the platform bundle and of every name in the platform
# directories, with no Python work around them. No implementation that notices a changed file can
# go below it; ssl.create_default_context() / this = the best ratio this machine allows.
_STORE_FLOOR = (
    "import ssl, os, time; t = time.perf_counter(); ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
    f"for b in {PLATFORM_BUNDLES!r}:\n"
    "    try: os.stat(b); break\n"
    "    except OSError: pass\n"
    f"for d in {PLATFORM_DIRS!r}:\n"
    "    try: fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)\n"
    "    except OSError: continue\n"
    "    [os.stat(n, dir_fd=fd) for n in os.listdir(fd)]; os.close(fd)\n"
    "print(time.perf_counter() - t)")
# The yardstick (benchmarks/warm_sketch.py): the unavoidable work of a warm start, in one module
# with none of tlsback's checks; its marker names the entry tlsback built for the same key.
_SKETCH_ARGS = f"{PLATFORM_BUNDLES!r}, {PLATFORM_DIRS!r}, os.environ['TLSBACK_CACHE_DIR']"
_SKETCH_FILL = ("import os, tlsback, warm_sketch; "
                f"warm_sketch.remember({_SKETCH_ARGS}, tlsback.load().store.cache['path'])")
_SKETCH = ("import ssl, os, time; t = time.perf_counter(); import warm_sketch; "
           f"ctx = warm_sketch.context({_SKETCH_ARGS}); print(time.perf_counter() - t)")
# The modules a warm start imports, in its order (what it adds to sys.modules), and the time
# to import just those: the part of the warm figure that is the cost of tlsback's layout.
_WARM_MODULES = ("import ssl, sys; before = set(sys.modules); import tlsback; "
                 "tlsback.create_default_context(); print([m for m in sys.modules if m not in before])")
_IMPORT_ONLY = ("import ssl, time, importlib; t = time.perf_counter()\n"
                "for m in {mods!r}: importlib.import_module(m)\n"
                "print(time.perf_counter() - t)")
_TRUSTSTORE = ("import ssl, time; t = time.perf_counter(); import truststore; "
               "ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_default_certs(); "
               "print(time.perf_counter() - t)")
_TLSBACK_CTX = ("import ssl, tlsback, time, logging; logging.disable(logging.WARNING); t = time.perf_counter(); "
                "cfg = tlsback.load(); ctx = cfg.context; dt = time.perf_counter() - t; "
                "assert cfg.store.cache['state'] == {state!r}, cfg.store.cache; print(dt)")


def _warm_cache_env(extra: dict[str, str], name: str = "warm-cache") -> dict[str, str]:
    cache_dir = WORK / name
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.chmod(0o700)
    env = S.base_env({"TLSBACK_CACHE_DIR": str(cache_dir), **extra})
    S.fresh(_TLSBACK_CTX.format(state="built").replace("assert", "0 and"), env, 1)  # fill it
    return env


# --- measurements (shared by the report and the pytest-benchmark tests) ------------------------


def measure_import(runs: int) -> dict[str, Any]:
    env = S.base_env()
    a, b = [], []
    for _ in range(runs):
        a += S.fresh(_IMPORT_SSL, env, 1).samples
        b += S.fresh(_IMPORT_TLSBACK, env, 1).samples
    return {"import_ssl_s": statistics.median(a), "import_tlsback_after_ssl_s": statistics.median(b)}


def measure_system_store(runs: int, compare_src: str | None = None) -> dict[str, Any]:
    """``import tlsback; tlsback.create_default_context()`` warm and cold against
    ``ssl.create_default_context()`` and truststore, interleaved, each in fresh processes.

    No ``UV_NO_CONFIG``: the settings look for config files as in real use, from an empty
    working directory (the user and system config locations of this machine hold none).
    ``compare_src``: another tlsback source tree (say, main's), whose warm figure is measured in
    the same interleaved loop (its own cache directory and bytecode).
    """
    cwd = WORK / "empty-cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    cache_dir = WORK / "warm-cache-system"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.chmod(0o700)
    env = S.base_env({"TLSBACK_CACHE_DIR": str(cache_dir)})
    env.pop("UV_NO_CONFIG")
    S.fresh(_TLSBACK_CDC.format(state="hit").replace("assert", "0 and"), env, 2, cwd=cwd)  # fill it, compile
    sketch_env = {**env, "PYTHONPATH": os.pathsep.join([env["PYTHONPATH"], str(Path(__file__).resolve().parent)])}
    S.fresh(_SKETCH_FILL + "; print(0)", sketch_env, 1, cwd=cwd)
    S.fresh(_SKETCH, sketch_env, 1, cwd=cwd)  # compile it
    import ast

    mods = ast.literal_eval(subprocess.run([sys.executable, "-c", _WARM_MODULES], env=env, cwd=cwd, check=True,
                                           capture_output=True, text=True).stdout)
    import_only = _IMPORT_ONLY.format(mods=mods)
    other_env = None
    if compare_src:
        other_cache = WORK / "warm-cache-system-compare"
        other_cache.mkdir(parents=True, exist_ok=True)
        other_cache.chmod(0o700)
        other_env = {**env, "PYTHONPATH": compare_src, "TLSBACK_CACHE_DIR": str(other_cache),
                     "PYTHONPYCACHEPREFIX": str(WORK / "pycache-compare")}
        S.fresh(_TLSBACK_CDC.format(state="hit").replace("assert", "0 and"), other_env, 2, cwd=cwd)
    warm, cold, cdc, ts, other, floor, store_floor, sketch, imports = [], [], [], [], [], [], [], [], []
    for _ in range(runs):
        warm += S.fresh(_TLSBACK_CDC.format(state="hit"), env, 1, cwd=cwd).samples
        if other_env is not None:
            other += S.fresh(_TLSBACK_CDC.format(state="hit"), other_env, 1, cwd=cwd).samples
        d = tempfile.mkdtemp(dir="/dev/shm", prefix="tlsback-bench-cold-")
        cold += S.fresh(_TLSBACK_CDC.format(state="built"), {**env, "TLSBACK_CACHE_DIR": d + "/c"}, 1,
                        cwd=cwd).samples
        shutil.rmtree(d, ignore_errors=True)
        cdc += S.fresh(_CDC, env, 1, cwd=cwd).samples
        ts += S.fresh(_TRUSTSTORE, env, 1, cwd=cwd).samples
        floor += S.fresh(_FIRST_CONTEXT, env, 1, cwd=cwd).samples
        store_floor += S.fresh(_STORE_FLOOR, env, 1, cwd=cwd).samples
        sketch += S.fresh(_SKETCH, sketch_env, 1, cwd=cwd).samples
        imports += S.fresh(import_only, env, 1, cwd=cwd).samples
    med = statistics.median
    return {"warm_s": med(warm), "cold_s": med(cold), "create_default_context_s": med(cdc),
            "truststore_s": med(ts), "first_context_s": med(floor), "store_floor_s": med(store_floor),
            "sketch_s": med(sketch), "warm_imports_s": med(imports), "warm_modules": len(mods),
            "samples": runs,
            **({"compare_src": compare_src, "warm_compare_s": med(other)} if other else {})}


# The tree figures: wall and CPU time (``time.process_time``) of the same block.
_TLSBACK_CTX_TIMES = ("import ssl, tlsback, time, logging; logging.disable(logging.WARNING); "
                      "t = time.perf_counter(); c = time.process_time(); cfg = tlsback.load(); ctx = cfg.context; "
                      "dt, dc = time.perf_counter() - t, time.process_time() - c; "
                      "assert cfg.store.cache['state'] == {state!r}, cfg.store.cache; print(dt, dc)")


def _ctx_times(env: dict[str, str], state: str, *, cold: bool) -> tuple[float, float]:
    """One fresh process's ``(wall, cpu)``; ``cold`` gives it an empty cache directory."""
    e = dict(env)
    d = None
    if cold:
        d = tempfile.mkdtemp(dir="/dev/shm", prefix="tlsback-bench-cold-")
        e["TLSBACK_CACHE_DIR"] = os.path.join(d, "cache")
    try:
        out = subprocess.run([sys.executable, "-c", _TLSBACK_CTX_TIMES.format(state=state)], env=e,
                             capture_output=True, text=True, check=True, timeout=3600).stdout
    finally:
        if d is not None:
            shutil.rmtree(d, ignore_errors=True)
    wall, cpu = out.split()[-2:]
    return float(wall), float(cpu)


def measure_stdlib_eager(n: int, runs: int, pki: S.PKIFiles) -> dict[str, float]:
    """``load_verify_locations(cadata=...)`` of the tree's certificates (and the PKI root): the
    stdlib's eager load of the same store, in this process (minutes at 50,000)."""
    import tlsback
    from tlsback import bench

    logging.disable(logging.WARNING)
    try:
        env = {"UV_NO_CONFIG": "1", "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "eager",
               "SSL_CERT_DIR": S.cert_dirs(bench.ensure_tree(n).path, pki.root_dir)}
        store = tlsback.load(env=env).store
        cadata, count = store.cadata(), store.count
    finally:
        logging.disable(logging.NOTSET)
    assert count == n + 1, (count, n)  # the tree's certificates and the PKI root
    wall, cpu = [], []
    for _ in range(runs):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        t, c = time.perf_counter(), time.process_time()
        ctx.load_verify_locations(cadata=cadata)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert ctx.cert_store_stats()["x509"] == count  # every certificate loaded (outside the clock)
    return {"stdlib_eager_s": statistics.median(wall), "stdlib_eager_cpu_s": statistics.median(cpu),
            "stdlib_eager_samples": runs}


# A first run in a fresh container: no XDG_RUNTIME_DIR, an empty home, an empty /dev/shm (a
# private tmpfs in a mount namespace of its own), so the cache is created from nothing where
# tlsback puts it by default. The entry's state and place are checked after the clock stopped.
_CONTAINER_COLD = ("import ssl, time; t = time.perf_counter(); import tlsback; "
                   "cfg = tlsback.load(); ctx = cfg.context; dt = time.perf_counter() - t; c = cfg.store.cache; "
                   "assert c['state'] == 'built' and c['root_origin'] == '/dev/shm', c; print(dt)")


def _container(code: str, env: dict[str, str], home: str) -> float:
    """``code`` in a fresh interpreter inside a new mount namespace with an empty /dev/shm."""
    script = 'mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec "$0" -c "$1"'
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, sys.executable,
                          code], env={**env, "HOME": home}, capture_output=True, text=True, check=True,
                         timeout=600).stdout
    return float(out.strip().splitlines()[-1])


def measure_container_cold(runs: int) -> dict[str, Any]:
    """Cold ``tlsback`` against ``ssl.create_default_context()``, both in fresh containers.

    Needs ``unshare --mount`` (root, or a user namespace); without it the figure is not taken
    and the reason is returned.
    """
    env = S.base_env()
    env.pop("UV_NO_CONFIG")
    for name in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "TLSBACK_CACHE_DIR"):
        env.pop(name, None)
    cwd_home = tempfile.mkdtemp(prefix="tlsback-bench-home-")
    try:
        try:
            _container("print(0)", env, cwd_home)
        except (OSError, subprocess.CalledProcessError) as exc:
            return {"skipped": f"no private mount namespace here ({exc})"}
        tb, cdc = [], []
        for _ in range(runs):
            home = tempfile.mkdtemp(prefix="tlsback-bench-home-")
            tb.append(_container(_CONTAINER_COLD, env, home))
            shutil.rmtree(home, ignore_errors=True)
            cdc.append(_container(_CDC, env, cwd_home))
    finally:
        shutil.rmtree(cwd_home, ignore_errors=True)
    return {"cold_s": statistics.median(tb), "create_default_context_s": statistics.median(cdc), "samples": runs}


def measure_tree(n: int, runs: int, pki: S.PKIFiles, url: str) -> dict[str, Any]:
    """tlsback warm and cold over the tree (and the PKI root) against the root alone, and uv
    with the tree against uv without it, interleaved run by run; wall and CPU time each.

    The added cost of a tree is the run with it minus the run without it, for both."""
    from tlsback import bench

    tree = bench.ensure_tree(n)
    with_tree = S.cert_dirs(tree.path, pki.root_dir)
    env_tree = _warm_cache_env({"SSL_CERT_DIR": with_tree}, f"warm-cache-{n}")
    env_root = _warm_cache_env({"SSL_CERT_DIR": str(pki.root_dir)}, "warm-cache-root")
    uv_env = S.base_env({"UV_NO_CACHE": "1"})
    work = WORK / "uv-work"
    work.mkdir(parents=True, exist_ok=True)
    runs_of: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("warm", "warm_root", "cold", "cold_root", "uv", "uv_root")}
    for _ in range(runs):
        runs_of["warm"].append(_ctx_times(env_tree, "hit", cold=False))
        runs_of["warm_root"].append(_ctx_times(env_root, "hit", cold=False))
        runs_of["cold"].append(_ctx_times(env_tree, "built", cold=True))
        runs_of["cold_root"].append(_ctx_times(env_root, "built", cold=True))
        runs_of["uv"].append(S.uv_compile_times(url, {**uv_env, "SSL_CERT_DIR": with_tree}, work))
        runs_of["uv_root"].append(S.uv_compile_times(url, {**uv_env, "SSL_CERT_DIR": str(pki.root_dir)}, work))
    med = statistics.median
    out: dict[str, Any] = {"n": n, "tree": tree.path, "runs": runs}
    for k, samples in runs_of.items():
        out[f"{k}_s"] = med(w for w, _ in samples)
        out[f"{k}_cpu_s"] = med(c for _, c in samples)
    for unit in ("s", "cpu_s"):
        out[f"warm_added_{unit}"] = out[f"warm_{unit}"] - out[f"warm_root_{unit}"]
        out[f"cold_added_{unit}"] = out[f"cold_{unit}"] - out[f"cold_root_{unit}"]
        out[f"uv_added_{unit}"] = out[f"uv_{unit}"] - out[f"uv_root_{unit}"]
    out["cold_root_only_s"] = out["cold_root_s"]  # the name earlier reports used
    out["uv_tree_s"], out["uv_root_only_s"] = out["uv_s"], out["uv_root_s"]
    return out


def _timed_handshake(ctx: ssl.SSLContext, port: int) -> float:
    import socket

    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version()
    return time.perf_counter() - t0


def _first_handshake(ctx_factory: Callable[[], ssl.SSLContext], port: int, runs: int) -> S.Stats:
    """The first handshake of fresh contexts. Each context, its socket and the garbage of
    building it are freed before the next clock starts: freeing an eager context's store (~1 ms
    for 150 certificates) inside the next sample's handshake billed it to whichever store came
    next in the interleaved loop."""
    import gc

    samples = []
    for _ in range(runs):
        ctx = ctx_factory()
        gc.collect()
        samples.append(_timed_handshake(ctx, port))
        del ctx
        gc.collect()
    return S.Stats(samples)


def measure_first_handshake(runs: int, pki: S.PKIFiles, port: int, tree_path: str | None) -> dict[str, Any]:
    """First handshake on fresh contexts: lazy (warm entry) vs eager, system store + PKI root;
    and lazy over the big tree (lookups do not grow with the store)."""
    import tlsback

    logging.disable(logging.WARNING)
    cache_dir = tempfile.mkdtemp(dir="/dev/shm", prefix="tlsback-bench-hs-")
    base = {"UV_NO_CONFIG": "1", "SSL_CERT_DIR": str(pki.root_dir), "TLSBACK_CACHE_DIR": cache_dir + "/c"}
    try:
        def make(env: dict[str, str]) -> Callable[[], ssl.SSLContext]:
            def context() -> ssl.SSLContext:
                cfg = tlsback.load(env=env)
                ctx = cfg.context
                # Outside the clock: a lazy sample is a warm entry's, an eager one no entry's.
                state = cfg.store.cache["state"]
                lazy_hit = state == "hit" and cfg.store.lazy_dir is not None
                assert lazy_hit if env["TLSBACK_STORE"] == "lazy" else state == "eager", cfg.store.cache
                return ctx
            return context

        lazy_env = {**base, "TLSBACK_STORE": "lazy"}
        tlsback.load(env=lazy_env).context  # noqa: B018 - build the entry
        lazy, eager = make(lazy_env), make({**base, "TLSBACK_STORE": "eager"})
        out: dict[str, Any] = {}
        a, b = [], []
        for _ in range(runs):
            a += _first_handshake(lazy, port, 1).samples
            b += _first_handshake(eager, port, 1).samples
        out["lazy_s"], out["eager_s"] = statistics.median(a), statistics.median(b)
        if tree_path:
            big = {**base, "SSL_CERT_DIR": S.cert_dirs(tree_path, pki.root_dir), "TLSBACK_STORE": "lazy"}
            tlsback.load(env=big).context  # noqa: B018 - build the entry
            out["lazy_big_tree_s"] = _first_handshake(make(big), port, runs).median
        return out
    finally:
        logging.disable(logging.NOTSET)
        shutil.rmtree(cache_dir, ignore_errors=True)


def measure_threshold(runs: int, pki: S.PKIFiles, port: int, sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
                      ) -> dict[str, Any]:
    """Eager (read + scan + cadata) vs lazy (warm entry; and built privately, no cache), each
    plus its first handshake, by store size ("only" mode: the store is exactly N certificates)."""
    import tlsback
    from tlsback.bench import make_cert

    logging.disable(logging.WARNING)
    rows = []
    base_dir = Path(tempfile.mkdtemp(prefix="tlsback-bench-thr-"))
    try:
        for n in sizes:
            d = base_dir / f"n{n}"
            d.mkdir()
            shutil.copy(pki.root_pem, d / "root.pem")
            for i in range(n - 1):
                (d / f"c{i}.pem").write_text(ssl.DER_cert_to_PEM_cert(make_cert(900000 + i)))
            cache_dir = tempfile.mkdtemp(dir="/dev/shm", prefix="tlsback-bench-thr-")
            env = {"UV_NO_CONFIG": "1", "SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only",
                   "TLSBACK_CACHE_DIR": cache_dir + "/c"}

            def run(extra: dict[str, str], env: dict[str, str] = env) -> float:
                t0 = time.perf_counter()
                ctx = tlsback.load(env={**env, **extra}).context
                import socket

                with socket.create_connection(("127.0.0.1", port)) as raw, \
                        ctx.wrap_socket(raw, server_hostname="localhost"):
                    pass
                return time.perf_counter() - t0

            run({"TLSBACK_STORE": "lazy"})
            res = S.interleaved({
                "eager": lambda: run({"TLSBACK_STORE": "eager"}),
                "lazy_warm": lambda: run({"TLSBACK_STORE": "lazy"}),
                "lazy_nocache": lambda: run({"TLSBACK_STORE": "lazy", "TLSBACK_NO_CACHE": "1"}),
            }, runs)
            rows.append({"n": n, **{k + "_s": v.median for k, v in res.items()}})
            shutil.rmtree(cache_dir, ignore_errors=True)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
        logging.disable(logging.NOTSET)
    cached = max([r["n"] for r in rows if r["eager_s"] <= r["lazy_warm_s"]], default=0)
    uncached = max([r["n"] for r in rows if r["eager_s"] <= r["lazy_nocache_s"]], default=0)
    return {"rows": rows, "eager_max_cached": cached, "eager_max_uncached": uncached}


# --- the report ----------------------------------------------------------------------------


def _ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.1f} s"


def _system_lines(imp: dict[str, Any], sysd: dict[str, Any]) -> list[str]:
    cdc, ts, warm, cold = (sysd["create_default_context_s"], sysd["truststore_s"], sysd["warm_s"],
                           sysd["cold_s"])
    return [
        (f"import tlsback after import ssl: {_ms(imp['import_tlsback_after_ssl_s'])} "
         f"(import ssl alone {_ms(imp['import_ssl_s'])})  target < 3 ms"),
        (f"system store, `import tlsback; tlsback.create_default_context()` after `import ssl` "
         f"(median of {sysd['samples']} fresh processes each):"),
        (f"  warm {_ms(warm)}: {cdc / warm:.1f}x faster than ssl.create_default_context() ({_ms(cdc)}), "
         f"{ts / warm:.1f}x faster than truststore ({_ms(ts)})  target >= 10x"),
        (f"  cold {_ms(cold)}: {cdc / cold:.2f}x ssl.create_default_context()'s speed, "
         f"{ts / cold:.2f}x truststore's"),
        (f"  floor: a process's first empty SSLContext {_ms(sysd['first_context_s'])}; with one stat "
         f"per platform-store name {_ms(sysd['store_floor_s'])} (the best ratio a store keyed by the "
         f"files on disk can reach here: {cdc / sysd['store_floor_s']:.1f}x)"),
        (f"  the least work a warm start keyed by the files on disk can do, as one module with none of "
         f"tlsback's checks (benchmarks/warm_sketch.py): {_ms(sysd['sketch_s'])} "
         f"({cdc / sysd['sketch_s']:.1f}x faster than ssl.create_default_context())"),
        (f"  of tlsback's warm {_ms(warm)}, importing the {sysd['warm_modules']} modules it loads takes "
         f"{_ms(sysd['warm_imports_s'])} (its own and the extension modules they need)"),
        *([f"  warm with {sysd['compare_src']}: {_ms(sysd['warm_compare_s'])} "
           f"({cdc / sysd['warm_compare_s']:.1f}x faster than ssl.create_default_context())"]
          if "warm_compare_s" in sysd else []),
    ]


def _container_line(c: dict[str, Any]) -> str:
    if "skipped" in c:
        return f"  first run in a fresh container: not measured, {c['skipped']}"
    return (f"  first run in a fresh container (no XDG_RUNTIME_DIR, empty home and /dev/shm): "
            f"{_ms(c['cold_s'])}, ssl.create_default_context() {_ms(c['create_default_context_s'])} "
            f"({c['create_default_context_s'] / c['cold_s']:.2f}x)")


def system_store_report(args: argparse.Namespace) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"runs": args.runs, "import": measure_import(args.runs),
                           "system_store": measure_system_store(args.runs, args.compare_src),
                           "container": measure_container_cold(args.runs)}
    out["summary"] = [*_system_lines(out["import"], out["system_store"]), _container_line(out["container"])]
    return out


def _tree_lines(t: dict[str, Any]) -> list[str]:
    """The tree figures against the cache issue's targets: wall time, CPU time in brackets."""
    def both(key: str) -> str:
        return f"{_ms(t[key + '_s'])} (cpu {_ms(t[key + '_cpu_s'])})"

    n = t["n"]
    lines = [
        f"{n} tree (medians of {t['runs']}, interleaved; wall, cpu in brackets):",
        f"  cold adds {both('cold_added')}; uv adds {both('uv_added')}: "
        f"{t['cold_added_s'] / t['uv_added_s']:.2f}x uv (cpu {t['cold_added_cpu_s'] / t['uv_added_cpu_s']:.2f}x)"
        f"  target <= 1.5x" + ("; and < 1 s" if n >= 50_000 else ""),
        f"  warm adds {both('warm_added')}: {t['uv_added_s'] / t['warm_added_s']:.1f}x faster than uv's added "
        f"cost (cpu {t['uv_added_cpu_s'] / t['warm_added_cpu_s']:.1f}x)" + ("  target >= 3x" if n >= 50_000 else ""),
        f"  (tlsback cold {both('cold')}, root only {both('cold_root')}; warm {both('warm')}, root only "
        f"{both('warm_root')}; uv {both('uv')}, root only {both('uv_root')})",
    ]
    if "stdlib_eager_s" in t:
        lines.append(
            f"  stdlib eager load {_ms(t['stdlib_eager_s'])} (cpu {_ms(t['stdlib_eager_cpu_s'])}, "
            f"n={t['stdlib_eager_samples']}): warm is {t['stdlib_eager_s'] / t['warm_added_s']:.0f}x faster "
            f"(cpu {t['stdlib_eager_cpu_s'] / t['warm_added_cpu_s']:.0f}x)" + ("  target >= 300x" if n == 10_000 else ""))
    return lines


def report(args: argparse.Namespace) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    pki = S.pki_files(WORK / "pki")
    out: dict[str, Any] = {"runs": args.runs}
    if not args.trees_only:
        out["import"] = measure_import(args.runs)
        out["system_store"] = measure_system_store(args.runs, args.compare_src)
        out["container"] = measure_container_cold(args.runs)
    eager = {}
    if args.eager_file and os.path.exists(args.eager_file):
        with open(args.eager_file, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.startswith("{")]
        for row in rows:
            eager.setdefault(row["n"], []).append(row["eager_s"])
    from tlsback import bench

    with S.serve(pki) as url:
        port = int(url.rsplit(":", 1)[1])
        out["trees"] = [measure_tree(n, args.runs, pki, url) for n in args.sizes]
        if args.threshold:
            out["threshold"] = measure_threshold(args.runs, pki, port)
    if not args.trees_only:
        biggest = bench.ensure_tree(max(args.sizes)).path if args.sizes else None
        with S.serve_process(pki) as port:
            out["first_handshake"] = measure_first_handshake(max(args.runs, 15), pki, port, biggest)
    for t in out["trees"]:
        if args.eager_runs and t["n"] <= args.eager_max:
            t.update(measure_stdlib_eager(t["n"], args.eager_runs, pki))
        elif t["n"] in eager:
            t["stdlib_eager_s"] = t["stdlib_eager_cpu_s"] = statistics.median(eager[t["n"]])
            t["stdlib_eager_samples"] = len(eager[t["n"]])

    lines = [] if args.trees_only else [*_system_lines(out["import"], out["system_store"]),
                                        _container_line(out["container"])]
    for t in out["trees"]:
        lines += _tree_lines(t)
    if "first_handshake" in out:
        fh = out["first_handshake"]
        lines.append(f"first handshake: lazy {_ms(fh['lazy_s'])}, eager {_ms(fh['eager_s'])}: "
                     f"{(fh['lazy_s'] - fh['eager_s']) * 1000:+.2f} ms  target <= +0.5 ms"
                     + (f"; lazy over the biggest tree {_ms(fh['lazy_big_tree_s'])}" if "lazy_big_tree_s" in fh else ""))
    if "threshold" in out:
        th = out["threshold"]
        for r in th["rows"]:
            lines.append(f"  n={r['n']:>3}: eager {_ms(r['eager_s'])}, lazy warm {_ms(r['lazy_warm_s'])}, "
                         f"lazy no-cache {_ms(r['lazy_nocache_s'])}")
        lines.append(f"eager threshold: cached {th['eager_max_cached']}, uncached {th['eager_max_uncached']}")
    out["summary"] = lines
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x], default=[10_000, 50_000])
    p.add_argument("--eager-file", help="JSON lines of stdlib eager loads (n, eager_s), measured separately")
    p.add_argument("--eager-runs", type=int, default=3,
                   help="stdlib eager loads per tree, measured in this run (0: none; see --eager-max)")
    p.add_argument("--eager-max", type=int, default=10_000,
                   help="the largest tree loaded eagerly in this run (50,000 takes minutes per load)")
    p.add_argument("--trees-only", action="store_true",
                   help="only the tree figures (no import, system-store or first-handshake figures)")
    p.add_argument("--threshold", action="store_true", help="also measure the eager threshold")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--compare-src", help="another tlsback src/ tree whose warm system-store figure is "
                   "measured in the same loop (before/after)")
    p.add_argument("--system-store-only", action="store_true",
                   help="only the import and system-store figures (no trees, server or uv)")
    args = p.parse_args(argv)
    out = system_store_report(args) if args.system_store_only else report(args)
    print("\n".join(out["summary"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


# --- pytest-benchmark ----------------------------------------------------------------------
# In process: imports are paid once; what remains is the steady cost of each path.

try:
    import pytest
except ImportError:  # pragma: no cover - the report needs no pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="module")
    def pki_server() -> Any:
        pki = S.pki_files(WORK / "pki")
        with S.serve_process(pki) as port:
            yield pki, port

    @pytest.fixture
    def clean_env(tmp_path: Path) -> dict[str, str]:
        d = tmp_path / "cache"
        return {"UV_NO_CONFIG": "1", "TLSBACK_CACHE_DIR": str(d)}

    def test_system_store_warm_context(benchmark: Any, clean_env: dict[str, str]) -> None:
        import tlsback

        assert tlsback.load(env=clean_env).store.cache["state"] == "built"

        def warm() -> Any:
            cfg = tlsback.load(env=clean_env)
            cfg.context  # noqa: B018
            return cfg

        cfg = benchmark(warm)
        assert cfg.store.cache["state"] == "hit" and cfg.store.count > 50

    def test_system_store_create_default_context(benchmark: Any) -> None:
        ctx = benchmark(ssl.create_default_context)
        assert ctx.cert_store_stats()["x509"] > 50

    def test_system_store_truststore(benchmark: Any) -> None:
        truststore = pytest.importorskip("truststore")

        def make() -> ssl.SSLContext:
            ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_default_certs()
            return ctx

        ctx = benchmark(make)
        assert ctx.verify_mode == ssl.CERT_REQUIRED

    def test_system_store_cold_context(benchmark: Any, tmp_path: Path) -> None:
        import itertools

        import tlsback

        counter = itertools.count()

        def cold() -> Any:
            cfg = tlsback.load(env={"UV_NO_CONFIG": "1", "TLSBACK_CACHE_DIR": str(tmp_path / str(next(counter)))})
            cfg.context  # noqa: B018
            return cfg

        cfg = benchmark(cold)
        assert cfg.store.cache["state"] == "built"

    @pytest.mark.parametrize("store", ["lazy", "eager"])
    def test_first_handshake(benchmark: Any, store: str, pki_server: Any, clean_env: dict[str, str]) -> None:
        import socket

        import tlsback

        pki, port = pki_server
        env = {**clean_env, "SSL_CERT_DIR": str(pki.root_dir), "TLSBACK_STORE": store}
        tlsback.load(env=env).context  # noqa: B018 - the entry exists: warm

        def setup() -> tuple[tuple[ssl.SSLContext], dict[str, Any]]:
            return (tlsback.load(env=env).context,), {}

        def first(ctx: ssl.SSLContext) -> str | None:
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version()

        assert benchmark.pedantic(first, setup=setup, rounds=20) in ("TLSv1.3", "TLSv1.2")

    @pytest.mark.parametrize("n", S.sizes_from_env([10_000]), ids=lambda n: f"{n // 1000}k")
    @pytest.mark.parametrize("state", ["warm", "cold"])
    def test_tree_context(benchmark: Any, n: int, state: str, pki_server: Any, tmp_path: Path) -> None:
        import itertools

        import tlsback
        from tlsback import bench

        pki, _ = pki_server
        tree = bench.ensure_tree(n)
        logging.disable(logging.WARNING)
        counter = itertools.count()
        env = {"UV_NO_CONFIG": "1", "SSL_CERT_DIR": S.cert_dirs(tree.path, pki.root_dir),
               "TLSBACK_CUSTOM_CERTS": "only"}

        def load() -> Any:
            d = tmp_path / ("warm" if state == "warm" else str(next(counter)))
            cfg = tlsback.load(env={**env, "TLSBACK_CACHE_DIR": str(d)})
            cfg.context  # noqa: B018
            return cfg

        if state == "warm":
            load()
        cfg = benchmark.pedantic(load, rounds=5)
        logging.disable(logging.NOTSET)
        assert cfg.store.count == tree.certs + 1
        assert cfg.store.cache["state"] == ("hit" if state == "warm" else "built")


if __name__ == "__main__":
    sys.exit(main())
