#!/bin/sh
# Builds the release binaries for the boards and lays them out as a release archive that
# install.sh understands:
#   dist/flotilla-<version>-<target>/{edged,edgectl,install.sh,systemd/*.service,firmware-configs/}
#
#   cross/dist.sh [TARGET...]       default: aarch64-unknown-linux-musl
#
# Uses `cross` when it is installed and CROSS=1 (or no Debian cross compiler is found), else
# plain cargo with the Debian cross compilers configured in .cargo/config.toml.
set -eu

cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- aarch64-unknown-linux-musl
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
FLOTILLA_GIT_COMMIT=${FLOTILLA_GIT_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
export FLOTILLA_GIT_COMMIT

tool=cargo
if [ "${CROSS:-0}" = 1 ] || ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
	command -v cross >/dev/null 2>&1 && tool=cross
fi

for target in "$@"; do
	echo "dist: building $target with $tool" >&2
	"$tool" build --release --locked --target "$target" --bins
	out=dist/flotilla-$version-$target
	rm -rf "$out"
	mkdir -p "$out/systemd"
	cp "target/$target/release/edged" "target/$target/release/edgectl" "$out/"
	cp install.sh "$out/"
	cp systemd/*.service "$out/systemd/"
	cp -r firmware-configs "$out/"
	tar -C dist -czf "$out.tar.gz" "flotilla-$version-$target"
	ls -l "$out/edged" "$out/edgectl" "$out.tar.gz" >&2
done
