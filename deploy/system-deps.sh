#!/bin/sh
# The Debian packages CodeRunner needs, installed when missing (as root, with apt-get), else one line
# saying how. `runtime`: bubblewrap (app sandboxes) and haproxy (the routers) — required, exit 1 when
# they cannot be had. `test`: also promtool/prometheus, docker-compose (`config` validation), graphviz
# (`pipeline graph`), wrk (router benchmark) and tmux (`get --watch` test) — tests that need them fail under CI=true without them.
set -u
want="bwrap:bubblewrap haproxy:haproxy"
if [ "${1:-runtime}" = test ]; then
  want="$want promtool:prometheus prometheus:prometheus docker-compose:docker-compose dot:graphviz wrk:wrk tmux:tmux"
fi
missing=""
for item in $want; do
  tool=${item%%:*}
  package=${item#*:}
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    case " $missing " in *" $package "*) ;; *) missing="$missing $package" ;; esac
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # one word per package
  if apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    exit 0
  fi
fi
echo "missing Debian packages: run 'sudo apt-get install${missing}'" >&2
exit 1
