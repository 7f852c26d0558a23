#!/usr/bin/env python3
"""The paper's "safety protocol" (its SM II) on qbsim's protocol engine: charge the
battery b until E_B reaches E_max, then switch — and see whether the energy stays.

Runs the three presets of configs/protocols/ (all at once, one qbsim process each):
  sm2_reduced.toml     reduced model at the paper's Fig. 6 point (broken phase); the
                       event sets delta_r = 2 at E_B = 1e3 E_r^2           (panel a)
  sm2_realizable.toml  the same detuning pulse at a realizable point near the
                       boundary, master equation + exact moments + reduced (panel b)
  sm2_drive_off.toml   same point, the event switches the drive off       (panel c)
and draws E_B(t) of every engine, E_max and the event times, plus the work W(t) done
by the drive (panel d), into docs/figures/protocols.png. It prints the numbers the
figure shows (event times per engine, E_B after the event, W at the event and at the
end, final efficiency E_B/W) for quoting in the README. Needs h5py and matplotlib
(`pip install h5py matplotlib`) and a built qbsim (`cargo build --release`).

Runtime: 7-10 minutes of wall time on 2 cores (7.4 min measured); nearly all of it is
the master equation of the two realizable runs (stiff there, d = 700), which run
concurrently.
The reduced run takes well under a second. With --h5dir the HDF5 outputs are kept,
and --reuse re-plots from them without running qbsim again.

Usage: python3 scripts/protocol_figure.py [--qbsim target/release/qbsim] [--out DIR]
           [--format png|pdf] [--h5dir DIR [--reuse]]"""
import argparse
import pathlib
import subprocess
import tempfile
import time
import tomllib

import h5py
import numpy as np

root = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--qbsim", default=str(root / "target/release/qbsim"))
ap.add_argument("--out", default=str(root / "docs/figures"), help="directory of the figure")
ap.add_argument("--format", choices=["png", "pdf"], default="png")
ap.add_argument("--h5dir", help="keep the HDF5 outputs here (default: a temporary directory)")
ap.add_argument("--reuse", action="store_true", help="with --h5dir: do not rerun configs whose output exists")
args = ap.parse_args()

CONFIGS = ["sm2_reduced", "sm2_realizable", "sm2_drive_off"]
ENGINES = ["master", "moments", "reduced"]


def load(path):
    """Per engine group: time, E_B, W, E_B/W, event times and names, W at each event."""
    data = {}
    with h5py.File(path) as f:
        for g in ENGINES:
            if g not in f:
                continue
            G = f[g]
            data[g] = dict(
                t=G["t"][:],
                e=G["energy_b"][:],
                w=G["work_in"][:],
                eff=G["efficiency_b"][:],
                ev_t=G["event_times"][:],
                ev_names=list(G["event_names"].asstr()[...]),
                ev_w=G["events/work_in"][:],
                ev_e=G["events/energy_b"][:],
                ev_eff=G["events/efficiency_b"][:],
            )
    return data


def run_all(h5dir):
    todo, procs = [], []
    for name in CONFIGS:
        out = h5dir / f"{name}.h5"
        if args.reuse and out.exists():
            continue
        cmd = [args.qbsim, "run", str(root / "configs/protocols" / f"{name}.toml"), "-o", str(out), "-q", "--overwrite"]
        procs.append((name, subprocess.Popen(cmd, stdout=subprocess.DEVNULL)))
    for name, p in procs:
        if p.wait() != 0:
            raise SystemExit(f"qbsim failed on configs/protocols/{name}.toml (exit {p.returncode})")
    return {name: load(h5dir / f"{name}.h5") for name in CONFIGS}


t0 = time.time()
if args.h5dir:
    h5dir = pathlib.Path(args.h5dir)
    h5dir.mkdir(parents=True, exist_ok=True)
    runs = run_all(h5dir)
else:
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_all(pathlib.Path(tmp))
elapsed = time.time() - t0

# Thresholds and the steady value after the pulse, from the configs themselves.
cfg = {name: tomllib.loads((root / "configs/protocols" / f"{name}.toml").read_text()) for name in CONFIGS}
e_max = {name: cfg[name]["protocol"]["event"][0]["above"] for name in CONFIGS}
red = cfg["sm2_reduced"]["reduced"]
assert red["gamma_a"] == red["gamma_b"], "the closed form below is for gamma_a = gamma_b"
delta_after = cfg["sm2_reduced"]["protocol"]["event"][0]["set"]["reduced.delta_r"]
K = delta_after**2 + red["gamma_a"] ** 2 - 1  # docs/physics.md §4.4, §11.4
e_steady = (red.get("drive_r", 1.0) / K) ** 2


