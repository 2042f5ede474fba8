#!/usr/bin/env bash
# Install what the app (and, with --test, the test suite) needs on a Debian machine.
# Idempotent: a second run checks and returns quickly.
#   scripts/bootstrap.sh          runtime: Qt/VTK system libraries, .venv with the app
#   scripts/bootstrap.sh --test   also Xvfb, Orthanc, dcmtk, dicom3tools and the test extra
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

runtime_pkgs=(python3 python3-venv libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0
  libxcb-randr0 libxcb-shape0 libxcb-xkb1 libfontconfig1 libdbus-1-3)
test_pkgs=(xvfb xauth orthanc orthanc-dicomweb dcmtk dicom3tools poppler-utils)

pkgs=("${runtime_pkgs[@]}")
[ $want_test = 1 ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The orthanc package starts a system service; the tests run their own instance.
    (command -v service >/dev/null && service orthanc stop >/dev/null 2>&1) || true
  else
    echo "bootstrap: missing Debian packages (run as root or install them): ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extra=""
[ $want_test = 1 ] && extra="[test]"
stamp=".venv/.installed${extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extra}"
  touch "$stamp"
fi
