#!/usr/bin/env python3
"""Benchmark the stiff master-equation regime (configs/master/stiff.toml) in qbsim, QuTiP and dynamiqs.

Model (hbar=1, rotating frame), modes a (charger) ⊗ b (battery) ⊗ c (mediator),
the conventions of scripts/bench_peers.py and scripts/compare_qutip_terms.py:
  H = E (a + a†)                       (all detunings 0, drive E = 0.1)
  jumps: √κa a, √κb b, √κc c, √Γ (a + c), √Γ (b + c)   (p's = 1, T = 0)
  κa = κb = 0.05, κc ∈ {50, 500, 5000}, Γ = √(2 κc)   (the adiabatic-elimination regime:
  a strongly damped mediator, so the Liouvillian's spectral radius grows ∝ κc)
Vacuum start, t = linspace(0, 20, 201), rtol 1e-8, atol 1e-10; cutoffs (8,8,4), (12,12,6).

Time evolution, per (cutoffs, κc), what is timed (wall clock, one run each):
  qbsim-krylov / qbsim-dopri5   the subprocess `qbsim --threads N run configs/master/stiff.toml
                 --set model.cutoffs=.. --set model.kappa=[0.05, 0.05, κc] --set model.gamma=Γ
                 --set solver.method=.. --set solver.engines=["master"] -o OUT.h5 -q`
                 ("time" = process wall, incl. start-up and HDF5 write); also the integrator's own
                 /master/@wall_time_s, @steps and @rhs_evals (applications of 𝓛) from OUT.h5.
  qutip-bdf / qutip-adams       the qutip.mesolve call only (Liouvillian build + zvode solve,
                 nsteps 1e7); operators are built outside the clock. Note: QuTiP 5 runs zvode
                 without a Jacobian (scipy mf = 20/10: functional iteration), so its "bdf" is
                 not a stiff solver here and its steps are stability-limited like "adams".
  dynamiqs       dq.mesolve with dq.method.Kvaerno5 (implicit), float64 (jax_enable_x64);
                 "time" = second identical call, "1st call" = JIT compile + run.
Correctness: max over the save times of |Δn_b| against the exact solution. The dynamics is
linear, so from vacuum the state stays coherent, n_b = |<b>|², with x = (<a>,<b>,<c>)
obeying dx/dt = −M x + f, i.e. x(t) = M⁻¹(I − e^{−Mt}) f (scipy expm), as in bench_peers.py.

Steady state, per (cutoffs, κc) (--skip steady drops the section):
  qbsim          `qbsim --threads N steady configs/master/stiff.toml <same --set> -o OUT.h5 -q`
                 (process wall; /steady/master/n_b, iterations, residual, @method).
  qutip-direct   qutip.steadystate(H, c_ops, method="direct")  (sparse LU, scipy spsolve)
  qutip-gmres    qutip.steadystate(H, c_ops, method="iterative-gmres", use_precond=True, ...)
                 QuTiP 5 has no preconditioner by default; use_precond=True builds scipy's
                 spilu incomplete LU (drop_tol 1e-4) as M. GMRES settings as qbsim's [steady]
                 defaults: rtol 1e-12, restart 40, at most 5000 inner iterations
                 (maxiter = 125 restart cycles); iterations counted by a callback. A solve
                 that does not converge raises in QuTiP and is reported with the error.
  Both QuTiP timings include building the Liouvillian from H and c_ops. Before every timed
  QuTiP call the worker does one untimed solve of a tiny 2-mode system with the same method
  (QuTiP's one-time costs in a fresh process).
  |Δn_b| is against the exact steady state n_b = |<b>_ss|², x_ss = M⁻¹ f.

Time limits: every tool at every point runs in its own process (the peers in a child
`python3 bench_stiff.py --worker ...`), killed after --timeout seconds (default 600) and
reported "> 600 s", not retried; at larger κc with the same cutoffs such a tool is then
"skipped (slower at smaller kappa_c)". A tool that ran out of memory at a smaller κc is
skipped likewise ("skipped (out of memory at smaller kappa_c)"): memory does not depend on κc.
The worker's timeout includes its Python start-up and imports (a few seconds).

Threads: qbsim always gets --threads N (N = --threads, default 2: the 2-core benchmark VM).
The peers are not restricted unless --threads is given; then OMP/OPENBLAS/MKL/NUMEXPR
thread counts and XLA_FLAGS are set for them, as in bench_peers.py.
Run on an otherwise idle machine: with other jobs on the cores, OpenBLAS's spinning threads
inside scipy's SuperLU (qutip-direct, the spilu of qutip-gmres) slowed it ~100× in testing
(d = 32: 8.5 s unrestricted against 0.08 s with OPENBLAS_NUM_THREADS=1, load average 6);
mesolve was not affected.

Usage (from anywhere; qbsim is target/release/qbsim, built if missing):
  python3 scripts/bench_stiff.py                        # full run: ~2 h (at most ~3 h), see below
  python3 scripts/bench_stiff.py --quick                # (8,8,4), κc 50, 500, timeout 120: ~12 min
  python3 scripts/bench_stiff.py --sizes 12,12,6 --kappas 50 --skip dynamiqs
  python3 scripts/bench_stiff.py --timeout 300 --skip qutip-adams,steady --json stiff.json
Tools (for --skip): qbsim-krylov, qbsim-dopri5, qutip-bdf, qutip-adams, dynamiqs, steady.
Output: markdown tables on stdout (rows printed as they finish; progress on stderr),
with machine (CPU, cores), versions and date; --json FILE writes every number.

Duration of the full run (2-core AMD EPYC VM; estimated from --quick, 12 min, and a
(12,12,6) κc = 50 run with --timeout 200, 18 min, both on a busy machine): about 2 h,
at most ~3 h. It is dominated by the 600 s limits: in testing QuTiP bdf, QuTiP adams (from
κc = 500), qbsim dopri5 at (12,12,6), and qutip-direct and qutip-gmres (sparse LU / spilu
of the d² × d² Liouvillian, already > 150 s at d = 256, single-threaded or not) all ran into
the limit, and each such tool is then skipped at larger κc. qbsim krylov (≤ 10 s) and
qbsim steady (≤ 2 s) are quick; qbsim dopri5 at (8,8,4) took ~7 and ~60 s at κc = 50, 500
on the busy machine (the README's 2.5/14.5/110 s for κc = 50/500/5000 were on an idle one;
its cost grows ∝ κc, so κc = 5000 may approach the limit on a busy machine). dynamiqs fails fast
(out of memory after ~30-60 s of JIT compilation, see below).

dynamiqs 0.3.7 note: its Kvaerno5 is diffrax's Kvaerno5 with the default Newton linear
solve, which materialises the dense Jacobian of the vectorised Lindbladian (d² × d² complex,
68.7 GB at d = 256); XLA then fails with RESOURCE_EXHAUSTED, reported as "out of memory".

If qutip/numpy/scipy/h5py are missing the script creates <repo>/.venv, pip-installs
`qutip h5py scipy` and then (allowed to fail) `dynamiqs` there and re-executes itself with
it, as bench_peers.py does; without dynamiqs that tool is reported "not available".
"""
import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peers import limit_threads  # noqa: E402  (one definition for both benchmarks; stdlib-only import)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")
CONFIG = os.path.join(REPO, "configs", "master", "stiff.toml")
DEFAULT_QBSIM = os.path.join(REPO, "target", "release", "qbsim")
REQUIRED = ["numpy", "scipy", "h5py", "qutip"]
OPTIONAL = ["jax", "dynamiqs"]
PARAMS = dict(kappa_ab=0.05, drive=0.1, t_end=20.0, n_save=201, rtol=1e-8, atol=1e-10)
GMRES = dict(rtol=1e-12, restart=40, max_inner=5000)  # qbsim's [steady] defaults
DEFAULT_SIZES = ["8,8,4", "12,12,6"]
DEFAULT_KAPPAS = "50,500,5000"
EVOLVE_TOOLS = ["qbsim-krylov", "qbsim-dopri5", "qutip-bdf", "qutip-adams", "dynamiqs"]
STEADY_TOOLS = ["qbsim", "qutip-direct", "qutip-gmres"]
SKIPPABLE = EVOLVE_TOOLS + ["steady"]


