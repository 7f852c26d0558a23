#!/usr/bin/env python3
"""Cross-check qbsim's time-dependent protocols ([[protocol.step]]) against piecewise QuTiP.

What it compares
    The config configs/protocols/qutip_check.toml (or --config FILE): a linear,
    zero-temperature three-mode point, vacuum start, whose [model] keys are changed by
    [[protocol.step]] entries (a step at time `at` replaces the keys in its `set` table
    from that time on, piecewise constant; the state is continuous across it). qbsim runs
    the config as it is (its [solver]: dop853, rtol 1e-10, atol 1e-12, engines master and
    moments). The reference is QuTiP 5 `mesolve` (adams, rtol 1e-10, atol 1e-12) run
    PIECEWISE: one segment per constant stretch, each started from the previous
    segment's final density matrix, at the SAME Fock cutoffs. It prints max over the save
    times of |Δ<b>| (/master/b), |Δ<b†b>| (/master/n_b), |Δ<a†a>| (/master/n_a) and
    |ΔW| (/master/work_in), W(t) = ∫_0^t P_in dt' the work done by the drive,
    P_in = −2 E(t) Im<a>(t) (quanta per unit time). QuTiP's W: <a> saved on a grid
    FINE = 20 times finer than the save grid, composite Simpson over each save interval
    (every interval lies inside one segment, where the integrand is smooth; E jumps only
    at step times), summed; the Simpson estimate from half the points gives the
    quadrature error, printed. qbsim rows are matched to the save grid by time
    (np.isclose, atol 1e-9·t_end): extra rows at event times are skipped (and counted),
    duplicate rows at a step time are all compared (the observables are continuous).
    Bonus line (not in the exit status): /moments/n_b (exact moments, untruncated) vs
    QuTiP; it differs by the truncation error, bounded by QuTiP's top-level
    populations (max over t, printed; below 1e-9 in every mode at this point).
    Conventions (docs/physics.md §1): ħ = 1, frame rotating at the drive; basis
    |n_a, n_b, n_c> = qutip.tensor(a, b, c); H = Σ δ_j j†j + E(a + a†);
    D[L]ρ = LρL† − ½{L†L, ρ}; jumps √κ_j j (j = a, b, c), √Γ z_a, √Γ z_b with
    z_a = p_a a + p_ca c, z_b = p_b b + p_cb c. All rates are Lindblad rates. Scope: only
    these [model] keys (non-zero thermal, Kerr, exchange or dephasing keys are refused),
    a vacuum start, and sudden steps (no `ramp`, no [[protocol.event]]) at save times.

Exit status: 0 if every qbsim-vs-QuTiP difference is below TOL = 1e-7 (and every save
time has a qbsim row), 1 otherwise; 2 if qbsim fails (its stderr is printed), the
binary, qutip or a dataset group is missing, or the config is outside the scope above.

How to run (from the repository root, after `cargo build --release`; needs h5py and
qutip >= 5: `pip install qutip --break-system-packages`):

    python3 scripts/compare_qutip_protocol.py [--config FILE] [--json out.json] [--qutip-only]

--qutip-only skips qbsim and prints the QuTiP reference alone (values at the step times
and the end, W, top levels, timing). --json FILE writes the differences, versions
(qutip, numpy, scipy, qbsim --version), the parsed config, segments and wall times.
Runtime: about 4 min on 2 cores for the default config: QuTiP's single-threaded
mesolve at d = 6*10*5 = 300 takes ~3 min (three segments of 10 time units, saved every
0.005; its step is stability-limited by the fast mediator's top levels, so looser
tolerances do not help: cost ~ d^2 * t_end), qbsim ~45 s. At this point adams is
~4x more accurate than bdf (max |Δ<b>| 3.6e-9 vs 1.4e-8) and as fast (QuTiP's zvode
uses functional iteration, no Jacobian, for both).
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QBSIM = ROOT / "target" / "release" / "qbsim"
CONFIG = ROOT / "configs" / "protocols" / "qutip_check.toml"
TOL = 1e-7
TRUNCATION_NOTE = 1e-9  # top-level population above which the bonus line is not meaningful
FINE = 20  # QuTiP saves FINE points per save interval for the work integral (even: Simpson)
QUTIP_OPTIONS = {"method": "adams", "atol": 1e-12, "rtol": 1e-10, "nsteps": 10**7}
MODEL_KEYS = {"cutoffs", "delta", "drive", "kappa", "gamma", "p_a", "p_b", "p_ca", "p_cb"}
ZERO_KEYS = {"n_th", "n_th_shared", "kerr", "cross_kerr", "exchange", "dephasing"}  # allowed if all zero
warnings.filterwarnings("ignore", message="matplotlib not found")


class ConfigError(Exception):
    pass


def cplx(v):
    return complex(v[0], v[1]) if isinstance(v, list) else complex(v)


def is_zero(v):
    return all(is_zero(x) for x in v) if isinstance(v, list) else v == 0


def load_config(path):
    """The config's model, time grid and segments [(t0, t1, model dict)]."""
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
    if "model" not in cfg:
        raise ConfigError("no [model] section")
    model = dict(cfg["model"])
    for k in list(model):
        if k in ZERO_KEYS and is_zero(model[k]):
            del model[k]
        elif k not in MODEL_KEYS:
            raise ConfigError(f"[model] {k} is outside this script's scope (linear, zero temperature)")
    model.setdefault("delta", [0.0, 0.0, 0.0])
    model.setdefault("kappa", [0.0, 0.0, 0.0])
    model.setdefault("gamma", 0.0)
    model.setdefault("drive", 0.0)
    for k in ("p_a", "p_b", "p_ca", "p_cb"):
        model.setdefault(k, 1.0)
    if "cutoffs" not in model:
        raise ConfigError("[model] cutoffs missing")
    for mode, state in cfg.get("initial", {}).items():
        if state != "vacuum":
            raise ConfigError(f"[initial] {mode} = {state!r}: only a vacuum start is supported")
    t_end, n_save = float(cfg["time"]["t_end"]), int(cfg["time"]["n_save"])
    times = np.linspace(0.0, t_end, n_save)
    dt = t_end / (n_save - 1)
    protocol = cfg.get("protocol", {})
    if protocol.get("event"):
        raise ConfigError("[[protocol.event]] is outside this script's scope (sudden steps only)")
    steps = sorted(protocol.get("step", []), key=lambda s: float(s["at"]))
    if any(float(s.get("ramp", 0.0)) != 0.0 for s in steps):
        raise ConfigError("a step with a ramp is outside this script's scope (sudden steps only)")
    segments, current, t0 = [], dict(model), 0.0
    for s in steps:
        at = float(s["at"])
        k = round(at / dt)
        if not (0.0 < at < t_end) or abs(k * dt - at) > 1e-9 * t_end:
            raise ConfigError(f"step at {at}: must lie strictly inside (0, t_end) on the save grid (dt = {dt})")
        if at == t0:
            raise ConfigError(f"two steps at {at}")
        segments.append((t0, at, dict(current)))
        for key, value in s.get("set", {}).items():
            section, _, name = key.partition(".")
            if section != "model" or name not in MODEL_KEYS - {"cutoffs"}:
                raise ConfigError(f"step at {at}: set {key!r} is outside this script's scope")
            current[name] = value
        t0 = at
    segments.append((t0, t_end, dict(current)))
    return cfg, model, times, segments


