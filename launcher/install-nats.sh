#!/usr/bin/env bash
# Makes sure a nats-server 2.10 or later is at hand, so JetStream can fsync
# every message before acknowledging it (sync_interval: always). Does nothing
# when the one on PATH (or /usr/sbin) is new enough. Otherwise, on Debian,
# downloads Debian 13's nats-server package with apt-get's own tools and
# unpacks its binary into .tools/nats-server/ in this repository, where the
# launcher and the tests look first: apt's configuration, the installed
# packages and any running nats-server are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

newer_than_2_9() { "$1" --version 2>/dev/null | grep -Eq 'v(2\.(1[0-9]|[2-9][0-9])|[3-9])\.'; }

local_binary=.tools/nats-server/usr/sbin/nats-server
for candidate in "$local_binary" "$(command -v nats-server || true)" /usr/sbin/nats-server; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && newer_than_2_9 "$candidate"; then
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/apt/sources.list.d/debian.sources ]; then
  echo "install-nats: no nats-server 2.10+ found and this is not a Debian machine: install nats-server 2.10 or later yourself" >&2
  exit 0 # the launcher says what that means, and how to run anyway
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/sources.list"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
apt_options=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
echo "install-nats: fetching Debian 13's nats-server into .tools/nats-server (the installed one is older than 2.10)"
apt-get "${apt_options[@]}" update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
(cd "$work" && apt-get "${apt_options[@]}" download nats-server >/dev/null)
rm -rf .tools/nats-server
mkdir -p .tools/nats-server
dpkg-deb -x "$work"/nats-server_*.deb .tools/nats-server
"$local_binary" --version
