#!/usr/bin/env python3
"""Cross-check qbsim's master equation against QuTiP with every beyond-paper term on.

What it compares
    One parameter point (PARAMS below) with ALL FOUR terms beyond the paper's model
    non-zero -- Kerr on every mode (K_b = 0.5, so the battery's ergotropy departs
    visibly from E_B = <b†b>), cross-Kerr on every pair, complex coherent exchange on
    every pair, dephasing on every mode -- plus complex couplings p, non-zero
    detunings, small thermal occupations on local and shared baths and a coherent
    battery start. qbsim (dop853, rtol 1e-10, atol 1e-12) and QuTiP 5 `mesolve`
    (bdf, rtol 1e-10, atol 1e-12) solve the same Lindblad equation at the SAME Fock
    cutoffs; the script prints max over the save times of |Δ<b>|, |Δ<b†b>| and
    |Δ ergotropy_b| (ergotropy of ρ_b = Tr_{a,c} ρ), and qbsim's top-level populations
    (max over time of /master/top_level) as the truncation diagnostic.
    Cutoff convergence: qbsim is also run at cutoffs + 2 in every mode and the
    qbsim-vs-qbsim differences of the same three observables are printed.
    Conventions (docs/physics.md §1, src/model/micro.rs `lindblad_terms`): basis
    |n_a, n_b, n_c> = qutip.tensor(a, b, c); H = Σ δ_j j†j + E(a + a†)
    + Σ (K_j/2) j†j†jj + K_ab n_a n_b + K_ac n_a n_c + K_bc n_b n_c
    + Σ_pairs (g j†k + g* k†j); D[L]ρ = LρL† − ½{L†L, ρ}; jumps √(κ_j(1+n_j)) j,
    √(κ_j n_j) j†, √(Γ(1+n_z)) z, √(Γ n_z) z† for z_a = p_a a + p_ca c,
    z_b = p_b b + p_cb c, and √γφ_j j†j. All rates are Lindblad rates.

Exit status: 0 if every difference (qbsim vs QuTiP, and cutoffs vs cutoffs + 2) is
below TOL = 1e-7, 1 otherwise.

How to run (from the repository root, after `cargo build --release`; needs h5py and
qutip >= 5: `pip install qutip --break-system-packages`):

    python3 scripts/compare_qutip_terms.py [--json out.json]

--json FILE writes the differences, versions (qutip, numpy, scipy, qbsim --version),
cutoffs, parameters and wall times. Runtime: 1.5-2.5 min on 2 cores, dominated by
QuTiP's single-threaded mesolve at d = 9*7*7 = 441 (bdf: the high Fock levels' Kerr,
dephasing and decay rates make the problem mildly stiff; adams takes ~2x longer).
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QBSIM = ROOT / "target" / "release" / "qbsim"
TOL = 1e-7
warnings.filterwarnings("ignore", message="matplotlib not found")

# Converged: the change to cutoffs + 2 is ~1e-8 (<b>), ~1e-9 (<b†b>, ergotropy).
# Mode c's thermal tail (n_c = 0.05) and the drive on a set the cutoffs.
CUTOFFS = [9, 7, 7]
PARAMS = {  # [model] keys, as written to the config; complex as [re, im]
    "delta": [0.3, -0.2, 0.15],
    "drive": 0.4,
    "kappa": [0.4, 0.2, 1.5],
    "gamma": 1.0,
    "p_a": [1.0, 0.3],
    "p_b": [0.8, -0.4],
    "p_ca": [0.9, 0.5],
    "p_cb": [1.1, -0.2],
    "n_th": [0.0, 0.02, 0.05],
    "n_th_shared": [0.03, 0.0],
    "kerr": [0.3, 0.5, 0.2],
    "cross_kerr": [0.1, -0.15, 0.2],
    "exchange": [[0.15, 0.1], [0.1, -0.05], [0.2, 0.12]],
    "dephasing": [0.05, 0.1, 0.08],
}
INITIAL_B = [0.3, 0.2]  # [initial] b = { coherent = [re, im] }; a and c start in vacuum
T_END, N_SAVE = 15.0, 61
SOLVER = {"method": "dop853", "rtol": 1e-10, "atol": 1e-12}
QUTIP_OPTIONS = {"method": "bdf", "atol": 1e-12, "rtol": 1e-10, "nsteps": 10**7}


def cplx(v):
    return complex(v[0], v[1]) if isinstance(v, list) else complex(v)


def toml_value(v):
    return "[" + ", ".join(toml_value(x) for x in v) + "]" if isinstance(v, list) else repr(v)


def write_config(path, cutoffs, out):
    lines = ["[model]", f"cutoffs = {toml_value(cutoffs)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in PARAMS.items()]
    lines += ["", "[initial]", f"b = {{ coherent = {toml_value(INITIAL_B)} }}",
              "", "[time]", f"t_end = {T_END!r}", f"n_save = {N_SAVE}",
              "", "[solver]", 'engines = ["master"]', f'method = "{SOLVER["method"]}"',
              f'rtol = {SOLVER["rtol"]!r}', f'atol = {SOLVER["atol"]!r}',
              "", "[output]", f'path = "{out}"', 'save_state = "none"', ""]
    Path(path).write_text("\n".join(lines))


def run_qbsim(cutoffs, tmp):
    tag = "x".join(map(str, cutoffs))
    cfg, out = Path(tmp) / f"terms_{tag}.toml", Path(tmp) / f"terms_{tag}.h5"
    write_config(cfg, cutoffs, out)
    t0 = time.perf_counter()
    proc = subprocess.run([str(QBSIM), "--quiet", "--threads", "2", "run", str(cfg), "-o", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"qbsim failed on {cfg} (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    wall = time.perf_counter() - t0
    with h5py.File(out, "r") as f:
        g = f["master"]
        res = {k: g[k][()] for k in ("t", "b", "n_b", "ergotropy_b", "top_level")}
        res["warnings"] = g.attrs.get("warnings", b"")
    if isinstance(res["warnings"], bytes):
        res["warnings"] = res["warnings"].decode()
    res["wall_s"] = wall
    return res


def ergotropy(rho_b):
    """Tr(ρ_b b†b) − Σ_k r_k↓ k (eigenvalues descending against levels 0, 1, 2, ...)."""
    k = np.arange(rho_b.shape[0])
    r = np.sort(np.linalg.eigvalsh(rho_b))[::-1]
    return float(np.dot(np.real(np.diag(rho_b)), k) - np.dot(r, k))


def run_qutip(cutoffs, times):
    import qutip as qt
    na, nb, nc = cutoffs
    eye = [qt.qeye(n) for n in cutoffs]
    def lower(m):
        ops = list(eye)
        ops[m] = qt.destroy(cutoffs[m])
        return qt.tensor(*ops)
    a, b, c = modes = [lower(m) for m in range(3)]
    num = [x.dag() * x for x in modes]
    P = PARAMS
    H = sum(P["delta"][m] * num[m] for m in range(3)) + P["drive"] * (a + a.dag())
    H += sum(0.5 * P["kerr"][m] * modes[m].dag() * modes[m].dag() * modes[m] * modes[m] for m in range(3))
    pairs = [(0, 1), (0, 2), (1, 2)]
    for k, (m, n) in enumerate(pairs):
        g = cplx(P["exchange"][k])
        H += P["cross_kerr"][k] * num[m] * num[n]
        H += g * modes[m].dag() * modes[n] + np.conj(g) * modes[n].dag() * modes[m]
    z_a = cplx(P["p_a"]) * a + cplx(P["p_ca"]) * c
    z_b = cplx(P["p_b"]) * b + cplx(P["p_cb"]) * c
    c_ops = []
    baths = [(P["kappa"][m], P["n_th"][m], modes[m]) for m in range(3)]
    baths += [(P["gamma"], P["n_th_shared"][0], z_a), (P["gamma"], P["n_th_shared"][1], z_b)]
    for rate, n, L in baths:
        if rate * (1 + n) > 0:
            c_ops.append(np.sqrt(rate * (1 + n)) * L)
        if rate * n > 0:
            c_ops.append(np.sqrt(rate * n) * L.dag())
    c_ops += [np.sqrt(P["dephasing"][m]) * num[m] for m in range(3) if P["dephasing"][m] > 0]
    psi_b = qt.coherent(nb, cplx(INITIAL_B), method="analytic").unit()
    psi0 = qt.tensor(qt.basis(na, 0), psi_b, qt.basis(nc, 0))
    opts = dict(QUTIP_OPTIONS, store_states=True)
    t0 = time.perf_counter()
    r = qt.mesolve(H, qt.ket2dm(psi0), times, c_ops, e_ops=[b, num[1]], options=opts)
    wall = time.perf_counter() - t0
    erg = np.array([ergotropy(s.ptrace(1).full()) for s in r.states])
    return {"b": np.asarray(r.expect[0]), "n_b": np.real(np.asarray(r.expect[1])), "ergotropy_b": erg,
            "wall_s": wall, "version": qt.__version__}


def max_diffs(x, y):
    return {k: float(np.max(np.abs(np.asarray(x[k]) - np.asarray(y[k])))) for k in ("b", "n_b", "ergotropy_b")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="write the numbers, versions, parameters and wall times")
    args = ap.parse_args()
    try:
        import qutip  # noqa: F401
    except ImportError:
        sys.exit("qutip is not installed: pip install qutip --break-system-packages")
    if not QBSIM.exists():
        sys.exit(f"{QBSIM} not found: run `cargo build --release` first")
    t_start = time.perf_counter()
    qbsim_version = subprocess.run([str(QBSIM), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    big = [n + 2 for n in CUTOFFS]
    with tempfile.TemporaryDirectory(prefix="qbsim_qutip_terms_") as tmp:
        q = run_qbsim(CUTOFFS, tmp)
        q2 = run_qbsim(big, tmp)
    ref = run_qutip(CUTOFFS, q["t"])
    vs_qutip, vs_cut = max_diffs(q, ref), max_diffs(q, q2)
    top = q["top_level"].max(axis=0).tolist()
    top2 = q2["top_level"].max(axis=0).tolist()
    names = {"b": "max |Δ<b>|", "n_b": "max |Δ<b†b>|", "ergotropy_b": "max |Δ ergotropy_b|"}
    print(f"{qbsim_version}, qutip {ref['version']}, numpy {np.__version__}; t_end = {T_END}, n_save = {N_SAVE}")
    print(f"max over t: <b†b> = {q['n_b'].max():.6f}, ergotropy_b = {q['ergotropy_b'].max():.6f}, "
          f"max (E_B - ergotropy_b) = {(q['n_b'] - q['ergotropy_b']).max():.6f}")
    print(f"top-level populations (max over t) at cutoffs {CUTOFFS}: " + ", ".join(f"{x:.2e}" for x in top))
    print(f"top-level populations (max over t) at cutoffs {big}: " + ", ".join(f"{x:.2e}" for x in top2))
    if q["warnings"]:
        print("qbsim warnings:", q["warnings"].strip())
    print(f"{'':22s} {'qbsim vs QuTiP':>16s} {'cutoffs vs +2':>16s}   (bound {TOL:.0e})")
    for k, name in names.items():
        print(f"{name:22s} {vs_qutip[k]:16.3e} {vs_cut[k]:16.3e}")
    total = time.perf_counter() - t_start
    print(f"wall: qbsim {q['wall_s']:.1f} s (cutoffs), {q2['wall_s']:.1f} s (cutoffs + 2), "
          f"QuTiP {ref['wall_s']:.1f} s; total {total:.1f} s")
    ok = all(v < TOL for v in list(vs_qutip.values()) + list(vs_cut.values()))
    print("PASS" if ok else f"FAIL: a difference exceeds {TOL:.0e}")
    if args.json:
        import scipy
        doc = {"pass": ok, "tolerance": TOL, "qbsim_vs_qutip": vs_qutip, "cutoffs_vs_cutoffs_plus_2": vs_cut,
               "top_level_max": {"cutoffs": top, "cutoffs_plus_2": top2},
               "versions": {"qbsim": qbsim_version, "qutip": ref["version"], "numpy": np.__version__,
                            "scipy": scipy.__version__, "python": sys.version.split()[0]},
               "cutoffs": CUTOFFS, "cutoffs_plus_2": big, "params": PARAMS,
               "initial": {"b": {"coherent": INITIAL_B}}, "time": {"t_end": T_END, "n_save": N_SAVE},
               "solver": {"qbsim": SOLVER, "qutip": QUTIP_OPTIONS},
               "wall_s": {"qbsim": q["wall_s"], "qbsim_plus_2": q2["wall_s"], "qutip": ref["wall_s"],
                          "total": total}}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
