#!/usr/bin/env bash
# Idempotent set-up of everything hacore needs on a Debian machine, as root:
# apt packages, kernel headers for bcc, the virtual environment (Debian's
# python3 with system site packages, for bcc and the nftables binding) and
# the compiled fast path. Each step checks first and does nothing when done.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "run as root: the lab and the daemon need network namespaces and netlink"
  exit 1
fi

apt_pkgs=(python3-venv python3-dev gcc python3-bpfcc python3-nftables nftables
  conntrack iproute2 iputils-ping openssh-client keepalived conntrackd
  linux-headers-amd64)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# bcc compiles BPF C against /lib/modules/$(uname -r)/build. Use the exact
# headers where Debian has them; otherwise link the nearest ones: our BPF
# programs use only UAPI structures, whose layout does not change.
kver=$(uname -r)
if [ ! -e "/lib/modules/$kver/build" ] || [ ! -e "/lib/modules/$kver/source" ]; then
  if apt-cache show "linux-headers-$kver" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "linux-headers-$kver" >/dev/null
  else
    # Debian splits headers into -amd64 (build) and -common (source), as its
    # own /lib/modules/<version>/{build,source} links do.
    nearest=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$nearest" ]; then
      mkdir -p "/lib/modules/$kver"
      ln -sfn "$nearest" "/lib/modules/$kver/build"
      ln -sfn "${nearest%-amd64}-common" "/lib/modules/$kver/source"
      say "no linux-headers-$kver in Debian: linked $nearest as the headers of $kver (BPF programs use UAPI structures only)"
    else
      say "no kernel headers found: the daemon will use raw sockets instead of BPF"
    fi
  fi
fi

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "creating $venv from /usr/bin/python3 with system site packages"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi

# Rebuild only when the build inputs changed since the last install.
stamp="$venv/.hacore-build"
digest=$(cat "$top/pyproject.toml" "$top/setup.py" "$top"/src/hacore/_fastpath.* | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ] || ! "$venv/bin/python" -c 'import hacore._fastpath' 2>/dev/null; then
  say "building hacore and its compiled fast path (log: $venv/build.log)"
  if ! "$venv/bin/pip" install -e "$top[test]" >"$venv/build.log" 2>&1; then
    tail -n 40 "$venv/build.log" >&2
    say "build failed"
    exit 1
  fi
  echo "$digest" > "$stamp"
fi
