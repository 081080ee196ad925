"""What ``inject_into_ssl()`` and ``tlsback run`` cost (docs/inject.md, docs/run.md).

Measured, medians over rounds, in one run with the reference beside each figure:

* ``create_default_context()``: the standard library's (OpenSSL default paths: the system
  bundle parsed into each context) against the injected one (lazy store: a ``capath``
  registration; eager store: the whole store loaded into each context).
* a urllib GET to a local HTTPS server (new connection and context per request, as urllib does):
  stdlib trusting the test CA by ``cafile`` against injected.
* child interpreter start: ``python -c pass`` and ``python -c 'import ssl;
  ssl.create_default_context()'`` started by a program, against the same under ``tlsback run``
  (its sitecustomize: settings at start, the injection at the first ``import ssl``).

Each measurement checks its result (docs/development.md, "Benchmarks"): the injected contexts
verify the test server, the stdlib's default one refuses it.

Run:
    PYTHONPATH=src python benchmarks/bench_inject.py [--rounds 200] [--starts 15]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for p in (str(REPO), str(REPO / "src")):
    if p not in sys.path:
        sys.path.insert(0, p)

from tests.pki import PKI
from tests.tlsserver import HTTPSServer

for _name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_name, None)


def median_us(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


# Run once in each setting: whether ssl was imported at start, and whose default context it gives.
_PROBE = "import sys; early = 'ssl' in sys.modules; import ssl; print(early, ssl.create_default_context.__module__)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--starts", type=int, default=15)
    opts = ap.parse_args()

    import tlsback

    pki = PKI.create()
    work = Path(tempfile.mkdtemp(prefix="tlsback-bench-inject-"))
    corp = work / "corp"
    corp.mkdir()
    pki.root.write_pem(corp / "corp.pem")
    ca_file = pki.root.write_pem(work / "ca.pem")
    os.environ["SSL_CERT_DIR"] = str(corp)
    os.environ["TLSBACK_CACHE_DIR"] = str(work / "cache")
    srv = HTTPSServer(pki).start()
    url = srv.url + "/"

    def get(ctx: ssl.SSLContext | None = None) -> bytes:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
            return r.read()  # type: ignore[no-any-return]

    try:
        get()
        raise SystemExit("the stdlib trusted the test server: nothing to compare")
    except urllib.error.URLError:
        pass
    stdlib_ctx = median_us(ssl.create_default_context, opts.rounds)
    stdlib_get = median_us(lambda: get(ssl.create_default_context(cafile=str(ca_file))), opts.rounds // 4)

    rows = [("create_default_context, stdlib (system bundle)", stdlib_ctx, stdlib_ctx),
            ("urllib GET, stdlib with cafile", stdlib_get, stdlib_get)]
    for store in ("lazy", "eager"):
        os.environ["TLSBACK_STORE"] = store
        tlsback.inject_into_ssl(tlsback.load())
        assert get().startswith(b"hello"), "the injected default context must verify the server"
        t = median_us(ssl.create_default_context, opts.rounds)
        rows.append((f"create_default_context, injected ({store} store)", t, stdlib_ctx))
        g = median_us(get, opts.rounds // 4)
        rows.append((f"urllib GET, injected ({store} store)", g, stdlib_get))
        tlsback.extract_from_ssl()
    os.environ.pop("TLSBACK_STORE")

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(REPO / "src")

    check = subprocess.run([sys.executable, "-m", "tlsback", "run", "--", sys.executable, "-c",
                            f"import urllib.request; urllib.request.urlopen({url!r}, timeout=10)"], env=env, check=False)
    assert check.returncode == 0, "the program under run must verify the server"
    # Child interpreters started by a program, with and without `run`'s sitecustomize (the
    # program under run starts them, so they inherit it): one that never imports ssl, and one
    # that makes a default context (which, under run, is where the injection happens).
    children = {"python -c pass": "pass",
                "python -c 'import ssl; ssl.create_default_context()'":
                    "import ssl; ssl.create_default_context()"}
    timer = (f"import json, statistics, subprocess, sys, time\n"
             f"out = {{}}\n"
             f"for name, code in {children!r}.items():\n"
             f"    ts = []\n"
             f"    for _ in range({opts.starts}):\n"
             f"        t0 = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True)\n"
             f"        ts.append(time.perf_counter() - t0)\n"
             f"    out[name] = statistics.median(ts) * 1e6\n"
             f"probe = subprocess.run([sys.executable, '-c', {_PROBE!r}], check=True, capture_output=True, text=True)\n"
             f"print(json.dumps(out))\n"
             f"print(probe.stdout.strip())")
    def starts(cmd: list[str], injected: bool) -> dict[str, float]:
        done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        *_, timings, probe = done.stdout.splitlines()
        # The children timed were the ones meant: under run, no ssl at start, injected at import.
        assert probe == f"False {'tlsback.inject' if injected else 'ssl'}", probe
        result: dict[str, float] = json.loads(timings)
        return result

    subprocess.run([sys.executable, "-m", "tlsback", "run", "--", sys.executable, "-c", "pass"], env=env, check=True)
    plain = starts([sys.executable, "-c", timer], injected=False)
    under = starts([sys.executable, "-m", "tlsback", "run", "--", sys.executable, "-c", timer], injected=True)
    for name in children:
        rows += [(f"{name} (child start)", plain[name], plain[name]),
                 (f"{name} (child start under tlsback run)", under[name], plain[name])]
    srv.stop()

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'median':>12}  ratio to reference")
    for name, value, ref in rows:
        unit = f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.1f} us"
        print(f"{name:<{width}}  {unit:>12}  {value / ref:.2f}")


if __name__ == "__main__":
    main()
