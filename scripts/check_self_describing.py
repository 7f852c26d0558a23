#!/usr/bin/env python3
"""Check that HDF5 files written by qbsim describe themselves: every dataset has
non-empty string attributes `units` and `description`, and the phase is encoded
one way everywhere (int8 codes, with the code table `phase_codes` beside them).

Usage: check_self_describing.py FILE.h5... ; exit code 0 when every file passes."""
import sys

import h5py
import numpy as np

errors = []


def check(path):
    with h5py.File(path, "r") as f:
        seen = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                seen.append(name)
                for key in ("units", "description"):
                    v = obj.attrs.get(key)
                    if not isinstance(v, str) or not v.strip():
                        errors.append(f"{path}: /{name} has no {key}")
                if name.split("/")[-1] == "phase":
                    check_phase(path, f"/{name}", obj.dtype, obj.parent)
            for key, v in obj.attrs.items():
                if key == "phase":
                    check_phase(path, f"/{name}/@phase", np.asarray(v).dtype, obj)

        f.visititems(visit)
        for key, v in f.attrs.items():
            if key == "phase":
                errors.append(f"{path}: /@phase at the root")


def check_phase(path, where, dtype, group):
    if dtype != np.int8:
        errors.append(f"{path}: {where} is {dtype}, not int8 codes")
    codes = group.attrs.get("phase_codes")
    if codes is None and "phase_codes" in group:
        codes = group["phase_codes"].asstr()[0]
    if not isinstance(codes, str) or "-1 unbroken" not in codes or "2 exceptional point" not in codes:
        errors.append(f"{path}: {where} has no phase_codes table beside it")


for p in sys.argv[1:]:
    check(p)
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"ok: {len(sys.argv) - 1} files describe every dataset; phases are int8 codes with their table")
