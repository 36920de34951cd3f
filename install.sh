#!/bin/sh
# Flotilla installer: puts edged, its systemd unit and its environment file on this machine and
# starts it. Offline-friendly: it installs an edged binary from a local file, and only downloads
# one when FLOTILLA_DOWNLOAD_URL says where from.
#
#   sh install.sh                                   # a server (the first board of a cluster)
#   FLOTILLA_URL=https://pi-1:7443 FLOTILLA_TOKEN=EDGE1.… sh install.sh   # an agent joining it
#   sh install.sh --uninstall                       # same as /usr/local/bin/flotilla-uninstall.sh
#
# Settings (environment):
#   FLOTILLA_URL, FLOTILLA_TOKEN  join this master as an agent (both, or neither for a server)
#   FLOTILLA_ROLE                 server | agent | master (default: agent with a token, else server)
#   FLOTILLA_BINARY               the edged to install (default: edged-<target> or edged beside
#                                 this script, e.g. from a release archive)
#   FLOTILLA_DOWNLOAD_URL         fetch edged from here when there is no local binary
#   FLOTILLA_SHA256               expected SHA-256 of the binary (checked when set)
#   FLOTILLA_ARCH                 override the detected target (aarch64-unknown-linux-musl …)
#   FLOTILLA_SKIP_CHECK=1         do not run `edged check` first
#   FLOTILLA_SKIP_START=1         install and enable, but do not start (implied by INSTALL_ROOT)
#   INSTALL_ROOT                  install under this directory instead of / (for tests, images)
set -eu

root=${INSTALL_ROOT:-}
here=$(cd "$(dirname "$0")" && pwd)
bin_dir=$root/usr/local/bin
unit_dir=$root/etc/systemd/system
conf_dir=$root/etc/flotilla
env_file=$conf_dir/edged.env
uninstall=$bin_dir/flotilla-uninstall.sh

say() { echo "flotilla-install: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

write_uninstaller() {
	cat >"$uninstall" <<'UNINSTALL'
#!/bin/sh
# Removes Flotilla installed by install.sh. --purge also deletes /var/lib/flotilla (the node's
# keys, the cluster state of a server, images and pod data).
set -eu
root=${INSTALL_ROOT:-}
for unit in edged-server.service edged-master.service edged-agent.service; do
	[ -f "$root/etc/systemd/system/$unit" ] || continue
	if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
		# KillMode=process leaves containers running on stop: end them first.
		systemctl kill --kill-whom=all --signal=SIGTERM "$unit" 2>/dev/null || true
		systemctl disable --now "$unit" 2>/dev/null || true
	fi
	rm -f "$root/etc/systemd/system/$unit" "$root/etc/systemd/system/multi-user.target.wants/$unit"
done
if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
rm -f "$root/usr/local/bin/edged" "$root/etc/flotilla/edged.env"
rmdir "$root/etc/flotilla" 2>/dev/null || true
if [ "${1:-}" = "--purge" ]; then
	rm -rf "$root/var/lib/flotilla"
fi
rm -f "$root/usr/local/bin/flotilla-uninstall.sh"
echo "flotilla: uninstalled" >&2
UNINSTALL
	chmod 0755 "$uninstall"
}

if [ "${1:-}" = "--uninstall" ]; then
	[ -x "$uninstall" ] || die "$uninstall not found: nothing to uninstall"
	exec "$uninstall" "${2:-}"
fi

[ -n "$root" ] || [ "$(id -u)" = 0 ] || die "run as root (or set INSTALL_ROOT to install into a directory)"

# Target triple of this machine.
if [ -n "${FLOTILLA_ARCH:-}" ]; then
	target=$FLOTILLA_ARCH
else
	case $(uname -m) in
	aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
	armv7l | armv8l) target=armv7-unknown-linux-gnueabihf ;;
	x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
	*) die "unsupported architecture $(uname -m) (Flotilla builds aarch64 and armv7)" ;;
	esac
fi

# Role.
role=${FLOTILLA_ROLE:-}
if [ -z "$role" ]; then
	if [ -n "${FLOTILLA_URL:-}" ] && [ -n "${FLOTILLA_TOKEN:-}" ]; then
		role=agent
	elif [ -n "${FLOTILLA_URL:-}${FLOTILLA_TOKEN:-}" ]; then
		die "set both FLOTILLA_URL and FLOTILLA_TOKEN to install an agent, or neither for a server"
	else
		role=server
	fi