def at(d, t):
    return float(np.interp(t, d["t"], d["e"])), float(np.interp(t, d["t"], d["w"]))


# ------------------------------------------------------------------ numbers
print(f"qbsim runs: {elapsed:.0f} s wall time")
probe = {"sm2_reduced": [8, 10, 15, 20], "sm2_realizable": [30, 32, 35, 40, 60], "sm2_drive_off": [30, 32, 35, 40, 50, 60]}
for name in CONFIGS:
    unit = "tau = g t; energies in E_r^2" if name == "sm2_reduced" else "t in 1/g; energies in quanta (hbar omega_b)"
    print(f"\n{name} (E_max = {e_max[name]:g}; {unit})")
    for g, d in runs[name].items():
        evs = ", ".join(f"{n} at t = {t:.6f}" for n, t in zip(d["ev_names"], d["ev_t"]))
        print(f"  {g:8s} event: {evs}")
        print(f"  {'':8s} at the event: E_B = {d['ev_e'][0]:.6g}, W = {d['ev_w'][0]:.6g}, E_B/W = {d['ev_eff'][0]:.6g}")
        print(f"  {'':8s} max E_B on the save grid = {np.nanmax(d['e']):.6g} at t = {d['t'][np.nanargmax(d['e'])]:g}")
        vals = "; ".join(f"t = {t:g}: E_B = {at(d, t)[0]:.4g}, W = {at(d, t)[1]:.5g}" for t in probe[name])
        print(f"  {'':8s} {vals}")
        print(f"  {'':8s} at the end t = {d['t'][-1]:g}: E_B = {d['e'][-1]:.6g}, W = {d['w'][-1]:.6g}, efficiency E_B/W = {d['eff'][-1]:.6g}")
for g, d in runs["sm2_drive_off"].items():
    (e40, _), (e60, _) = at(d, 40), at(d, 60)
    print(f"sm2_drive_off {g}: decay rate of E_B over 40 <= t <= 60: {np.log(e40 / e60) / 20:.5f} (units of g)")
print(f"\nsm2_reduced: steady value after the pulse (E_r/K)^2 = {e_steady:.6g} (K = delta_r^2 + gamma^2 - 1 = {K:g})")

# ------------------------------------------------------------------ figure
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

plt.rcParams.update({
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": 8,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.linewidth": 0.7,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
})

# qbsim's own engine styles (src/plot/layout.rs, engine_style: tab10 colours 0, 1, 2).
STYLE = {
    "master": dict(color="#1F77B4", ls="-", lw=2.2, label="master equation"),
    "moments": dict(color="#FF7F0E", ls=(0, (4, 2.5)), lw=1.3, label="exact moments"),
    "reduced": dict(color="#2CA02C", ls=(0, (1, 1.4)), lw=1.6, label="reduced model"),
}
PROTO = {"sm2_realizable": ("#9467BD", r"detuning pulse, $\delta_r \to 2$"), "sm2_drive_off": ("#D62728", "drive switched off")}
GREY = "#6E6E6E"

fig, axs = plt.subplots(2, 2, figsize=(7.2, 5.5), dpi=200)
(ax_a, ax_b), (ax_c, ax_d) = axs


def emax_line(ax, value, text, x):
    ax.axhline(value, color=GREY, ls=":", lw=0.9, zorder=1)
    ax.text(x, value * 1.35, text, color=GREY, fontsize=7, ha="right", va="bottom")


def event_lines(ax, data):
    for g in ENGINES:
        if g in data:
            s = STYLE[g]
            for t in data[g]["ev_t"]:
                ax.axvline(t, color=s["color"], ls=s["ls"], lw=0.8, alpha=0.8, zorder=1)


# (a) reduced model at the paper's point
d = runs["sm2_reduced"]["reduced"]
tev = d["ev_t"][0]
m = d["e"] > 0
ax_a.semilogy(d["t"][m], d["e"][m], color=STYLE["reduced"]["color"], lw=1.5)
emax_line(ax_a, e_max["sm2_reduced"], r"$E_{\max}$", 19.7)
ax_a.axvline(tev, color=GREY, lw=0.8, zorder=1)
ax_a.text(tev - 0.3, 2.5e-4, rf"pulse $\delta_r\!\to\!{delta_after:g}$" + "\n" + rf"at $\tau$ = {tev:.2f}", fontsize=7, ha="right", va="bottom")
ax_a.axhline(e_steady, color="k", ls="--", lw=0.8, zorder=1)
ax_a.annotate("not locked: relaxes\nto the steady value\n" + rf"$(E_r/\mathcal{{K}})^2$ = {e_steady:.4f}", xy=(19.3, e_steady),
              xytext=(19.7, 12), fontsize=7, ha="right", va="bottom", arrowprops=dict(arrowstyle="->", lw=0.6, color="k", shrinkB=1))