def gamma_of(kc):
    return (2.0 * kc) ** 0.5


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=None, help="cutoffs Na,Nb,Nc (several; default 8,8,4 12,12,6)")
    ap.add_argument("--kappas", default=None, help="comma list of kappa_c (default 50,500,5000)")
    ap.add_argument("--timeout", type=float, default=None, help="wall-time limit per tool and point, s (default 600)")
    ap.add_argument("--skip", default="", help="comma list of: " + ",".join(SKIPPABLE))
    ap.add_argument("--quick", action="store_true", help="only (8,8,4), kappa_c 50,500, timeout 120")
    ap.add_argument("--qbsim", default=DEFAULT_QBSIM, help="qbsim binary (default target/release/qbsim)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for qbsim (default 2) and, if given, limit for the peers")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: one peer solve
    args = ap.parse_args()
    if args.worker:
        return args
    if args.quick:
        args.sizes = args.sizes or ["8,8,4"]
        args.kappas = args.kappas or "50,500"
        args.timeout = args.timeout or 120.0
    args.sizes = [tuple(int(x) for x in s.split(",")) for s in (args.sizes or DEFAULT_SIZES)]
    args.kappas = sorted(float(x) for x in (args.kappas or DEFAULT_KAPPAS).split(",") if x.strip())
    args.timeout = args.timeout or 600.0
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    bad = args.skip - set(SKIPPABLE)
    if bad:
        ap.error(f"unknown tool(s) in --skip: {sorted(bad)}; choose from {','.join(SKIPPABLE)}")
    if any(len(s) != 3 for s in args.sizes):
        ap.error("each size needs 3 cutoffs Na,Nb,Nc")
    if not args.kappas or any(k <= 0 for k in args.kappas):
        ap.error("--kappas needs positive values")
    return args


