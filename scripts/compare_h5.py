#!/usr/bin/env python3
"""Compare two qbsim HDF5 files dataset by dataset, bit for bit.

Usage: compare_h5.py A.h5 B.h5 [--ignore PATH ...]
Exit 0 when every dataset (except the ignored ones) has the same shape, dtype
and bytes in both files, and both files have the same datasets."""
import sys

import h5py
import numpy as np

args = sys.argv[1:]
a, b = args[0], args[1]
ignore = set(args[args.index("--ignore") + 1:]) if "--ignore" in args else set()


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


da, db = datasets(h5py.File(a, "r")), datasets(h5py.File(b, "r"))
bad = sorted((set(da) ^ set(db)) - ignore)
for name in sorted(set(da) & set(db) - ignore):
    x, y = da[name], db[name]
    if x.dtype == object or y.dtype == object:
        same = x.shape == y.shape and list(np.ravel(x)) == list(np.ravel(y))
    else:
        same = x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()
    if not same:
        bad.append(name)
if bad:
    print("differ:", ", ".join(bad))
    sys.exit(1)
print(f"identical: {len(set(da) - ignore)} datasets")
