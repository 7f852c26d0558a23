#!/usr/bin/env python3
"""E_B(t) of a qbsim run with h5py + matplotlib (`qbsim plot` draws the same
without Python). Needs: pip install h5py matplotlib
Usage: python3 scripts/plot_example.py fig3a.h5 [out.png]"""
import sys
import h5py
import matplotlib.pyplot as plt

path = sys.argv[1]
with h5py.File(path) as f:
    for engine in ("master", "moments", "reduced"):
        if engine in f:
            g = f[engine]
            plt.plot(g["t"][:], g["energy_b"][:], label=engine, ls="--" if engine == "moments" else "-")
    phase = f["reduced"].attrs["phase"] if "reduced" in f else ""
plt.yscale("log" if phase == "broken" else "linear")
plt.xlabel("t (tau = g t for a [reduced] run)")
plt.ylabel("E_B = <b+b>  (hbar omega_b)")
plt.title(f"{path}: battery energy" + (f", {phase} phase" if phase else ""))
plt.legend()
plt.savefig(sys.argv[2] if len(sys.argv) > 2 else path.rsplit(".", 1)[0] + "_energy.png", dpi=120)
