#!/usr/bin/env bash
# Prints the free space of the disks CI writes to, and the size of what it keeps there, so that a
# run that runs out of space says where the space went. Never fails the run by itself.
#
# Usage: disk_report.sh LABEL [DIR...]
label=${1:-disk}
shift || true
echo "[disk] $label"
df -h --output=target,size,used,avail "$@" 2>/dev/null | awk '!seen[$0]++' || true
for dir in "$@"; do
  [ -d "$dir" ] && du -sh --one-file-system "$dir" 2>/dev/null | sed 's/^/[disk]   /'
done
exit 0
