#!/bin/sh
# Flotilla first boot for Raspberry Pi OS Bookworm (and older): the legacy hook that Raspberry Pi
# Imager also uses. cmdline.txt carries
#   systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot
#   systemd.unit=kernel-command-line.target
# so systemd runs this script once instead of the normal boot, then reboots. It runs the shared
# installer (flotilla/firstboot.sh), then removes itself and those parameters, whatever happened:
# a failure must not turn into a reboot loop. Its output is in the journal of that boot.
# FLOTILLA_BOOT overrides where the boot partition is mounted (for tests).
set -u

boot=${FLOTILLA_BOOT:-/boot/firmware}
[ -f "$boot/cmdline.txt" ] || boot=/boot

if [ -f "$boot/flotilla/firstboot.sh" ]; then
	sh "$boot/flotilla/firstboot.sh" || echo "flotilla-firstrun: firstboot.sh failed ($?)" >&2
fi

sed -i -e 's/ systemd\.run=[^ ]*//g' \
	-e 's/ systemd\.run_success_action=[^ ]*//g' \
	-e 's/ systemd\.unit=kernel-command-line\.target//g' "$boot/cmdline.txt"
rm -f "$boot/firstrun.sh"
sync
exit 0
