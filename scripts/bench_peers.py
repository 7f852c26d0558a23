#!/usr/bin/env python3
"""Benchmark one Lindblad master equation in QuTiP, dynamiqs and qbsim on this machine.

Model (hbar=1, rotating frame), modes a (charger) ⊗ b (battery) ⊗ c (mediator):
  H = da a†a + db b†b + dc c†c + E (a + a†)
  jumps: √κa a, √κb b, √κc c, √Γ (p_a a + p_ca c), √Γ (p_b b + p_cb c)   (T = 0)
Parameters are fixed to the acceptance setting (PARAMS below): vacuum start,
t = linspace(0, 20, 201), rtol 1e-8, atol 1e-10; observable n_b(t) = <b†b>(t).

Correctness: the dynamics is linear, so from vacuum the state stays coherent and
n_b = |<b>|² with x = (<a>,<b>,<c>) = M⁻¹(I − e^{−Mt}) f (scipy expm). The table
reports max|Δn_b| of each tool vs this exact result and pairwise between tools.

What is timed (wall clock, best of --repeat):
  QuTiP     the qutip.mesolve call only (builds the Liouvillian, Adams/zvode solve);
            operators are built outside the clock.
  dynamiqs  dq.mesolve with Tsit5, float64, default (dia) layout, results blocked on.
            First call = JIT compile + run; "JIT excl." = a second identical call;
            "JIT s" = first − second.
  qbsim     the subprocess `qbsim run CFG -o OUT.h5 --quiet` (process start + HDF5
            write included); peak RSS from /usr/bin/time -v (else getrusage).

Threads: by default nothing is restricted, so every tool may use both cores.
--threads N sets OMP/OPENBLAS/MKL/NUMEXPR thread counts and XLA_FLAGS for the peers
and passes --threads N to qbsim.

Usage:
  python3 scripts/bench_peers.py                      # all tools, default sizes
  python3 scripts/bench_peers.py --sizes 6,6,4 8,8,4 --skip qbsim
  python3 scripts/bench_peers.py --threads 1 --repeat 3 --json bench.json
If qutip/dynamiqs/jax/numpy/scipy/h5py are missing, the script creates <repo>/.venv,
pip-installs `qutip dynamiqs h5py scipy` there and re-executes itself with it.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")
NEEDED = ["numpy", "scipy", "h5py", "jax", "qutip", "dynamiqs"]
PARAMS = dict(kappa=(0.1, 0.1, 2.0), gamma=1.0, p_a=1.0, p_b=1.0, p_ca=1.0, p_cb=1.0,
              delta=(0.3, 0.3, 0.3), drive=0.15, t_end=20.0, n_save=201, rtol=1e-8, atol=1e-10)
DEFAULT_SIZES = ["6,6,4", "8,8,4", "10,10,4", "12,12,6"]
TOOLS = ["qutip", "dynamiqs", "qbsim"]
DEFAULT_QBSIM = os.path.join(REPO, "target", "release", "qbsim")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="cutoffs Na,Nb,Nc (several)")
    ap.add_argument("--skip", default="", help="comma list of tools to skip: qutip,dynamiqs,qbsim")
    ap.add_argument("--repeat", type=int, default=1, help="best of N timed runs per tool (default 1)")
    ap.add_argument("--qbsim", default=DEFAULT_QBSIM, help="qbsim binary (default target/release/qbsim)")
    ap.add_argument("--threads", type=int, default=None, help="limit every tool to N threads")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    args.sizes = [tuple(int(x) for x in s.split(",")) for s in args.sizes]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    bad = args.skip - set(TOOLS)
    if bad or any(len(s) != 3 for s in args.sizes):
        ap.error(f"bad --skip {bad} or --sizes (need Na,Nb,Nc)" if bad else "each size needs 3 cutoffs")
    return args


def limit_threads(n):
    """Must run before numpy/jax are imported (also inherited by a re-exec)."""
    for var in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"]:
        os.environ[var] = str(n)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={n}").strip()


def ensure_deps():
    """Re-exec inside <repo>/.venv (creating it and installing packages if needed)."""
    if all(importlib.util.find_spec(m) for m in NEEDED):
        return
    py = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV):
        pass  # already in the venv but something is missing: install below
    elif os.path.exists(py) and subprocess.run([py, "-c", "import " + ",".join(NEEDED)],
                                               capture_output=True).returncode == 0:
        os.execv(py, [py] + sys.argv)
    if not os.path.exists(py):
        print(f"creating venv {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    print("pip install qutip dynamiqs h5py scipy (into .venv)", file=sys.stderr)
    subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", "qutip", "dynamiqs", "h5py", "scipy"], check=True)
    os.execv(py, [py] + sys.argv)


def best_of(n, fn):
    """Run fn() n times; return (best wall time, last result)."""
    best, out = float("inf"), None
    for _ in range(max(1, n)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def exact_nb(tlist):
    import numpy as np
    from scipy.linalg import expm
    P = PARAMS
    (ka, kb, kc), G, (da, db, dc) = P["kappa"], P["gamma"], P["delta"]
    pa, pb, pca, pcb = P["p_a"], P["p_b"], P["p_ca"], P["p_cb"]
    M = np.zeros((3, 3), complex)
    M[0, 0] = 1j * da + (ka + G * abs(pa) ** 2) / 2
    M[1, 1] = 1j * db + (kb + G * abs(pb) ** 2) / 2
    M[2, 2] = 1j * dc + (kc + G * abs(pca) ** 2 + G * abs(pcb) ** 2) / 2
    M[0, 2] = G / 2 * np.conj(pa) * pca
    M[2, 0] = np.conj(M[0, 2])
    M[1, 2] = G / 2 * np.conj(pb) * pcb
    M[2, 1] = np.conj(M[1, 2])
    f = np.array([-1j * P["drive"], 0, 0])
    Minv_f = np.linalg.solve(M, f)
    x = np.array([Minv_f - expm(-M * t) @ Minv_f for t in tlist])  # M⁻¹(I − e^{−Mt})f
    return np.abs(x[:, 1]) ** 2


def jump_ops(a, b, c):
    P = PARAMS
    (ka, kb, kc), G = P["kappa"], P["gamma"]
    return [ka ** 0.5 * a, kb ** 0.5 * b, kc ** 0.5 * c,
            G ** 0.5 * (P["p_a"] * a + P["p_ca"] * c), G ** 0.5 * (P["p_b"] * b + P["p_cb"] * c)]


def hamiltonian(a, b, c):
    (da, db, dc), E = PARAMS["delta"], PARAMS["drive"]
    return da * a.dag() @ a + db * b.dag() @ b + dc * c.dag() @ c + E * (a + a.dag())


def run_qutip(size, tlist, repeat):
    import numpy as np
    import qutip as qt
    a, b, c = (qt.tensor(*[qt.destroy(n) if i == k else qt.qeye(n) for i, n in enumerate(size)])
               for k in range(3))
    H, L = hamiltonian(a, b, c), jump_ops(a, b, c)
    rho0 = qt.ket2dm(qt.tensor(*[qt.basis(n, 0) for n in size]))
    opts = {"method": "adams", "rtol": PARAMS["rtol"], "atol": PARAMS["atol"], "nsteps": 10 ** 8,
            "store_states": False, "progress_bar": ""}
    t, res = best_of(repeat, lambda: qt.mesolve(H, rho0, tlist, L, e_ops=[b.dag() * b], options=opts))
    return {"time_s": t, "n_b": np.real(np.asarray(res.expect[0]))}


def run_dynamiqs(size, tlist, repeat):
    import numpy as np
    import dynamiqs as dq
    a, b, c = dq.destroy(*size)
    H, L = hamiltonian(a, b, c), jump_ops(a, b, c)
    rho0 = dq.todm(dq.basis(list(size), [0, 0, 0]))
    method = dq.method.Tsit5(rtol=PARAMS["rtol"], atol=PARAMS["atol"], max_steps=10 ** 7)

    def solve():
        res = dq.mesolve(H, L, rho0, tlist, exp_ops=[b.dag() @ b], method=method, save_states=False)
        return np.asarray(res.expects[0].block_until_ready())

    t_first, _ = best_of(1, solve)  # JIT compile + run
    t, nb = best_of(repeat, solve)
    return {"time_s": t, "jit_s": max(t_first - t, 0.0), "first_call_s": t_first,
            "layout": str(a.layout), "n_b": np.real(nb)}


def qbsim_config(size, path):
    P = PARAMS
    fl = lambda v: "[" + ", ".join(repr(float(x)) for x in v) + "]"
    with open(path, "w") as fh:
        fh.write(f"""[model]
