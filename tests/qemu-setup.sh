#!/bin/sh
# Fetch two QEMU releases side by side for the real-migration suite (tests/tests/migrations.rs):
#   7.2  = Debian bookworm's qemu-system-x86
#   10.0 = bookworm-backports' qemu-system-x86 (10.0.x)
# Each is unpacked with `dpkg -x` into its own folder under $FLEETCOMPAT_QEMU_CACHE
# (default $HOME/.cache/fleetcompat-qemu/{7.2,10.0}); nothing is installed system-wide except
# the bookworm-backports apt source. Idempotent: a folder with a `.complete` marker is kept.
# As root it adds that source itself; `sudo sh tests/qemu-setup.sh --apt-source` does only that
# step (what `cargo xtask test` runs for a user who is not root), and the rest needs no root.
# Run a release with: QEMU_MODULE_DIR=DIR/usr/lib/x86_64-linux-gnu/qemu DIR/usr/bin/qemu-system-x86_64
#   -L DIR/usr/share/qemu -L DIR/usr/share/seabios -L DIR/usr/lib/ipxe/qemu ...
set -eu

CACHE="${FLEETCOMPAT_QEMU_CACHE:-$HOME/.cache/fleetcompat-qemu}"
PKGS="qemu-system-x86 qemu-system-data qemu-system-common qemu-system-gui seabios ipxe-qemu"
# QEMU loads UI/audio modules at start-up and aborts on a module of another build, so each
# release needs its own (QEMU_MODULE_DIR points at them); 10.0 splits opengl/spice out.
OPTIONAL_PKGS="qemu-system-modules-opengl qemu-system-modules-spice"

need_backports() {
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    # Use the same mirror as the existing bookworm line (deb822 or one-line format).
    mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | head -n1 | awk '{print $2}')
    if [ -z "$mirror" ]; then
        mirror=$(grep -hs '^deb .* bookworm ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -n1 | awk '{print $2}')
    fi
    [ -n "$mirror" ] || { echo "qemu-setup: no bookworm mirror found in apt sources" >&2; exit 1; }
    echo "deb $mirror bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
    apt-get update -qq
}

fetch() { # fetch DIR SUITE
    dir="$CACHE/$1"
    [ -f "$dir/.complete" ] && { echo "qemu-setup: $dir ready"; return 0; }
    rm -rf "$dir" "$dir.debs"
    mkdir -p "$dir.debs" "$dir"
    (
        cd "$dir.debs"
        for p in $PKGS; do
            # Take the package from the suite when it has one there, else the default candidate.
            apt-get download -qq "$p/$2" 2>/dev/null || apt-get download -qq "$p"
        done
        for p in $OPTIONAL_PKGS; do
            apt-get download -qq "$p/$2" 2>/dev/null || true
        done
    )
    for deb in "$dir.debs"/*.deb; do dpkg -x "$deb" "$dir"; done
    "$dir/usr/bin/qemu-system-x86_64" --version > "$dir/VERSION"
    touch "$dir/.complete"
    rm -rf "$dir.debs"
    echo "qemu-setup: $dir: $(head -n1 "$dir/VERSION")"
}

ready() { [ -f "$CACHE/7.2/.complete" ] && [ -f "$CACHE/10.0/.complete" ]; }

apt_source() { # as root: add bookworm-backports and refresh apt's lists once
    need_backports
    apt-cache policy qemu-system-x86 | grep -q bookworm-backports || apt-get update -qq
}

if [ "${1:-}" = --apt-source ]; then
    ready || apt_source
    exit 0
fi
if ! ready; then
    if [ "$(id -u)" = 0 ]; then apt_source; else
        apt-cache policy qemu-system-x86 | grep -q bookworm-backports || {
            echo "qemu-setup: run \`sudo sh tests/qemu-setup.sh --apt-source\` once to add bookworm-backports" >&2; exit 1; }
    fi
fi
fetch 7.2 bookworm
fetch 10.0 bookworm-backports