def run_qbsim(config, tmp):
    out = Path(tmp) / "protocol.h5"
    cmd = [str(QBSIM), "run", str(config), "--output", str(out), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"qbsim failed (exit {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(2)
    res = {"wall_s": wall}
    with h5py.File(out, "r") as f:
        for grp in ("master", "moments"):
            if grp not in f:
                res[grp] = None
                continue
            g = f[grp]
            res[grp] = {k: g[k][()] for k in ("t", "a", "b", "n_a", "n_b", "work_in", "top_level") if k in g}
            w = g.attrs.get("warnings", b"")
            res[grp]["warnings"] = w.decode() if isinstance(w, bytes) else str(w)
    return res


def simpson_per_interval(y, h, m):
    """Composite Simpson over consecutive blocks of m (even) intervals of width h: one value per block."""
    y = y.reshape(-1)
    nblk = (len(y) - 1) // m
    idx = np.arange(nblk)[:, None] * m + np.arange(m + 1)[None, :]
    w = np.ones(m + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return (y[idx] * w).sum(axis=1) * h / 3.0


def run_qutip(model, times, segments):
    import qutip as qt
    cutoffs = list(model["cutoffs"])
    eye = [qt.qeye(n) for n in cutoffs]

    def on_mode(m, op):
        ops = list(eye)
        ops[m] = op
        return qt.tensor(*ops)

    a, b, c = modes = [on_mode(m, qt.destroy(cutoffs[m])) for m in range(3)]
    num = [x.dag() * x for x in modes]
    top = [on_mode(m, qt.fock_dm(cutoffs[m], cutoffs[m] - 1)) for m in range(3)]

    def liouvillian_parts(P):
        H = sum(P["delta"][m] * num[m] for m in range(3)) + P["drive"] * (a + a.dag())
        z_a = cplx(P["p_a"]) * a + cplx(P["p_ca"]) * c
        z_b = cplx(P["p_b"]) * b + cplx(P["p_cb"]) * c
        rates = [(P["kappa"][m], modes[m]) for m in range(3)] + [(P["gamma"], z_a), (P["gamma"], z_b)]
        return H, [np.sqrt(r) * L for r, L in rates if r > 0]

    dt = times[1] - times[0]
    h = dt / FINE
    rho = qt.ket2dm(qt.tensor(*[qt.basis(n, 0) for n in cutoffs]))
    opts = dict(QUTIP_OPTIONS, store_final_state=True)
    e_ops = [a, b, num[0], num[1], num[2]] + top
    out = {k: np.full(len(times), np.nan, dtype=complex if k in ("a", "b") else float)
           for k in ("a", "b", "n_a", "n_b", "n_c", "work_in", "work_in_half")}
    out["top_level"] = np.zeros((len(times), 3))
    seg_walls, W, W_half, top_fine = [], 0.0, 0.0, np.zeros(3)
    for (t0, t1, P) in segments:
        k0, k1 = round(t0 / dt), round(t1 / dt)
        tl = np.linspace(times[k0], times[k1], (k1 - k0) * FINE + 1)
        H, c_ops = liouvillian_parts(P)
        w0 = time.perf_counter()
        r = qt.mesolve(H, rho, tl, c_ops, e_ops=e_ops, options=opts)
        seg_walls.append(time.perf_counter() - w0)
        rho = r.final_state
        ex = [np.asarray(e) for e in r.expect]
        sl = slice(k0, k1 + 1)
        out["a"][sl], out["b"][sl] = ex[0][::FINE], ex[1][::FINE]
        for k, e in zip(("n_a", "n_b", "n_c"), ex[2:5]):
            out[k][sl] = np.real(e[::FINE])
        out["top_level"][sl] = np.real(np.array(ex[5:8]).T[::FINE])
        p_in = -2.0 * P["drive"] * np.imag(ex[0])
        dW = simpson_per_interval(p_in, h, FINE)
        dW_half = simpson_per_interval(p_in[::2], 2 * h, FINE // 2)
        out["work_in"][k0] = W
        out["work_in_half"][k0] = W_half
        out["work_in"][k0 + 1:k1 + 1] = W + np.cumsum(dW)
        out["work_in_half"][k0 + 1:k1 + 1] = W_half + np.cumsum(dW_half)
        W, W_half = out["work_in"][k1], out["work_in_half"][k1]
        top_fine = np.maximum(top_fine, np.real(np.array(ex[5:8])).max(axis=1))
    out["top_level_fine_max"] = top_fine
    out["quadrature_err"] = float(np.max(np.abs(out["work_in"] - out["work_in_half"])) / 15.0)
    out["wall_s"], out["segment_wall_s"], out["version"] = sum(seg_walls), seg_walls, qt.__version__
    out["d"] = int(np.prod(cutoffs))
    return out


def match_rows(t_q, times):
    """For every qbsim row the index of its save time (or -1: an extra row), and the save times without a row."""
    tol = 1e-9 * max(1.0, float(times[-1]))
    idx = np.full(len(t_q), -1)
    for i, t in enumerate(t_q):
        hit = np.flatnonzero(np.isclose(times, t, rtol=0.0, atol=tol))
        if len(hit):
            idx[i] = hit[0]
    missing = sorted(set(range(len(times))) - set(idx[idx >= 0].tolist()))
    return idx, missing


def max_diff(q, ref, key, idx):
    if key not in q:
        return None
    sel = idx >= 0
    return float(np.max(np.abs(np.asarray(q[key])[sel] - ref[key][idx[sel]])))


def print_reference(ref, times, segments):
    print(f"QuTiP {ref['version']} mesolve ({QUTIP_OPTIONS['method']}, rtol {QUTIP_OPTIONS['rtol']:.0e}, "
          f"atol {QUTIP_OPTIONS['atol']:.0e}), d = {ref['d']}, {len(segments)} segments, "
          f"saved every {(times[1] - times[0]) / FINE:g}")
    marks = sorted({0} | {round(t1 / (times[1] - times[0])) for (_, t1, _) in segments})
    print(f"{'t':>8s} {'<a†a>':>12s} {'<b†b>':>12s} {'<c†c>':>12s} {'Re<b>':>13s} {'Im<b>':>13s} {'W':>13s}")
    for k in marks:
        print(f"{times[k]:8.3f} {ref['n_a'][k]:12.9f} {ref['n_b'][k]:12.9f} {ref['n_c'][k]:12.9f} "
              f"{ref['b'][k].real:13.9f} {ref['b'][k].imag:13.9f} {ref['work_in'][k]:13.9f}")
    print(f"max over t: <a†a> = {ref['n_a'].max():.6f}, <b†b> = {ref['n_b'].max():.6f} "
          f"(t = {times[np.argmax(ref['n_b'])]:g}), <c†c> = {ref['n_c'].max():.6f}")
    tl = ref["top_level_fine_max"]
    print("QuTiP top-level populations (max over t, fine grid) a, b, c: " + ", ".join(f"{x:.2e}" for x in tl)
          + ("" if tl.max() < TRUNCATION_NOTE else f"   NOTE: above {TRUNCATION_NOTE:.0e}: raise the cutoffs"))
    print(f"W quadrature error estimate (Simpson, {FINE} vs {FINE // 2} per save interval, /15): "
          f"{ref['quadrature_err']:.1e}")
    print("QuTiP wall: " + " + ".join(f"{w:.1f}" for w in ref["segment_wall_s"]) + f" = {ref['wall_s']:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(CONFIG), help=f"protocol config (default {CONFIG.relative_to(ROOT)})")
    ap.add_argument("--json", metavar="FILE", help="write the numbers, versions, config and wall times")
    ap.add_argument("--qutip-only", action="store_true", help="skip qbsim: print the QuTiP reference alone")
    args = ap.parse_args()
    try:
        import qutip  # noqa: F401
    except ImportError:
        print("qutip is not installed: pip install qutip --break-system-packages", file=sys.stderr)
        return 2
    try:
        cfg, model, times, segments = load_config(args.config)
    except (ConfigError, KeyError, OSError, tomllib.TOMLDecodeError) as e:
        print(f"{args.config}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    qbsim_version, q = None, None
    if not args.qutip_only:
        if not QBSIM.exists():
            print(f"{QBSIM} not found: run `cargo build --release` first", file=sys.stderr)
            return 2
        qbsim_version = subprocess.run([str(QBSIM), "--version"], capture_output=True, text=True).stdout.strip()
        with tempfile.TemporaryDirectory(prefix="qbsim_qutip_protocol_") as tmp:
            q = run_qbsim(args.config, tmp)
        if q["master"] is None:
            print("qbsim output has no /master group (is \"master\" in [solver] engines?)", file=sys.stderr)
            return 2
    print(f"config {args.config}: cutoffs {model['cutoffs']}, t_end = {times[-1]:g}, n_save = {len(times)}")
    for (t0, t1, P) in segments:
        print(f"  [{t0:g}, {t1:g}]: delta = {P['delta']}, drive = {P['drive']}, kappa = {P['kappa']}, "
              f"gamma = {P['gamma']}, p = ({P['p_a']}, {P['p_b']}, {P['p_ca']}, {P['p_cb']})")
    ref = run_qutip(model, times, segments)
    print_reference(ref, times, segments)
    total = time.perf_counter() - t_start
    doc = {"tolerance": TOL, "config": str(args.config), "model": model,
           "segments": [{"t0": t0, "t1": t1, "model": P} for (t0, t1, P) in segments],
           "time": {"t_end": float(times[-1]), "n_save": len(times)}, "fine": FINE,
           "solver": {"qbsim": cfg.get("solver", {}), "qutip": QUTIP_OPTIONS},
           "qutip_top_level_max": ref["top_level_fine_max"].tolist(),
           "qutip_work_quadrature_err": ref["quadrature_err"],
           "qutip_reference": {"n_b_max": float(ref["n_b"].max()), "n_a_max": float(ref["n_a"].max()),
                               "work_in_final": float(ref["work_in"][-1])}}
    ok = True
    if q is None:
        print(f"(--qutip-only: qbsim not run) total {total:.1f} s")
    else:
        m = q["master"]
        idx, missing = match_rows(m["t"], times)
        extra = int(np.sum(idx < 0))
        names = {"b": "max |Δ<b>|", "n_b": "max |Δ<b†b>|", "n_a": "max |Δ<a†a>|", "work_in": "max |ΔW|"}
        diffs = {k: max_diff(m, ref, k, idx) for k in names}
        print(f"{qbsim_version}: /master has {len(m['t'])} rows ({extra} extra, skipped)"
              + (f"; save times WITHOUT a row: {len(missing)} (first t = {times[missing[0]]:g})" if missing else ""))
        if m["warnings"]:
            print("qbsim warnings:", m["warnings"].strip())
        print(f"{'qbsim master vs QuTiP':24s} (bound {TOL:.0e})")
        for k, name in names.items():
            v = diffs[k]
            print(f"  {name:22s} " + (f"{v:12.3e}" if v is not None else f"     MISSING (/master/{k})"))
        ok = not missing and all(v is not None and v < TOL for v in diffs.values())
        bonus = None
        mo = q["moments"]
        if mo is not None and "n_b" in mo:
            idx_m, missing_m = match_rows(mo["t"], times)
            bonus = max_diff(mo, ref, "n_b", idx_m)
            print(f"bonus (not in exit status): moments vs QuTiP max |Δ<b†b>| = {bonus:.3e}"
                  + (" (exceeds the bound)" if bonus >= TOL else "")
                  + (f"; {len(missing_m)} save times without a /moments row" if missing_m else ""))
        else:
            print("bonus: no /moments/n_b in qbsim's output")
        print(f"wall: qbsim {q['wall_s']:.1f} s, QuTiP {ref['wall_s']:.1f} s; total {total:.1f} s")
        print("PASS" if ok else f"FAIL: a difference exceeds {TOL:.0e} (or a dataset or save time is missing)")
        doc.update({"pass": ok, "qbsim_vs_qutip": diffs, "moments_vs_qutip_n_b": bonus,
                    "extra_rows": extra, "missing_save_times": [float(times[i]) for i in missing],
                    "qbsim_warnings": m["warnings"]})
    if args.json:
        import scipy
        doc["versions"] = {"qbsim": qbsim_version, "qutip": ref["version"], "numpy": np.__version__,
                           "scipy": scipy.__version__, "h5py": h5py.__version__, "python": sys.version.split()[0]}
        doc["wall_s"] = {"qbsim": None if q is None else q["wall_s"], "qutip": ref["wall_s"],
                         "qutip_segments": ref["segment_wall_s"], "total": total}
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
