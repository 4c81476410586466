#!/usr/bin/env bash
# DynamoDB Local is a Java program: make sure a Java 17+ runtime is there.
set -euo pipefail
version=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [[ -n "${version}" && "${version}" -ge 17 ]]; then
  exit 0
fi
echo "Java 17+ not found; installing openjdk-17-jre-headless" >&2
if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
