# Sourced by the demo scripts (after lib/usage.sh): the `pricing` binary and the
# April 2014 evening's events, made the same way for the replay and the backtest.
#   demo_pricing ROOT BUILD               sets $pricing to BUILD's binary, building the
#                                         release preset's `pricing` when it is missing
#   demo_events FROM TO DRIVERS           writes BUILD/demo/events.jsonl from the Uber
#                                         pickups with DRIVERS synthetic drivers (seed
#                                         42); sets $events
demo_pricing() {
  demo_root=$1 demo_build=$2
  pricing="$demo_build/bin/pricing"
  if [ ! -x "$pricing" ]; then
    echo "$(basename "$0" .sh): building the release preset first" >&2
    (cd "$demo_root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing)
  fi
}
demo_events() {
  mkdir -p "$demo_build/demo"
  events="$demo_build/demo/events.jsonl"
  "$pricing" convert-uber --csv "$demo_root/data/nyc/uber-pickups-2014-04.csv" --out "$events" \
    --city nyc --from "$1" --to "$2" --drivers "$3" --seed 42
}
