#!/usr/bin/env bash
# The chaos suite (tests/chaos/): faults injected into a real 3-node JetStream cluster
# while the generator and the processor run, then reconciled. Builds the release
# preset and runs the tests labelled `chaos`, one at a time. Every case runs by
# default: node kills (one at a time and three in a row), all nodes killed at once
# (sync_interval always and the default), a rolling restart, SIGSTOP of the stream
# leader, a network partition (needs root for ip netns), 2 of 3 nodes down, a full
# disk (needs root for a tmpfs), processor kills, poison events and a soak.
#   scripts/chaos.sh                      # every case; the soak for 45 s (as CI)
#   scripts/chaos.sh --soak-minutes 10    # the long soak (run last, outside ctest)
#   scripts/chaos.sh --soak-rate 20000    # soak rate, events/s (default 5000)
#   scripts/chaos.sh --repeat 5           # every case 5 times; prints pass counts
#   scripts/chaos.sh -R Poison            # further arguments go to ctest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
soak_seconds=45
soak_rate=5000
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --soak-minutes) soak_seconds=$(( $2 * 60 )); shift 2 ;;
    --soak-rate) soak_rate=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
cmake --preset release >/dev/null
cmake --build --preset release
export PRICING_SOAK_SECONDS=$soak_seconds PRICING_SOAK_RATE=$soak_rate
# Every soaked event stays in LOCATION_EVENTS (1 h retention), about 210 bytes a node:
# each test node's JetStream store is sized with room to spare.
export PRICING_TEST_MAX_FILE_STORE=$(( soak_rate * soak_seconds * 300 / 1000000000 + 1 ))GB
log=$(mktemp /tmp/pricing-chaos-XXXX.log)
# ctest gives every chaos case 300 s (the TIMEOUT property wins over --timeout), so a
# soak longer than the bounded one runs straight from the test binary afterwards,
# with its own limit. Every case prints its measurements ("chaos: ..."); the whole
# output stays in the log.
soak_filter=ChaosTest.SoakKeepsMemoryFlatAndLagBounded
long_soak=0
[ "$soak_seconds" -gt 45 ] && long_soak=1
exclude=()
[ $long_soak -eq 1 ] && exclude=(-E "$soak_filter")
rc=0
set +e
for run in $(seq 1 "$repeat"); do
  [ "$repeat" -gt 1 ] && echo "chaos: run $run of $repeat" | tee -a "$log"
  ctest --preset release -L chaos "${exclude[@]}" --output-on-failure -V "$@" >> "$log" 2>&1
  run_rc=$?
  # `-R Soak` with a long soak leaves ctest nothing to run: not a failure.
  [ $long_soak -eq 1 ] && grep -q 'No tests were found' "$log" && run_rc=0
  [ $run_rc -ne 0 ] && rc=$run_rc
done
set -e
grep -E '^[0-9]+: chaos:|Test +#|tests passed|tests failed' "$log" | sed -E 's/^[0-9]+: //' || true
if [ "$repeat" -gt 1 ]; then
  echo "chaos: pass counts over $repeat runs"
  grep -E 'Test +#[0-9]+: ' "$log" | sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*(Passed|Failed|Not Run|Timeout|Skipped).*/\1 \2/' |
    awk '{ runs[$1]++; if ($2 == "Passed") ok[$1]++ } END { for (t in runs) printf "  %-90s %d of %d passed\n", t, ok[t], runs[t] }' | sort
fi
if [ $long_soak -eq 1 ]; then
  echo "soak: $soak_seconds s at $soak_rate events/s (output in $log)"
  set +e
  timeout $(( soak_seconds + 600 )) build/bin/chaos_test --gtest_filter="$soak_filter" >> "$log" 2>&1
  soak_rc=$?
  set -e
  grep -E '^chaos:|^\[ +(OK|FAILED) +\]' "$log" | tail -n 4 || true
  [ $soak_rc -eq 124 ] && echo "soak: did not end within $(( soak_seconds + 600 )) s"
  [ $rc -eq 0 ] && rc=$soak_rc
fi
echo "chaos: full output in $log"
exit $rc
