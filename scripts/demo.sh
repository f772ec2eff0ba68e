#!/usr/bin/env bash
# The out-of-the-box demo (`make demo`, after scripts/setup.sh): builds a small library of
# real sounds, indexes it with the default model resolution, and runs example searches.
#
# Offline by default: HF_HUB_OFFLINE=1, so the default model (LAION-CLAP) is taken from the
# Hugging Face cache if it is there, and otherwise audioseek falls back to the bundled
# offline model with one warning. Set AUDIOSEEK_DEMO_ONLINE=1 to let it download CLAP.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${AUDIOSEEK_DEMO_ONLINE:-0}" != "1" ]; then
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
fi
PY=.venv/bin/python
AS=(.venv/bin/python -m audioseek.cli)
LIB=demo/library
DB=demo/index

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/5 preparing a sample library of real sounds in $LIB"
"$PY" scripts/prepare_demo_library.py --out "$LIB"

step "2/5 indexing $LIB (default model; offline here -> bundled offline model)"
if ! "${AS[@]}" index "$LIB" --db "$DB"; then
  # the demo's own index, e.g. built by an earlier version of the bundled model (an index
  # always keeps the model that built it): build it again from scratch
  printf 'demo: rebuilding %s from scratch\n' "$DB"
  rm -rf "$DB"
  "${AS[@]}" index "$LIB" --db "$DB"
fi
"${AS[@]}" info --db "$DB"

step "3/5 searching by description (ranked files, best window start-end)"
# one process for all queries (the model loads once)
printf '%s\n' "a dog barking" "a rooster crowing" "a drum loop" "a choir singing" \
  "a vacuum cleaner" "buzzing insect" "a violin" "fireworks exploding" \
  "a telephone ringing" "a crow" > demo/queries.txt
printf '$ audioseek search --queries demo/queries.txt --db %s -k 5\n' "$DB"
"${AS[@]}" search --queries demo/queries.txt --db "$DB" -k 5
printf '\nmixtape.wav holds these sounds (start time, sound), to check the timestamps above:\n'
cat "$LIB/mixtape.txt"

step "4/5 sounds similar to an example file"
printf '$ audioseek similar %s --db %s -k 5\n' "$LIB/tuxpaint/rooster.ogg" "$DB"
"${AS[@]}" similar "$LIB/tuxpaint/rooster.ogg" --db "$DB" -k 5

step "5/5 duplicate recordings (the same sound in two formats)"
"${AS[@]}" duplicates --db "$DB"

cat <<EOF

Done. Try your own searches:
  .venv/bin/audioseek search "a horse neighing" --db $DB
Start the web page (search, listen, similar sounds):
  .venv/bin/audioseek serve --db $DB     # then open http://127.0.0.1:8000
EOF
