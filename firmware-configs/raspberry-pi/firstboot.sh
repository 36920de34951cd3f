#!/bin/sh
# Flotilla first-boot installer, shared by both first-boot paths (cloud-init runcmd, Bookworm's
# firstrun.sh). It lives in flotilla/ on the boot partition beside the files `edgectl flash`
# wrote, one value per file, so no value is ever pasted into shell code:
#   edged            the edged binary for this board's architecture
#   unit             the unit to enable (edged-server.service or edged-agent.service)
#   edged-*.service  that unit
#   edged.env        its EnvironmentFile (the join token): installed with mode 0600
#   hostname, user, authorized_keys, wifi-ssid, wifi-psk   (Bookworm only; cloud-init does these)
#   wifi-country, enable-ssh                               (optional)
# Every step is idempotent, so running it twice is harmless. At the end it deletes flotilla/
# from the boot partition, so the token and the Wi-Fi passphrase do not stay on a FAT partition
# any user can read. With --start it also starts the unit (cloud-init runs it on a booted system;
# Bookworm's hook reboots afterwards instead).
#
# FLOTILLA_ROOT (default empty) prefixes every system path, for tests.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${FLOTILLA_ROOT:-}
start=no
[ "${1:-}" = "--start" ] && start=yes

log() { echo "flotilla-firstboot: $*" >&2; }

# The first line of a value file, or nothing when it is absent.
value() {
	if [ -s "$here/$1" ]; then head -n 1 "$here/$1"; fi
}

unit=$(value unit)
case "$unit" in
edged-server.service | edged-agent.service | edged-master.service) ;;
"")
	log "no flotilla/unit: nothing to do"
	exit 0
	;;
*)
	log "unknown unit '$unit'"
	exit 1
	;;
esac

name=$(value hostname)
if [ -n "$name" ]; then
	if [ -z "$root" ] && [ -x /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
		/usr/lib/raspberrypi-sys-mods/imager_custom set_hostname "$name"
	else
		echo "$name" >"$root/etc/hostname"
		if grep -q '^127\.0\.1\.1' "$root/etc/hosts" 2>/dev/null; then
			sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$name/" "$root/etc/hosts"
		else
			printf '127.0.1.1\t%s\n' "$name" >>"$root/etc/hosts"
		fi
	fi
	log "hostname set to $name"
fi

user=$(value user)
if [ -n "$user" ] && [ -s "$here/authorized_keys" ]; then
	if [ -z "$root" ] && ! id "$user" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/bash --groups sudo,adm "$user"
		passwd --lock "$user" >/dev/null
		echo "$user ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/010_flotilla-nopasswd
		chmod 0440 /etc/sudoers.d/010_flotilla-nopasswd
		# Bookworm asks for a user on the console at first boot unless one was configured.
		systemctl disable userconfig.service >/dev/null 2>&1 || true
		rm -f /etc/ssh/sshd_config.d/rename_user.conf
	fi
	home=$root/home/$user
	[ -z "$root" ] && home=$(getent passwd "$user" | cut -d: -f6)
	install -d -m 0700 "$home/.ssh"
	install -m 0600 "$here/authorized_keys" "$home/.ssh/authorized_keys"
	[ -z "$root" ] && chown -R "$user:" "$home/.ssh"
	log "ssh keys installed for $user"
fi

country=$(value wifi-country)
if [ -n "$country" ] && [ -z "$root" ]; then
	if command -v raspi-config >/dev/null 2>&1; then
		raspi-config nonint do_wifi_country "$country" || true
	fi
	rfkill unblock wifi 2>/dev/null || true
fi

ssid=$(value wifi-ssid)
if [ -n "$ssid" ]; then
	psk=$(value wifi-psk)
	if [ -z "$root" ] && [ -x /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
		/usr/lib/raspberrypi-sys-mods/imager_custom set_wlan "$ssid" "$psk" "${country:-}"
	else
		conn=$root/etc/NetworkManager/system-connections/flotilla-wifi.nmconnection
		install -d -m 0700 "$(dirname "$conn")"
		umask 077
		{
			printf '[connection]\nid=flotilla-wifi\ntype=wifi\nautoconnect=true\n\n'
			printf '[wifi]\nmode=infrastructure\nssid=%s\n\n' "$ssid"
			printf '[wifi-security]\nkey-mgmt=wpa-psk\npsk=%s\n\n' "$psk"
			printf '[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n'
		} >"$conn"
		umask 022
	fi
	log "wifi configured for $ssid"
fi

if [ -s "$here/enable-ssh" ] && [ -z "$root" ]; then
	systemctl enable ssh >/dev/null 2>&1 || systemctl enable sshd >/dev/null 2>&1 || true
	[ "$start" = yes ] && { systemctl start --no-block ssh 2>/dev/null || true; }
fi

# edged: replaced atomically, so a half-copied binary is never run.
install -d -m 0755 "$root/usr/local/bin"
install -m 0755 "$here/edged" "$root/usr/local/bin/.edged.flotilla-new"
mv -f "$root/usr/local/bin/.edged.flotilla-new" "$root/usr/local/bin/edged"

install -d -m 0700 "$root/etc/flotilla"
if [ -f "$here/edged.env" ]; then
	install -m 0600 "$here/edged.env" "$root/etc/flotilla/edged.env"
fi
install -d -m 0755 "$root/etc/systemd/system"
install -m 0644 "$here/$unit" "$root/etc/systemd/system/$unit"
log "installed /usr/local/bin/edged and $unit"

if [ -z "$root" ]; then
	systemctl daemon-reload
	systemctl enable "$unit"
	if [ "$start" = yes ]; then
		systemctl start --no-block "$unit"
	fi
else
	install -d -m 0755 "$root/etc/systemd/system/multi-user.target.wants"
	ln -sf "/etc/systemd/system/$unit" "$root/etc/systemd/system/multi-user.target.wants/$unit"
fi
log "enabled $unit"

# One-shot: remove everything flash put here (the token and passphrase first).
rm -f "$here/edged.env" "$here/wifi-psk"
rm -rf "$here"
sync
