# Installs what building and testing qbsim needs on a fresh Debian machine, if
# missing (idempotent; sourced by quickstart.sh and test.sh):
#   - libhdf5-dev + pkg-config: the system HDF5 that hdf5-metno links against
#     (on clusters use `module load hdf5` instead);
#   - h5py for python3: only the tests use it, to read our files as users do.
set -euo pipefail

need_apt=()
dpkg -s libhdf5-dev >/dev/null 2>&1 || need_apt+=(libhdf5-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
        echo "qbsim: please install ${need_apt[*]} (root needed)" >&2
        exit 1
    fi
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "qbsim: installing ${need_apt[*]} with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${QBSIM_NEED_H5PY:-0}" = 1 ] && ! python3 -c "import h5py" >/dev/null 2>&1; then
    echo "qbsim: installing h5py with pip (used by the tests only)" >&2
    python3 -m pip install --quiet h5py 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages h5py
fi
