#!/usr/bin/env bash
# Idempotent set-up of everything hacore needs on a Debian machine, as root:
# apt packages, kernel headers for bcc, the virtual environment (Debian's
# python3 with system site packages, for bcc and the nftables binding) and
# the compiled fast path. Each step checks first and does nothing when done.
#
#   tools/setup.sh           what the daemon and the demo need
#   tools/setup.sh --peers   also keepalived and conntrackd, the comparison
#                            peers of the tests and benchmarks (and tcpdump,
#                            which watches keepalived on the wire; Chromium for
#                            the console's browser tests; matplotlib for the
#                            benches' figures)
#
# The host is left as it was found: nothing is written under /lib/modules or
# /usr/local, and a peer installed here has its unit disabled and stopped.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "run as root: the lab and the daemon need network namespaces and netlink"
  exit 1
fi
peers=0
[ "${1:-}" = "--peers" ] && peers=1

arch=$(dpkg --print-architecture)
kver=$(uname -r)
apt_pkgs=(python3-venv python3-dev gcc libssl-dev python3-bpfcc python3-nftables nftables
  conntrack iproute2 iputils-ping openssh-client python3-systemd)
# Exact headers where Debian has them, else the architecture's current ones:
# our BPF programs use only UAPI structures, whose layout does not change.
exact_headers=0
if [ ! -e "/lib/modules/$kver/build" ]; then
  if apt-cache show "linux-headers-$kver" >/dev/null 2>&1; then
    apt_pkgs+=("linux-headers-$kver")
    exact_headers=1
  else
    apt_pkgs+=("linux-headers-$arch")
  fi
fi
peer_pkgs=(keepalived conntrackd tcpdump chromium)  # tcpdump: the takeover bench reads keepalived on the
# wire; chromium: the web console's browser tests (Playwright drives Debian's, no download)

missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || printf '%s\n' "$p"
  done
}

apt_install() {
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

mapfile -t missing < <(missing_of "${apt_pkgs[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi

if [ "$peers" = 1 ]; then
  mapfile -t missing < <(missing_of "${peer_pkgs[@]}")
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing the comparison peers (kept disabled and stopped): ${missing[*]}"
    # Debian's policy-rc.d hook keeps their units from starting during the
    # install; one that is already there (a container's) is left as it is.
    policy=/usr/sbin/policy-rc.d
    ours=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy"
      chmod 755 "$policy"
      ours=1
      trap '[ "$ours" = 1 ] && rm -f "$policy"' EXIT
    fi
    apt_install "${missing[@]}"
    if [ "$ours" = 1 ]; then rm -f "$policy"; ours=0; fi
    for p in "${missing[@]}"; do
      if command -v systemctl >/dev/null; then
        systemctl disable "$p" >/dev/null 2>&1 || true
        systemctl stop "$p" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "creating $venv from /usr/bin/python3 with system site packages"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi

# bcc reads headers from /lib/modules/<kernel>/build, or from the one tree
# that BCC_KERNEL_SOURCE names. Debian splits a tree into -common (source) and
# -<arch> (generated); without exact headers, merge the newest pair into a
# tree of links inside the venv, which hacore hands to bcc.
headers_dir="$venv/share/hacore/kernel-headers"
if [ ! -e "/lib/modules/$kver/build" ] && [ "$exact_headers" = 0 ]; then
  nearest=$(ls -d /usr/src/linux-headers-*-"$arch" 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$nearest" ]; then
    say "no kernel headers found: bcc cannot compile BPF programs here (the daemon does not need them)"
  elif [ "$(readlink "$headers_dir.from" 2>/dev/null)" != "$nearest" ]; then
    rm -rf "$headers_dir" "$headers_dir.from"
    mkdir -p "$headers_dir"
    cp -rs "${nearest%-"$arch"}-common/." "$headers_dir/"
    cp -rsf "$nearest/." "$headers_dir/"
    ln -s "$nearest" "$headers_dir.from"
    say "no linux-headers-$kver in Debian: bcc gets $(basename "$nearest") through BCC_KERNEL_SOURCE"
  fi
fi

# Rebuild only when the build inputs changed since the last install.
stamp="$venv/.hacore-build"
digest=$(cat "$top/pyproject.toml" "$top/src/hacore_lab/pyproject.toml" "$top/setup.py" "$top/MANIFEST.in" \
  "$top"/src/hacore/_fastpath*.{pyx,pxd,pyi,pxi} "$top"/bpf/*.h | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ] || ! "$venv/bin/python" -c 'import hacore._fastpath, hacore_lab' 2>/dev/null; then
  say "building hacore and its compiled fast path, and the lab beside it (log: $venv/build.log)"
  # The lab (src/hacore_lab) is a distribution of its own: the demo, tests and benches use it, the
  # product wheel does not carry it.
  if ! { "$venv/bin/pip" install -e "$top[test]" && "$venv/bin/pip" install -e "$top/src/hacore_lab"; } \
      >"$venv/build.log" 2>&1; then
    tail -n 40 "$venv/build.log" >&2
    say "build failed"
    exit 1
  fi
  echo "$digest" > "$stamp"
fi
if [ "$peers" = 1 ] && ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  say "installing matplotlib: the benches draw their figures with it"
  if ! "$venv/bin/pip" install -e "$top/src/hacore_lab[plots]" >>"$venv/build.log" 2>&1; then
    tail -n 20 "$venv/build.log" >&2
    say "installing matplotlib failed"
    exit 1
  fi
fi
