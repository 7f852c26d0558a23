#!/usr/bin/env python3
"""Compare `qbsim steady` (GMRES on the Liouvillian) with QuTiP's `steadystate`.

What it compares
    The Kerr battery of configs/steady/kerr.toml, at cutoffs (5, 6, 3) (QuTiP's
    direct sparse LU of the d^2 x d^2 Liouvillian is slow beyond that on a small
    machine), and a second point with more terms beyond the paper: Kerr on every
    mode, cross-Kerr on two pairs and dephasing. qbsim writes the steady density
    matrix (/steady/master/rho); QuTiP 5 `steadystate(H, c_ops, method="direct")`
    solves the same Lindblad equation at the same cutoffs. The script prints the
    largest elementwise |Δρ| and the differences of n_a, n_b, n_c, <b>, and of the
    battery's ergotropy, entropy and purity (of rho_b = Tr_{a,c} rho).

Conventions (docs/physics.md §1, §10): basis |n_a, n_b, n_c> = qutip.tensor(a, b, c);
H = Σ δ_j j†j + E(a + a†) + Σ (K_j/2) j†j†jj + K_ab n_a n_b + K_ac n_a n_c + K_bc n_b n_c;
jumps √(κ_j(1+n_j)) j, √(κ_j n_j) j†, √Γ z_a, √Γ z_b with z_a = a + c, z_b = b + c
(p = 1), √γφ_j n_j. All rates are Lindblad rates.

Exit status 0 if every difference is below TOL = 1e-7, 1 otherwise.

Run from the repository root after `cargo build --release` (needs qutip >= 5, h5py):
    python3 scripts/compare_qutip_steady.py
Runtime ~10 s. BLAS threads are set to 1: QuTiP's sparse solve slows down by ~100x
when threaded BLAS competes for busy cores.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import qutip as qt

ROOT = Path(__file__).resolve().parent.parent
QBSIM = ROOT / "target" / "release" / "qbsim"
CONFIG = ROOT / "configs" / "steady" / "kerr.toml"
TOL = 1e-7
CUTOFFS = [5, 6, 3]

# The config's parameters (configs/steady/kerr.toml), and a second point.
BASE = dict(delta=[0.3, 0.3, 0.3], drive=0.4, kappa=[0.1, 0.1, 2.0], gamma=1.0, n_th=[0.02, 0.01, 0.0],
            kerr=[0.0, 0.2, 0.0], cross_kerr=[0.0, 0.0, 0.0], dephasing=[0.0, 0.0, 0.0])
MORE = dict(BASE, kerr=[0.1, 0.3, 0.05], cross_kerr=[0.05, 0.02, 0.0], dephasing=[0.01, 0.02, 0.0])


def qutip_model(p):
    eye = [qt.qeye(n) for n in CUTOFFS]

    def lower(m):
        ops = list(eye)
        ops[m] = qt.destroy(CUTOFFS[m])
        return qt.tensor(*ops)

    modes = [lower(m) for m in range(3)]
    a, b, c = modes
    num = [x.dag() * x for x in modes]
    H = sum(p["delta"][j] * num[j] for j in range(3)) + p["drive"] * (a + a.dag())
    for j, x in enumerate(modes):
        H += 0.5 * p["kerr"][j] * x.dag() * x.dag() * x * x
    for k, (m, n) in enumerate([(0, 1), (0, 2), (1, 2)]):
        H += p["cross_kerr"][k] * num[m] * num[n]
    cops = []
    for j, x in enumerate(modes):
        if p["kappa"][j] > 0:
            cops.append(np.sqrt(p["kappa"][j] * (1 + p["n_th"][j])) * x)
        if p["kappa"][j] * p["n_th"][j] > 0:
            cops.append(np.sqrt(p["kappa"][j] * p["n_th"][j]) * x.dag())
    cops += [np.sqrt(p["gamma"]) * (a + c), np.sqrt(p["gamma"]) * (b + c)]
    for j in range(3):
        if p["dephasing"][j] > 0:
            cops.append(np.sqrt(p["dephasing"][j]) * num[j])
    return H, cops


def battery(rho):
    r = qt.Qobj(rho, dims=[CUTOFFS, CUTOFFS])
    rb = r.ptrace(1).full()
    n = np.arange(CUTOFFS[1])
    e = np.real(np.trace(rb @ np.diag(n)))
    ev = np.sort(np.linalg.eigvalsh(rb))[::-1]
    ergo = e - np.sum(ev * n)
    ent = -sum(x * np.log(x) for x in ev if x > 0)
    return ergo, ent, np.real(np.trace(rb @ rb))


def observables(rho):
    H, _ = qutip_model(BASE)
    eye = [qt.qeye(n) for n in CUTOFFS]
    out = {}
    for j, name in enumerate("abc"):
        ops = list(eye)
        ops[j] = qt.destroy(CUTOFFS[j])
        x = qt.tensor(*ops).full()
        out["n_" + name] = np.real(np.trace(rho @ x.conj().T @ x))
        out["<" + name + ">"] = np.trace(rho @ x)
    out["ergotropy_b"], out["entropy_b"], out["purity_b"] = battery(rho)
    return out


def qbsim_rho(p, path):
    sets = []
    for key in ["kerr", "cross_kerr", "dephasing"]:
        sets += ["--set", f"model.{key}=[{', '.join(repr(float(v)) for v in p[key])}]"]
    cmd = [str(QBSIM), "steady", str(CONFIG), "-o", str(path), "-q", "--set", f"model.cutoffs={CUTOFFS}"] + sets
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with h5py.File(path) as f:
        g = f["steady/master"]
        return g["rho"][()], time.perf_counter() - t0, int(g["iterations"][()]), float(g["residual"][()])


def main():
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for label, p in [("configs/steady/kerr.toml", BASE), ("+ Kerr on all, cross-Kerr, dephasing", MORE)]:
            rq, tq, iters, res = qbsim_rho(p, Path(tmp) / "s.h5")
            H, cops = qutip_model(p)
            t0 = time.perf_counter()
            rr = qt.steadystate(H, cops, method="direct").full()
            tr = time.perf_counter() - t0
            print(f"{label}, cutoffs {tuple(CUTOFFS)}: qbsim {tq:.2f} s ({iters} GMRES iterations, residual {res:.1e}), "
                  f"QuTiP direct {tr:.2f} s")
            d = np.abs(rq - rr).max()
            print(f"  max |Δρ| = {d:.2e}")
            ok &= d < TOL
            oq, orr = observables(rq), observables(rr)
            for k in oq:
                dk = abs(oq[k] - orr[k])
                ok &= dk < TOL
                print(f"  {k:<12} qbsim {np.round(oq[k], 10)!s:>28}  |Δ| = {dk:.2e}")
    print("PASS" if ok else "FAIL", f"(tolerance {TOL:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
