#!/usr/bin/env bash
# Installs Debian packages when a command they provide is missing, as ensure-java.sh does for Java.
# Usage: ensure-apt.sh <command> <package>...   e.g. ensure-apt.sh ffmpeg ffmpeg fonts-dejavu-core
set -euo pipefail
command_name=$1; shift
missing=()
for package in "$@"; do
  if command -v dpkg-query >/dev/null 2>&1 && ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "ok installed"; then
    missing+=("${package}")
  fi
done
if command -v "${command_name}" >/dev/null 2>&1 && [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
[[ ${#missing[@]} -gt 0 ]] || missing=("$@")
echo "${command_name}: installing ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
