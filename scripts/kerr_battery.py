#!/usr/bin/env python3
"""The Kerr battery of configs/master/kerr_battery.toml against the linear one:
stored energy E_B = <b†b> and the ergotropy of the battery's reduced state.

Runs qbsim twice (K_b = 1 and K_b = 0), prints the passive fraction
1 − ergotropy/E_B at the end of the charge, and draws both into
docs/figures/kerr_battery.png (needs h5py and matplotlib:
`pip install h5py matplotlib`).

Usage: python3 scripts/kerr_battery.py [--qbsim target/release/qbsim] [--out DIR]"""
import argparse
import pathlib
import subprocess
import tempfile

import h5py

root = pathlib.Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--qbsim", default=str(root / "target/release/qbsim"))
ap.add_argument("--out", default=str(root / "docs/figures"))
args = ap.parse_args()
cfg = root / "configs/master/kerr_battery.toml"

runs = {}
with tempfile.TemporaryDirectory() as tmp:
    for label, extra in [("Kerr battery, $K_b = 1$", []), ("linear battery, $K_b = 0$", ["--set", "model.kerr=[0,0,0]"])]:
        out = pathlib.Path(tmp) / "run.h5"
        subprocess.run([args.qbsim, "run", str(cfg), "-o", str(out), "-q", "--overwrite", *extra], check=True)
        with h5py.File(out) as f:
            m = f["master"]
            runs[label] = (m["t"][:], m["energy_b"][:], m["ergotropy_b"][:])

for label, (t, e, w) in runs.items():
    print(f"{label.replace('$', '')}: at t = {t[-1]:g}: E_B = {e[-1]:.6f}, ergotropy = {w[-1]:.6f}, passive fraction = {1 - w[-1] / e[-1]:.4f}")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 4.2), dpi=150)
for (label, (t, e, w)), colour in zip(runs.items(), ["C3", "C0"]):
    ax.plot(t, e, color=colour, lw=2, label=f"$E_B$ ({label})")
    ax.plot(t, w, color=colour, lw=1.5, ls="--", label=f"ergotropy ({label})")
ax.set_xlabel(r"$t$ (config time unit; $\kappa_c = 2$, $\Gamma = 2$)")
ax.set_ylabel(r"energy ($\hbar\omega_b$)")
ax.set_title("Kerr battery: stored energy vs extractable work (master equation)")
ax.legend(fontsize=8, loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
dest = pathlib.Path(args.out) / "kerr_battery.png"
fig.savefig(dest)
print(f"wrote {dest}")