def have(mods):
    return all(importlib.util.find_spec(m) for m in mods)


def ensure_deps(want_dynamiqs):
    """Re-exec inside <repo>/.venv (creating it and installing packages) if something is missing.

    qutip/numpy/scipy/h5py are required; jax/dynamiqs are optional (reported "not available")."""
    wanted = REQUIRED + (OPTIONAL if want_dynamiqs else [])
    if have(wanted) or os.environ.get("BENCH_STIFF_REEXEC"):
        if not have(REQUIRED):
            sys.exit(f"missing one of {REQUIRED} (also in {VENV}); install them, e.g. pip install qutip h5py scipy")
        return
    py = os.path.join(VENV, "bin", "python")
    os.environ["BENCH_STIFF_REEXEC"] = "1"  # no second attempt after the re-exec
    try:
        in_venv = os.path.abspath(sys.prefix) == os.path.abspath(VENV)
        if not in_venv and os.path.exists(py) and subprocess.run(
                [py, "-c", "import " + ",".join(wanted)], capture_output=True).returncode == 0:
            os.execv(py, [py] + sys.argv)
        if not os.path.exists(py):
            print(f"creating venv {VENV}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        print("pip install qutip h5py scipy (into .venv)", file=sys.stderr)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
        subprocess.run([py, "-m", "pip", "install", "-q", "qutip", "h5py", "scipy"], check=True)
        if want_dynamiqs:
            print("pip install dynamiqs (into .venv; may fail: then 'not available')", file=sys.stderr)
            subprocess.run([py, "-m", "pip", "install", "-q", "dynamiqs"], check=False)
    except (OSError, subprocess.CalledProcessError) as e:
        if have(REQUIRED):  # e.g. no network: go on with what this interpreter has
            print(f"could not set up {VENV} ({e}); continuing without dynamiqs", file=sys.stderr)
            return
        sys.exit(f"could not install the required packages into {VENV}: {e}")
    os.execv(py, [py] + sys.argv)


# ---------------------------------------------------------------- exact linear solution

def drift(kc):
    """M and f of dx/dt = −M x + f for x = (<a>,<b>,<c>) (bench_peers.py's formula, p's = 1, δ = 0)."""
    import numpy as np
    ka = kb = PARAMS["kappa_ab"]
    G = gamma_of(kc)
    M = np.zeros((3, 3), complex)
    M[0, 0] = (ka + G) / 2
    M[1, 1] = (kb + G) / 2
    M[2, 2] = (kc + 2 * G) / 2
    M[0, 2] = M[2, 0] = M[1, 2] = M[2, 1] = G / 2
    f = np.array([-1j * PARAMS["drive"], 0, 0])
    return M, f


def exact_nb(kc, tlist):
    import numpy as np
    from scipy.linalg import expm
    M, f = drift(kc)
    Minv_f = np.linalg.solve(M, f)
    x = np.array([Minv_f - expm(-M * t) @ Minv_f for t in tlist])  # M⁻¹(I − e^{−Mt})f
    return np.abs(x[:, 1]) ** 2


def exact_nb_steady(kc):
    import numpy as np
    M, f = drift(kc)
    return float(abs(np.linalg.solve(M, f)[1]) ** 2)


# ---------------------------------------------------------------- peers (run in a worker process)

def qutip_model(size, kc):
    import qutip as qt
    a, b, c = (qt.tensor(*[qt.destroy(n) if i == k else qt.qeye(n) for i, n in enumerate(size)])
               for k in range(3))
    ka = kb = PARAMS["kappa_ab"]
    G = gamma_of(kc)
    H = PARAMS["drive"] * (a + a.dag())
    L = [ka ** 0.5 * a, kb ** 0.5 * b, kc ** 0.5 * c, G ** 0.5 * (a + c), G ** 0.5 * (b + c)]
    return a, b, c, H, L


def qutip_warmup(steady_method=None, steady_kw=None, mesolve_opts=None):
    """One untimed solve on a tiny two-mode system with the same method, so the timed call does
    not include QuTiP's one-time costs in a fresh process (first-call dispatch/imports: ~4 s)."""
    import numpy as np
    import qutip as qt
    a, b = qt.tensor(qt.destroy(2), qt.qeye(2)), qt.tensor(qt.qeye(2), qt.destroy(2))
    H, L = 0.1 * (a + a.dag()), [a, b, a + b]
    if steady_method:
        qt.steadystate(H, L, method=steady_method, **(steady_kw or {}))
    if mesolve_opts:
        rho0 = qt.ket2dm(qt.tensor(qt.basis(2, 0), qt.basis(2, 0)))
        qt.mesolve(H, rho0, np.linspace(0, 1, 3), L, e_ops=[b.dag() * b], options=mesolve_opts)


def worker_qutip_evolve(spec, emit):
    import numpy as np
    import qutip as qt
    size, kc = tuple(spec["size"]), spec["kappa_c"]
    a, b, c, H, L = qutip_model(size, kc)
    rho0 = qt.ket2dm(qt.tensor(*[qt.basis(n, 0) for n in size]))
    tlist = np.linspace(0.0, PARAMS["t_end"], PARAMS["n_save"])
    opts = {"method": spec["method"], "rtol": PARAMS["rtol"], "atol": PARAMS["atol"], "nsteps": 10 ** 7,
            "store_states": False, "progress_bar": ""}
    qutip_warmup(mesolve_opts=opts)
    t0 = time.perf_counter()
    res = qt.mesolve(H, rho0, tlist, L, e_ops=[b.dag() * b], options=opts)
    dt = time.perf_counter() - t0
    emit({"time_s": dt, "n_b": np.real(np.asarray(res.expect[0])).tolist()})


def worker_dynamiqs(spec, emit):
    import numpy as np
    try:
        import jax
        jax.config.update("jax_enable_x64", True)  # before any jax array exists
        import dynamiqs as dq
    except ImportError as e:
        emit({"na": f"not available ({e})"})
        return
    if hasattr(dq, "set_precision"):
        dq.set_precision("double")
    if hasattr(dq, "set_progress_meter"):
        dq.set_progress_meter(False)
    size, kc = tuple(spec["size"]), spec["kappa_c"]
    a, b, c = dq.destroy(*size)
    ka = kb = PARAMS["kappa_ab"]
    G = gamma_of(kc)
    H = PARAMS["drive"] * (a + a.dag())
    L = [ka ** 0.5 * a, kb ** 0.5 * b, kc ** 0.5 * c, G ** 0.5 * (a + c), G ** 0.5 * (b + c)]
    rho0 = dq.todm(dq.basis(list(size), [0, 0, 0]))
    tlist = np.linspace(0.0, PARAMS["t_end"], PARAMS["n_save"])
    method = dq.method.Kvaerno5(rtol=PARAMS["rtol"], atol=PARAMS["atol"], max_steps=10 ** 7)

    def solve():
        t0 = time.perf_counter()
        res = dq.mesolve(H, L, rho0, tlist, exp_ops=[b.dag() @ b], method=method, save_states=False)
        nb = np.asarray(res.expects[0].block_until_ready())
        return time.perf_counter() - t0, np.real(nb)

    out = {"layout": str(a.layout), "method": "Kvaerno5"}
    out["first_call_s"], nb = solve()  # JIT compile + run
    out["n_b"] = nb.tolist()
    emit(dict(out))  # kept if the second call runs into the timeout
    out["time_s"], nb = solve()
    out["jit_s"] = max(out["first_call_s"] - out["time_s"], 0.0)
    out["n_b"] = nb.tolist()
    emit(out)


def worker_qutip_steady(spec, emit):
    import qutip as qt
    size, kc = tuple(spec["size"]), spec["kappa_c"]
    a, b, c, H, L = qutip_model(size, kc)
    warm_kw = {} if spec["method"] == "direct" else dict(use_precond=True)
    qutip_warmup(steady_method=spec["method"], steady_kw=warm_kw)
    iters, last = [0], [0.0]

    def progress(pr_norm):  # one call per inner GMRES iteration; kept if we are killed
        iters[0] += 1
        if time.perf_counter() - last[0] > 2.0:
            last[0] = time.perf_counter()
            emit({"stage": "GMRES", "iterations": iters[0], "gmres_rel_residual": float(pr_norm),
                  "elapsed_s": last[0] - t0})

    if spec["method"] == "direct":
        kw = {}
        emit({"stage": "Liouvillian + sparse LU"})
    else:  # restart cycles: scipy's maxiter counts outer iterations
        kw = dict(use_precond=True, rtol=GMRES["rtol"], atol=0.0, restart=GMRES["restart"],
                  maxiter=GMRES["max_inner"] // GMRES["restart"], callback_type="pr_norm", callback=progress)
        emit({"stage": "Liouvillian + spilu preconditioner"})
    t0 = last[0] = time.perf_counter()  # the clock: steadystate only (incl. building 𝓛 from H, c_ops)
    try:
        rho = qt.steadystate(H, L, method=spec["method"], **kw)
    except Exception as e:
        emit({"error": f"{type(e).__name__}: {e}", "time_s": time.perf_counter() - t0,
              "iterations": iters[0] if kw else None})
        return
    dt = time.perf_counter() - t0
    out = {"time_s": dt, "n_b": float(qt.expect(b.dag() * b, rho))}
    if kw:
        out["iterations"] = iters[0]
    emit(out)


def worker_main(spec_path):
    with open(spec_path) as fh:
        spec = json.load(fh)
    out_path = spec["out"]

    def emit(obj):  # atomic replace: the parent may read it after killing us
        tmp = out_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(obj, fh)
        os.replace(tmp, out_path)

    import warnings
    warnings.filterwarnings("ignore", message="matplotlib not found")
    {"qutip-evolve": worker_qutip_evolve, "dynamiqs": worker_dynamiqs,
     "qutip-steady": worker_qutip_steady}[spec["kind"]](spec, emit)


def run_worker(spec, timeout):
    """Run one peer solve in a child process with a wall-time limit."""
    tmp = tempfile.mkdtemp(prefix="bench_stiff_")
    try:
        spec = dict(spec, out=os.path.join(tmp, "out.json"))
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as fh:
            json.dump(spec, fh)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", spec_path]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        timed_out = False
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(p)
            _, err = p.communicate()
        res = {}
        if os.path.exists(spec["out"]):
            with open(spec["out"]) as fh:
                res = json.load(fh)
        if timed_out:
            res["timeout"] = True
        elif p.returncode != 0 and "time_s" not in res and "na" not in res and "error" not in res:
            res["error"] = worker_error(err, p.returncode)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kill_group(p):
    """Kill the child we started and its own process group (start_new_session)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        p.kill()


def worker_error(stderr, rc):
    lines = [ln for ln in (stderr or "").strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "RESOURCE_EXHAUSTED" in ln or "Out of memory" in ln:
            return "out of memory: " + ln.split(":", 1)[-1].strip()
    err_lines = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (err_lines or lines or [f"exit code {rc}"])[-1].strip()[:300]


# ---------------------------------------------------------------- qbsim (subprocess)

def overrides(size, kc):
    return ["--set", "model.cutoffs=[%d, %d, %d]" % tuple(size),
            "--set", f"model.kappa=[{PARAMS['kappa_ab']!r}, {PARAMS['kappa_ab']!r}, {float(kc)!r}]",
            "--set", f"model.gamma={gamma_of(kc)!r}",
            "--set", 'solver.engines=["master"]']


def run_process(cmd, timeout):
    """(wall s, CompletedProcess-like (rc, stdout, stderr)) or (None, None) on timeout."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        p.communicate()
        return None, None
    return time.perf_counter() - t0, (p.returncode, out, err)


def qbsim_fail(proc):
    rc, out, err = proc
    lines = [ln for ln in (err + "\n" + out).strip().splitlines() if ln.strip()]
    return (lines or [f"exit code {rc}"])[0].strip()[:300] + f" (exit {rc})"


def run_qbsim_evolve(binary, threads, size, kc, method, timeout):
    import h5py
    import numpy as np
    tmp = tempfile.mkdtemp(prefix="bench_stiff_qb_")
    try:
        out = os.path.join(tmp, "out.h5")
        cmd = [binary, "--threads", str(threads), "run", CONFIG] + overrides(size, kc) + [
            "--set", f'solver.method="{method}"', "-o", out, "-q"]
        wall, proc = run_process(cmd, timeout)
        if wall is None:
            return {"timeout": True}
        if proc[0] != 0:
            return {"error": qbsim_fail(proc)}
        with h5py.File(out, "r") as h:
            g = h["master"]
            t, nb = g["t"][()], np.real(g["n_b"][()])
            at = {k: g.attrs[k] for k in ("rhs_evals", "steps", "rejected_steps", "wall_time_s", "method",
                                          "krylov_dim", "warnings") if k in g.attrs}
        res = {"time_s": wall, "integrator_s": float(at["wall_time_s"]), "steps": int(at["steps"]),
               "rhs_evals": int(at["rhs_evals"]), "method": str(at.get("method", method))}
        for k in ("rejected_steps", "krylov_dim"):
            if k in at:
                res[k] = int(at[k])
        if at.get("warnings"):
            w = at["warnings"]
            res["warnings"] = w.decode() if isinstance(w, bytes) else str(w)
        tlist = np.linspace(0.0, PARAMS["t_end"], PARAMS["n_save"])
        if len(t) != len(tlist) or not np.allclose(t, tlist):
            nb = np.interp(tlist, t, nb)
        res["n_b"] = nb.tolist()
        return res
    except Exception as e:  # missing dataset, unreadable file, ...
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_qbsim_steady(binary, threads, size, kc, timeout):
    import h5py
    tmp = tempfile.mkdtemp(prefix="bench_stiff_qb_")
    try:
        out = os.path.join(tmp, "out.h5")
        cmd = [binary, "--threads", str(threads), "steady", CONFIG] + overrides(size, kc) + ["-o", out, "-q"]
        wall, proc = run_process(cmd, timeout)
        if wall is None:
            return {"timeout": True}
        if proc[0] != 0:
            return {"error": qbsim_fail(proc), "time_s": wall}
        with h5py.File(out, "r") as h:
            g = h["steady/master"]
            res = {"time_s": wall, "n_b": float(g["n_b"][()]), "iterations": int(g["iterations"][()]),
                   "residual": float(g["residual"][()])}
            m = g.attrs.get("method", "")
            res["method"] = m.decode() if isinstance(m, bytes) else str(m)
        return res
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- driver

def machine_info(binary):
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        info["qbsim"] = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip() or "?"
    except OSError as e:
        info["qbsim"] = f"? ({e})"
    for pkg in ["qutip", "dynamiqs", "jax", "numpy", "scipy", "h5py"]:
        try:
            info[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            info[pkg] = "not available"
    return info


def fmt_status(r, key="time_s", fmt=".2f", timeout=600.0):
    """The time cell: a number, "> T s", "skipped (...)", "not available", "failed"."""
    if "skipped" in r:
        return r["skipped"]
    if r.get("timeout") and key not in r:
        return f"> {timeout:g} s"
    if "na" in r:
        return r["na"]
    if key in r:
        return f"{r[key]:{fmt}}"
    if "error" in r:
        return "failed"
    return "-"


def main():
    args = parse_args()
    if args.worker:
        worker_main(args.worker)
        return
    if args.threads:
        limit_threads(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    want_dyn = "dynamiqs" not in args.skip
    ensure_deps(want_dyn)
    import numpy as np

    qb_threads = args.threads or 2
    evolve_tools = [t for t in EVOLVE_TOOLS if t not in args.skip]
    steady_tools = [] if "steady" in args.skip else list(STEADY_TOOLS)
    need_qbsim = any(t.startswith("qbsim") for t in evolve_tools) or steady_tools
    if need_qbsim and not os.path.exists(args.qbsim) and args.qbsim == DEFAULT_QBSIM:
        print("building qbsim: cargo build --release", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release"], cwd=REPO)
    dyn_ok = want_dyn and have(OPTIONAL)
    tlist = np.linspace(0.0, PARAMS["t_end"], PARAMS["n_save"])
    T = args.timeout

    info = machine_info(args.qbsim)
    info["threads"] = (f"qbsim --threads {qb_threads}; peers "
                       + (f"limited to {args.threads}" if args.threads else f"unrestricted ({os.cpu_count()} cores)"))
    print(f"# Stiff master-equation benchmark ({info['date']})")
    print(f"# CPU: {info['cpu']}, {info['cores']} cores; threads: {info['threads']}")
    print(f"# {info['qbsim']}, python {info['python']}, qutip {info['qutip']}, dynamiqs {info['dynamiqs']}, "
          f"jax {info['jax']}, numpy {info['numpy']}, scipy {info['scipy']}, h5py {info['h5py']}")
    print(f"# κa = κb = {PARAMS['kappa_ab']}, Γ = √(2κc), E = {PARAMS['drive']}, δ = 0, p = 1, T = 0, vacuum start; "
          f"t = linspace(0, {PARAMS['t_end']:g}, {PARAMS['n_save']}), rtol {PARAMS['rtol']:g}, "
          f"atol {PARAMS['atol']:g}; time limit {T:g} s per tool and point")
    print()

    results = {"evolve": [], "steady": []}
    blocked = {}  # (tool, size) -> reason for skipping at larger kappa_c

    def gate(tool, size):
        return {"skipped": blocked[(tool, size)]} if (tool, size) in blocked else None

    def note(tool, size, r):
        if r.get("timeout") and "time_s" not in r:
            blocked[(tool, size)] = "skipped (slower at smaller kappa_c)"
        elif "out of memory" in r.get("error", ""):
            blocked[(tool, size)] = "skipped (out of memory at smaller kappa_c)"

    # ---- time evolution
    if evolve_tools:
        print("## Time evolution: t = 0 → 20, 201 saves; max|Δn_b| vs the exact linear solution")
        print()
        print("| cutoffs | d | κ_c | Γ | tool | time [s] | integrator [s] | steps | 𝓛 evals | 1st call (JIT) [s] "
              "| max abs Δn_b |")
        print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    failures = []
    for size in args.sizes:
        d = int(np.prod(size))
        for kc in args.kappas:
            if not evolve_tools:
                break
            ref = exact_nb(kc, tlist)
            for tool in evolve_tools:
                print(f"  evolve {tool} {size} kappa_c={kc:g} ...", file=sys.stderr, flush=True)
                r = gate(tool, size)
                t_start = time.perf_counter()
                if r is None:
                    try:
                        if tool.startswith("qbsim"):
                            r = run_qbsim_evolve(args.qbsim, qb_threads, size, kc, tool.split("-")[1], T)
                        elif tool.startswith("qutip"):
                            r = run_worker({"kind": "qutip-evolve", "size": size, "kappa_c": kc,
                                            "method": tool.split("-")[1]}, T)
                        elif not dyn_ok:
                            r = {"na": "not available"}
                        else:
                            r = run_worker({"kind": "dynamiqs", "size": size, "kappa_c": kc}, T)
                            if "error" in r and "out of memory" in r["error"]:
                                r["error"] += (f" [the dense Jacobian of the vectorised Lindbladian, d²×d² complex128,"
                                               f" alone is {16 * d ** 4 / 1e9:.3g} GB]")
                    except Exception as e:
                        r = {"error": f"{type(e).__name__}: {e}"}
                    note(tool, size, r)
                r["tool_wall_s"] = time.perf_counter() - t_start
                if "n_b" in r:
                    r["err_exact"] = float(np.max(np.abs(np.asarray(r["n_b"]) - ref)))
                row = {"size": list(size), "d": d, "kappa_c": kc, "gamma": gamma_of(kc), "tool": tool,
                       "exact_max_n_b": float(np.max(ref)), **r}
                row.pop("n_b", None)
                results["evolve"].append(row)
                print_evolve_row(row, T)
                if "error" in row:
                    failures.append(f"{tool} {tuple(size)} κc={kc:g}: {row['error']}")

    # ---- steady state
    if steady_tools:
        if evolve_tools:
            print()
        print("## Steady state; |Δn_b| vs the exact n_b = |<b>_ss|², x_ss = M⁻¹ f")
        print()
        print("| cutoffs | d | κ_c | tool | time [s] | iterations | residual | n_b | abs Δn_b |")
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for size in args.sizes:
        d = int(np.prod(size))
        for kc in args.kappas:
            if not steady_tools:
                break
            ref = exact_nb_steady(kc)
            for tool in steady_tools:
                key = "steady-" + tool
                print(f"  steady {tool} {size} kappa_c={kc:g} ...", file=sys.stderr, flush=True)
                r = gate(key, size)
                if r is None:
                    try:
                        if tool == "qbsim":
                            r = run_qbsim_steady(args.qbsim, qb_threads, size, kc, T)
                        else:
                            r = run_worker({"kind": "qutip-steady", "size": size, "kappa_c": kc,
                                            "method": "direct" if tool == "qutip-direct" else "iterative-gmres"}, T)
                    except Exception as e:
                        r = {"error": f"{type(e).__name__}: {e}"}
                    note(key, size, r)
                if "n_b" in r:
                    r["err_exact"] = abs(r["n_b"] - ref)
                row = {"size": list(size), "d": d, "kappa_c": kc, "gamma": gamma_of(kc), "tool": tool,
                       "exact_n_b": ref, **r}
                results["steady"].append(row)
                print_steady_row(row, T)
                if "error" in row:
                    failures.append(f"steady {tool} {tuple(size)} κc={kc:g}: {row['error']}")

    if failures:
        print()
        print("Failures:")
        for f in failures:
            print(f"- {f}")
    warn = [r for r in results["evolve"] if r.get("warnings")]
    for r in warn:
        print(f"- qbsim warning {tuple(r['size'])} κc={r['kappa_c']:g} {r['tool']}: {r['warnings'].strip()}")
    if evolve_tools:
        print()
        print("Exact max_t n_b: " + ", ".join(f"κc={kc:g}: {np.max(exact_nb(kc, tlist)):.3e}" for kc in args.kappas)
              + "; exact steady n_b: " + ", ".join(f"κc={kc:g}: {exact_nb_steady(kc):.4e}" for kc in args.kappas))

    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "params": {**PARAMS, "gamma": "sqrt(2 kappa_c)", "kappas": args.kappas,
                                                   "sizes": [list(s) for s in args.sizes], "timeout_s": T,
                                                   "gmres": GMRES},
                       "results": results}, fh, indent=2)
        print(f"# wrote {args.json}")


def print_evolve_row(r, T):
    g = lambda k, fmt: f"{r[k]:{fmt}}" if k in r else "-"
    time_cell = fmt_status(r, "time_s", ".2f", T)
    first = g("first_call_s", ".2f")
    if r["tool"] == "dynamiqs" and r.get("timeout") and "first_call_s" in r:
        time_cell = f"> {T:g} s (2nd call)"
    if r["tool"] == "dynamiqs" and r.get("timeout") and "first_call_s" not in r:
        first = f"> {T:g} s"
    err = g("err_exact", ".1e")
    cells = ["(%d,%d,%d)" % tuple(r["size"]), str(r["d"]), f"{r['kappa_c']:g}", f"{r['gamma']:.4g}", r["tool"],
             time_cell, g("integrator_s", ".2f"), g("steps", "d"), g("rhs_evals", "d"),
             first if r["tool"] == "dynamiqs" else "-", err]
    print("| " + " | ".join(cells) + " |", flush=True)


def print_steady_row(r, T):
    g = lambda k, fmt: f"{r[k]:{fmt}}" if r.get(k) is not None else "-"
    time_cell = fmt_status(r, "time_s", ".3f", T)
    if "error" in r and "time_s" in r:
        time_cell = f"failed after {r['time_s']:.2f}"
    if r.get("timeout") and "time_s" not in r and "stage" in r:  # where the killed QuTiP solve was
        time_cell += f" (in {r['stage']}" + (f", {r['iterations']} it., rel. res. {r['gmres_rel_residual']:.1e})"
                                             if r["stage"] == "GMRES" else ")")
    cells = ["(%d,%d,%d)" % tuple(r["size"]), str(r["d"]), f"{r['kappa_c']:g}", r["tool"], time_cell,
             g("iterations", "d"), g("residual", ".1e"), g("n_b", ".6e"), g("err_exact", ".1e")]
    print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
