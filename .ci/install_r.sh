#!/usr/bin/env bash
# Install R (Debian packages) and the pinned rpy2 into the given Python, where possible.
# Without root/sudo or apt this prints why and carries on: the R tests are then skipped.
set -u
VPY=${1:-python3}
have_r() { command -v R >/dev/null 2>&1 && R --slave -e 'suppressMessages(library(survival)); suppressMessages(library(ConsensusClusterPlus))' >/dev/null 2>&1; }
if ! have_r; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      echo "install_r: not root and no sudo: R tests will be skipped"; exit 0; fi
  fi
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null 2>&1 || echo "install_r: apt-get update failed"
    $SUDO apt-get install -y -qq --no-install-recommends r-base-core r-base-dev r-cran-survival \
      r-bioc-consensusclusterplus >/dev/null 2>&1 || echo "install_r: apt-get install of R failed: R tests will be skipped"
  else
    echo "install_r: no apt-get: R tests will be skipped"; exit 0
  fi
fi
if have_r; then
  "$VPY" -m pip install -q 'rpy2<3.6.7' 'rpy2-rinterface<3.6.6' || echo "install_r: rpy2 install failed: R tests will be skipped"
fi
exit 0
