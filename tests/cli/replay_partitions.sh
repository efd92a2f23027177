#!/usr/bin/env bash
# The April 2014 evening priced in one window, then split by driver and rider into 2
# and 3 partitions whose counts are summed before the model: every output message the
# same (the wall-clock fields computed_at and compute_ms aside).
#   replay_partitions.sh PRICING_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
pricing=$1 src=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
"$pricing" convert-uber --csv "$src/data/nyc/uber-pickups-2014-04.csv" --out "$dir/events.jsonl" \
  --city nyc --from 2014-04-01T16:00 --to 2014-04-01T23:00 --drivers 300 --seed 42
for n in 1 2 3; do
  "$pricing" replay --config "$src/config/nyc-replay.yaml" --events "$dir/events.jsonl" \
    --out "$dir/outputs-$n.jsonl" --quiet --partitions "$n"
done
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
def load(n):
    out = []
    with open(f"{d}/outputs-{n}.jsonl") as f:
        for line in f:
            o = json.loads(line)
            if isinstance(o.get("data"), dict):
                o["data"].pop("computed_at", None)
                o["data"].pop("compute_ms", None)
            out.append(json.dumps(o, sort_keys=True))
    return out
one = load(1)
assert len(one) > 100000, f"only {len(one)} messages from one partition"
bad = 0
for n in (2, 3):
    other = load(n)
    differ = sum(1 for a, b in zip(one, other) if a != b) + abs(len(one) - len(other))
    first = next((i for i, (a, b) in enumerate(zip(one, other)) if a != b), None)
    if differ:
        bad = 1
        print(f"partitions {n}: {differ} of {len(one)} messages differ from one partition's")
        if first is not None:
            print("  one:", one[first][:300])
            print(f"  {n}:  ", other[first][:300])
    else:
        print(f"partitions {n}: all {len(other)} messages equal one partition's")
sys.exit(bad)
PY