fi
case $role in
server | master) ;;
agent)
	if [ -z "${FLOTILLA_URL:-}" ] || [ -z "${FLOTILLA_TOKEN:-}" ]; then
		die "an agent needs FLOTILLA_URL and FLOTILLA_TOKEN"
	fi
	case $FLOTILLA_URL in https://*) ;; *) die "FLOTILLA_URL must be an https:// URL" ;; esac
	case $FLOTILLA_URL$FLOTILLA_TOKEN in *[!A-Za-z0-9._:/@%+=~-]*) die "FLOTILLA_URL or FLOTILLA_TOKEN has characters that are not allowed" ;; esac
	;;
*) die "FLOTILLA_ROLE must be server, agent or master" ;;
esac
unit=edged-$role.service

# The unit files come with this script (repository checkout or release archive).
unit_src=${FLOTILLA_UNIT_DIR:-$here/systemd}/$unit
[ -f "$unit_src" ] || die "$unit_src not found (run install.sh from a Flotilla checkout or release archive)"

# The binary: local first, then a download.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
binary=${FLOTILLA_BINARY:-}
if [ -z "$binary" ]; then
	for candidate in "$here/edged-$target" "$here/edged"; do
		if [ -f "$candidate" ]; then
			binary=$candidate
			break
		fi
	done
fi
if [ -z "$binary" ]; then
	[ -n "${FLOTILLA_DOWNLOAD_URL:-}" ] || die "no edged binary: set FLOTILLA_BINARY=/path/to/edged (a $target build) or FLOTILLA_DOWNLOAD_URL"
	say "downloading $FLOTILLA_DOWNLOAD_URL"
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL -o "$tmp/edged" "$FLOTILLA_DOWNLOAD_URL"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$tmp/edged" "$FLOTILLA_DOWNLOAD_URL"
	else
		die "neither curl nor wget to download with"
	fi
	binary=$tmp/edged
fi
[ -f "$binary" ] || die "$binary: no such file"
if [ -n "${FLOTILLA_SHA256:-}" ]; then
	actual=$(sha256sum "$binary" | cut -d' ' -f1)
	[ "$actual" = "$FLOTILLA_SHA256" ] || die "$binary: SHA-256 is $actual, expected $FLOTILLA_SHA256"
fi
cp "$binary" "$tmp/edged.new"
chmod 0755 "$tmp/edged.new"

# Diagnose the host before changing anything (cgroups, overlayfs, kernel modules, Pi flags).
if [ "${FLOTILLA_SKIP_CHECK:-0}" != 1 ]; then
	"$tmp/edged.new" --version >/dev/null 2>&1 || die "$binary does not run here (wrong architecture? this machine wants $target)"
	if [ "$role" != master ]; then
		"$tmp/edged.new" check || die "edged check failed: fix the problems above, or set FLOTILLA_SKIP_CHECK=1 to install anyway"
	fi
fi

say "installing edged ($target) as $unit under ${root:-/}"
install -d -m 0755 "$bin_dir" "$unit_dir"
install -d -m 0700 "$conf_dir"
mv -f "$tmp/edged.new" "$bin_dir/edged"
install -m 0644 "$unit_src" "$unit_dir/$unit"

# The environment file holds the join token: root-only, written without a window where it is
# readable by others.
old_umask=$(umask)
umask 077
{
	echo "# Written by install.sh. Read by $unit (EnvironmentFile=)."
	if [ "$role" = agent ]; then
		echo "FLOTILLA_URL=$FLOTILLA_URL"
		echo "FLOTILLA_TOKEN=$FLOTILLA_TOKEN"
	fi
} >"$env_file.new"
umask "$old_umask"
chmod 0600 "$env_file.new"
mv -f "$env_file.new" "$env_file"

write_uninstaller

if [ -n "$root" ] || ! command -v systemctl >/dev/null 2>&1; then
	# No running systemd to ask: enable by hand, as `systemctl enable` would.
	install -d -m 0755 "$unit_dir/multi-user.target.wants"
	ln -sf "/etc/systemd/system/$unit" "$unit_dir/multi-user.target.wants/$unit"
	say "enabled $unit (not started: installed under ${root:-/} without systemd)"
else
	systemctl daemon-reload
	if [ "${FLOTILLA_SKIP_START:-0}" = 1 ]; then
		systemctl enable "$unit"
		say "enabled $unit (not started: FLOTILLA_SKIP_START=1)"
	else
		systemctl enable --now "$unit"
		say "started $unit; logs: journalctl -u $unit -f"
	fi
fi
say "uninstall with $uninstall (--purge also deletes /var/lib/flotilla)"
