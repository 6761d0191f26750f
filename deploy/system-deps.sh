#!/usr/bin/env bash
# The Debian packages CodeRunner needs, installed when missing (as root, with apt-get), else one line
# saying how. `runtime`: bubblewrap (app sandboxes) and haproxy (the routers) — required, exit 1 when
# they cannot be had. `test`: also promtool/prometheus, docker-compose (`config` validation), graphviz
# (`pipeline graph`) and wrk (router benchmark) — tests that need them fail under CI=true without them.
set -uo pipefail
want=(bwrap:bubblewrap haproxy:haproxy)
if [ "${1:-runtime}" = test ]; then
  want+=(promtool:prometheus prometheus:prometheus docker-compose:docker-compose dot:graphviz wrk:wrk)
fi
missing=()
for item in "${want[@]}"; do
  tool=${item%%:*} package=${item#*:}
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    && exit 0
fi
echo "missing Debian packages: run 'sudo apt-get install ${missing[*]}'" >&2
exit 1
