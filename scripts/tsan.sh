#!/usr/bin/env bash
# ThreadSanitizer run of the concurrent parts: the transport (async publishing with
# acks on cnats threads, the pull consumer), the processor's monitor thread, the HTTP
# server and the WebSocket gateway's fan-out. Builds build-tsan/ and runs their unit
# and integration tests; any race report fails the run.
#   scripts/tsan.sh            # the default set
#   scripts/tsan.sh -R Gateway # other ctest arguments instead of the default set
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
cmake --preset tsan >/dev/null
# Only what the run needs: a TSan build of everything takes most of an hour on 2 cores.
cmake --build --preset tsan --target pricing http_server_test metrics_test health_test \
  gateway_test live_processor_test secure_cluster_test
# halt_on_error: the first race fails the test that found it, in its output.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
if [ $# -eq 0 ]; then
  set -- -R 'HttpServer|Metrics|Health|Gateway|LiveProcessor|SecureCluster'
fi
ctest --preset tsan --output-on-failure "$@"