cutoffs = [{", ".join(map(str, size))}]
delta = {fl(P["delta"])}
drive = {P["drive"]!r}
kappa = {fl(P["kappa"])}
gamma = {P["gamma"]!r}
p_a = {P["p_a"]!r}
p_b = {P["p_b"]!r}
p_ca = {P["p_ca"]!r}
p_cb = {P["p_cb"]!r}
[time]
t_end = {P["t_end"]!r}
n_save = {P["n_save"]}
[solver]
engines = ["master"]
method = "dopri5"
rtol = {P["rtol"]!r}
atol = {P["atol"]!r}
[output]
save_state = "none"
""")


def run_qbsim(size, tlist, repeat, binary, threads):
    import h5py
    import numpy as np
    tmp = tempfile.mkdtemp(prefix="bench_qbsim_")
    try:
        cfg, out, mem = (os.path.join(tmp, n) for n in ("bench.toml", "out.h5", "time.txt"))
        qbsim_config(size, cfg)
        cmd = [binary] + (["--threads", str(threads)] if threads else []) + ["run", cfg, "-o", out, "--quiet"]
        gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
        if gnu_time:
            cmd = [gnu_time, "-v", "-o", mem] + cmd
        best, peak_kb = float("inf"), 0
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                msg = (p.stderr.strip().splitlines() or [f"exit code {p.returncode}"])[0]
                return {"error": msg}
            best = min(best, dt)
            if gnu_time:
                for line in open(mem):
                    if "Maximum resident set size" in line:
                        peak_kb = max(peak_kb, int(line.split(":")[1]))
            else:  # max over all children so far (Linux: kB)
                peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        with h5py.File(out, "r") as h:
            t, nb = h["/master/t"][()], h["/master/n_b"][()]
        nb = np.real(nb)
        if len(t) != len(tlist) or not np.allclose(t, tlist):
            nb = np.interp(tlist, t, nb)
        return {"time_s": best, "peak_mb": peak_kb / 1024, "n_b": nb}
    except Exception as e:  # missing dataset, unreadable file, ...
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def machine_info():
    import dynamiqs
    import jax
    import qutip
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "qutip": qutip.__version__, "dynamiqs": dynamiqs.__version__, "jax": jax.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def main():
    args = parse_args()
    if args.threads:
        limit_threads(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    ensure_deps()
    import jax
    jax.config.update("jax_enable_x64", True)  # before any jax array exists
    import dynamiqs as dq
    import numpy as np
    if hasattr(dq, "set_precision"):
        dq.set_precision("double")
    if hasattr(dq, "set_progress_meter"):
        dq.set_progress_meter(False)

    tools = [t for t in TOOLS if t not in args.skip]
    if "qbsim" in tools and not os.path.exists(args.qbsim) and args.qbsim == DEFAULT_QBSIM:
        print("building qbsim: cargo build --release", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release"], cwd=REPO)
    tlist = np.linspace(0.0, PARAMS["t_end"], PARAMS["n_save"])
    ref = exact_nb(tlist)
    info = machine_info()
    info["threads"] = args.threads or f"unrestricted ({os.cpu_count()} cores)"
    print(f"# {info['date']}  CPU: {info['cpu']}  cores: {info['cores']}  threads: {info['threads']}")
    print(f"# python {info['python']}  qutip {info['qutip']}  dynamiqs {info['dynamiqs']}  jax {info['jax']}"
          f"  repeat: best of {args.repeat}  rtol {PARAMS['rtol']:g} atol {PARAMS['atol']:g}")

    results = []
    for size in args.sizes:
        row = {"size": list(size), "d": int(np.prod(size))}
        for tool in tools:
            print(f"  running {tool} {size} ...", file=sys.stderr, flush=True)
            try:
                if tool == "qutip":
                    r = run_qutip(size, tlist, args.repeat)
                elif tool == "dynamiqs":
                    r = run_dynamiqs(size, tlist, args.repeat)
                else:
                    r = run_qbsim(size, tlist, args.repeat, args.qbsim, args.threads)
            except Exception as e:
                r = {"error": f"{type(e).__name__}: {e}"}
            if "n_b" in r:
                r["err_exact"] = float(np.max(np.abs(r["n_b"] - ref)))
            row[tool] = r
        ok = [t for t in tools if "n_b" in row[t]]
        row["pairwise"] = {f"{x}-{y}": float(np.max(np.abs(row[x]["n_b"] - row[y]["n_b"])))
                           for i, x in enumerate(ok) for y in ok[i + 1:]}
        results.append(row)
        print_row(row, tools, header=len(results) == 1)

    if args.json:
        for row in results:
            for t in tools:
                row[t].pop("n_b", None)
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "params": PARAMS, "results": results}, fh, indent=2)
        print(f"# wrote {args.json}")


def print_row(row, tools, header):
    """One table line per size, printed as soon as the size is done."""
    g = lambda tool, key, fmt: (f"{row[tool][key]:{fmt}}" if tool in row and key in row[tool] else "-")
    ratio = lambda peer: (f"{row[peer]['time_s'] / row['qbsim']['time_s']:.2f}"
                          if "time_s" in row.get(peer, {}) and "time_s" in row.get("qbsim", {}) else "-")
    cols = [("size", 10), ("d", 5), ("QuTiP s", 9), ("dynamiqs s", 10), ("dyn JIT s", 9), ("qbsim s", 8),
            ("qbsim MB", 8), ("QuTiP/qb", 8), ("dyn/qb", 7), ("err QuTiP", 9), ("err dyn", 9),
            ("err qbsim", 9), ("pairwise max|Δn_b|", 0)]
    if header:
        print("  ".join(f"{n:>{w}}" for n, w in cols))
    pair = " ".join(f"{k}={v:.1e}" for k, v in row["pairwise"].items()) or "-"
    vals = ["(%d,%d,%d)" % tuple(row["size"]), str(row["d"]), g("qutip", "time_s", ".3f"),
            g("dynamiqs", "time_s", ".3f"), g("dynamiqs", "jit_s", ".2f"), g("qbsim", "time_s", ".3f"),
            g("qbsim", "peak_mb", ".1f"), ratio("qutip"), ratio("dynamiqs"), g("qutip", "err_exact", ".1e"),
            g("dynamiqs", "err_exact", ".1e"), g("qbsim", "err_exact", ".1e"), pair]
    print("  ".join(f"{v:>{w}}" for v, (_, w) in zip(vals, cols)), flush=True)
    for t in tools:
        if "error" in row.get(t, {}):
            print(f"    {t}: failed: {row[t]['error']}", flush=True)


if __name__ == "__main__":
    main()