ax_a.set_xlim(0, 20)
ax_a.set_ylim(1e-4, 2e4)
ax_a.set_xlabel(r"reduced time $\tau = g\,t$")
ax_a.set_ylabel(r"$E_B$ (units of $E_r^2$)")
ax_a.text(0.03, 0.96, "reduced model, paper's point\n" + r"$\gamma_a = \gamma_b = 0.5$ (not realizable)", transform=ax_a.transAxes,
          fontsize=7, va="top", ha="left")

# (b), (c) the realizable point
for ax, name, what in [(ax_b, "sm2_realizable", r"detuning pulse $\delta_r \to 2$, drive on"), (ax_c, "sm2_drive_off", "drive switched off")]:
    data = runs[name]
    for g in ENGINES:
        if g in data:
            s = STYLE[g]
            m = data[g]["e"] > 0
            ax.semilogy(data[g]["t"][m], data[g]["e"][m], color=s["color"], ls=s["ls"], lw=s["lw"], label=s["label"])
    emax_line(ax, e_max[name], r"$E_{\max}$", 58.5)
    event_lines(ax, data)
    ax.set_xlim(0, 60)
    ax.set_ylim(1e-4, 3)
    ax.set_xlabel(r"time $t$ (units of $1/g$)")
    ax.set_ylabel(r"$E_B$ (units of $\hbar\omega_b$)")
    ax.text(0.03, 0.96, "realizable point, $\\gamma_a = \\gamma_b = 1.05$\n" + what, transform=ax.transAxes, fontsize=7, va="top", ha="left")

ev_r = runs["sm2_realizable"]["reduced"]["ev_t"][0]
ev_m = runs["sm2_realizable"]["master"]["ev_t"][0]
ax_b.text(ev_r - 0.6, 2.2e-4, f"events\n{ev_r:.2f} (reduced)\n{ev_m:.2f} (master, moments)", fontsize=6.5, ha="right", va="bottom")
e_end = runs["sm2_realizable"]["master"]["e"][-1]
mant, expo = f"{e_end:.1e}".split("e")
ax_b.text(59, e_end / 1.5, rf"steady value ${mant}\times10^{{{int(expo)}}}$", fontsize=7, ha="right", va="top")
ax_b.legend(loc="upper right", bbox_to_anchor=(1.0, 0.86), frameon=False, handlelength=2.6)
ax_c.text(59, 8e-3, "after the event:\nfree decay of the battery", fontsize=7, ha="right", va="top")

# (d) work done by the drive
for name, (colour, label) in PROTO.items():
    for g in ["master", "reduced"]:
        dd = runs[name][g]
        ax_d.plot(dd["t"], dd["w"], color=colour, ls=STYLE[g]["ls"], lw=1.6 if g == "master" else 1.4)
event_lines(ax_d, runs["sm2_realizable"])
ax_d.set_xlim(0, 60)
ax_d.set_ylim(0, None)
ax_d.set_xlabel(r"time $t$ (units of $1/g$)")
ax_d.set_ylabel(r"work by the drive $W$ (units of $\hbar\omega_b$)")
handles = [Line2D([], [], color=c, lw=1.6, label=l) for c, l in PROTO.values()]
handles += [Line2D([], [], color="k", ls=STYLE[g]["ls"], lw=1.4, label=l) for g, l in [("master", "master equation (= moments)"), ("reduced", "reduced model")]]
ax_d.legend(handles=handles, loc="lower right", frameon=False, handlelength=2.6)
ax_d.text(0.03, 0.96, "realizable point", transform=ax_d.transAxes, fontsize=7, va="top", ha="left")

for ax, letter in zip(axs.flat, "abcd"):
    ax.text(-0.15, 1.02, f"({letter})", transform=ax.transAxes, fontsize=10, fontweight="bold", va="bottom", ha="left")

fig.tight_layout(w_pad=1.5, h_pad=1.2)
dest = pathlib.Path(args.out) / f"protocols.{args.format}"
dest.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(dest)
print(f"wrote {dest}")
