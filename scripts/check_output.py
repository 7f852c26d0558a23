#!/usr/bin/env python3
"""Check that an HDF5 file written by qbsim opens in h5py and holds every path
that docs/output.md documents for the groups present.

Usage: check_output.py FILE.h5 GROUP... [+KEY...]
  e.g.  check_output.py out.h5 / /reduced /phase /phase/markers +markers +e_max
Tables that docs/output.md introduces with "With `KEY` ..." are checked only with +KEY.

For each GROUP listed, every row of docs/output.md whose path lies directly in it
(datasets `/g/x`, attributes `/g/@x`) must exist, complex datasets must read as
complex128, and string attributes as str. Exit code 0 on success."""
import pathlib
import re
import sys

import h5py
import numpy as np

doc = pathlib.Path(__file__).resolve().parent.parent / "docs" / "output.md"
rows = []
tag = None  # tables introduced by "With `key` ..." are conditional on that key
for line in doc.read_text().splitlines():
    if line.startswith("## "):
        tag = None
    t = re.match(r"^With `([a-z_]+)`", line)
    if t:
        tag = t.group(1)
    t = re.match(r"^With .*\(`([a-z_]+)`\)", line)
    if t:
        tag = t.group(1)
    m = re.match(r"^\| `(/[^`]*)` \| (dataset|attribute) \| ([a-z0-9]+) \|", line)
    if m and "<" not in m.group(1):  # `/sweep/params/<key>` names a family
        rows.append(m.groups() + (tag,))

path = sys.argv[1]
groups = [a for a in sys.argv[2:] if not a.startswith("+")]
tags = {a[1:] for a in sys.argv[2:] if a.startswith("+")}
errors = []
with h5py.File(path, "r") as f:
    for p, kind, typ, tag in rows:
        if tag is not None and tag not in tags:
            continue
        obj, _, attr = p.partition("@")
        parent = obj.rstrip("/") or "/"
        if kind == "dataset":
            parent = p.rsplit("/", 1)[0] or "/"
        if parent not in groups:
            continue
        if kind == "attribute":
            if parent not in f or attr not in f[parent].attrs:
                errors.append(f"missing attribute {p}")
                continue
            v = f[parent].attrs[attr]
            if typ == "string" and not isinstance(v, str):
                errors.append(f"{p}: expected str, got {type(v)}")
            if typ == "complex128" and np.asarray(v).dtype != np.complex128:
                errors.append(f"{p}: expected complex128, got {np.asarray(v).dtype}")
        else:
            if p not in f:
                errors.append(f"missing dataset {p}")
                continue
            d = f[p]
            want = {"float64": np.float64, "complex128": np.complex128, "uint8": np.uint8, "int8": np.int8}.get(typ)
            if want is not None and d.dtype != want:
                errors.append(f"{p}: dtype {d.dtype}, documented {typ}")
            if typ == "string":
                d.asstr()[...]
            d[...]
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"ok: {path} has every documented path of {', '.join(groups)}")
