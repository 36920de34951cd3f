#!/bin/sh
# Packaging checks for CI (called from .ci/run; runnable by hand from the repository root):
#   - installs its own prerequisites (Debian packages, rustup target) when missing;
#   - builds the aarch64-musl release binaries, checks they are static and within the size goals
#     (edged <= 10 MiB, edgectl <= 5 MiB), runs `edged --version`, `edgectl --help` and
#     `edgectl version` under qemu-aarch64-static;
#   - runs the unit tests of the pure modules (flash, version, api) for aarch64 under qemu;
#   - `systemd-analyze verify` on the units, shellcheck on every shell script, install.sh into a
#     temporary root, then the host integration tests of the packaging and flash areas.
# Environment: PACKAGING_ARMV7=1 also builds edgectl for armv7 (edged does not build there yet);
# PACKAGING_HOST_TESTS=0 skips the host integration tests when .ci/run runs the whole suite;
# PACKAGING_QEMU_TESTS=0 skips the aarch64 unit tests under qemu (saves a debug cross build).
set -eu

cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-musl
edged_max_bytes=$((10 * 1024 * 1024))
edgectl_max_bytes=$((5 * 1024 * 1024))
started=$(date +%s)
step_started=$started

step() {
	now=$(date +%s)
	echo "packaging: [$((now - started))s, previous step $((now - step_started))s] $*" >&2
	step_started=$now
}
fail() {
	echo "packaging: FAILED: $*" >&2
	exit 1
}

step "prerequisites"
need=""
for pair in aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu qemu-aarch64-static:qemu-user-static \
	mdir:mtools mkfs.vfat:dosfstools fsck.fat:dosfstools shellcheck:shellcheck \
	systemd-analyze:systemd file:file losetup:mount mkfs.ext4:e2fsprogs; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
# The cross compilers only recommend their C library headers, which ring's C code needs.
[ -f /usr/aarch64-linux-gnu/include/stdint.h ] || need="$need libc6-dev-arm64-cross"
if [ "${PACKAGING_ARMV7:-0}" = 1 ]; then
	command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1 || need="$need gcc-arm-linux-gnueabihf"
	[ -f /usr/arm-linux-gnueabihf/include/stdint.h ] || need="$need libc6-dev-armhf-cross"
fi
if [ -n "$need" ]; then
	echo "packaging: installing$need" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
targets=$target
[ "${PACKAGING_ARMV7:-0}" = 1 ] && targets="$targets armv7-unknown-linux-gnueabihf"
for t in $targets; do
	rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done

step "release build for $target"
cargo build --release --locked --target "$target" --bins
release=${CARGO_TARGET_DIR:-target}/$target/release

step "static, sizes"
for bin in edged edgectl; do
	description=$(file -b "$release/$bin")
	echo "  $bin: $description" >&2
	case $description in
	*"statically linked"* | *"static-pie linked"*) ;;
	*) fail "$bin is not statically linked" ;;
	esac
done
edged_bytes=$(stat -c %s "$release/edged")
edgectl_bytes=$(stat -c %s "$release/edgectl")
printf 'packaging: sizes (%s, stripped): edged %s bytes (%s KiB), edgectl %s bytes (%s KiB)\n' \
	"$target" "$edged_bytes" $((edged_bytes / 1024)) "$edgectl_bytes" $((edgectl_bytes / 1024))
[ "$edged_bytes" -le "$edged_max_bytes" ] || fail "edged is $edged_bytes bytes, over the 10 MiB goal"
[ "$edgectl_bytes" -le "$edgectl_max_bytes" ] || fail "edgectl is $edgectl_bytes bytes, over the 5 MiB goal"

step "binaries under qemu-aarch64-static"
version=$(qemu-aarch64-static "$release/edged" --version)
echo "  $version" >&2
case $version in
*"$target"*release*) ;;
*) fail "edged --version does not name $target and the release profile: $version" ;;
esac
qemu-aarch64-static "$release/edgectl" --help >/dev/null || fail "edgectl --help"
qemu-aarch64-static "$release/edgectl" version --client | grep -q "^target: $target$" || fail "edgectl version --client"
qemu-aarch64-static "$release/edgectl" flash --help | grep -q -- "--device" || fail "edgectl flash --help"

if [ "${PACKAGING_QEMU_TESTS:-1}" = 1 ]; then
	step "unit tests of the pure modules for $target under qemu"
	# Without the runtime feature: the pure modules do not need libcontainer, and the build is
	# shorter. Still a debug build of the dependencies for aarch64: the longest step after the
	# release build.
	cargo test --locked --lib --no-default-features --target "$target" -- flash:: version:: api::
fi

if [ "${PACKAGING_ARMV7:-0}" = 1 ]; then
	# edgectl only: libcontainer 0.7.0 does not compile for 32-bit ARM (u32/u64 mismatches in
	# process/fork.rs, syscall/linux.rs and tty.rs), so there is no armv7 edged yet.
	step "release build of edgectl for armv7-unknown-linux-gnueabihf"
	cargo build --release --locked --target armv7-unknown-linux-gnueabihf --no-default-features --bin edgectl
	armv7=${CARGO_TARGET_DIR:-target}/armv7-unknown-linux-gnueabihf/release
	printf 'packaging: sizes (armv7, stripped): edgectl %s bytes\n' "$(stat -c %s "$armv7/edgectl")"
	qemu-arm-static -L /usr/arm-linux-gnueabihf "$armv7/edgectl" version --client | grep -q "^target: armv7-unknown-linux-gnueabihf$" ||
		fail "armv7 edgectl version --client"
fi

step "systemd-analyze verify"
units=$(mktemp -d)
trap 'rm -rf "$units"' EXIT INT TERM
# verify requires ExecStart= to exist and be executable: point it at the built binary.
for unit in systemd/*.service; do
	sed "s|/usr/local/bin/edged|$(realpath "$release/edged")|" "$unit" >"$units/$(basename "$unit")"
done
systemd-analyze verify "$units"/*.service

step "shellcheck"
shellcheck install.sh firmware-configs/raspberry-pi/*.sh cross/*.sh .ci/packaging.sh

step "install.sh into a temporary root"
root=$units/root
INSTALL_ROOT=$root FLOTILLA_BINARY=$release/edged FLOTILLA_SKIP_CHECK=1 \
	FLOTILLA_URL=https://pi-1:7443 FLOTILLA_TOKEN=EDGE1.ci.node.token sh install.sh
[ "$(stat -c %a "$root/etc/flotilla/edged.env")" = 600 ] || fail "edged.env is not 0600"
cmp -s "$root/usr/local/bin/edged" "$release/edged" || fail "edged not installed"
[ -f "$root/etc/systemd/system/edged-agent.service" ] || fail "unit not installed"
shellcheck "$root/usr/local/bin/flotilla-uninstall.sh"
INSTALL_ROOT=$root sh install.sh --uninstall
[ ! -e "$root/usr/local/bin/edged" ] || fail "uninstall left edged behind"

if [ "${PACKAGING_HOST_TESTS:-1}" = 1 ]; then
	step "host integration tests: packaging and flash"
	cargo test --locked --test it -- packaging:: flash::
fi

step "done"
echo "packaging: total $(($(date +%s) - started)) s" >&2
