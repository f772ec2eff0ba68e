#!/usr/bin/env bash
# One-shot set-up for a fresh machine: Debian packages, .venv, the package and its tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# Default: what the tests, the demo and the shipped model need.
APT_PACKAGES=(
  ffmpeg sox espeak-ng fluidsynth fluid-soundfont-gm   # decoding, rendering, speech
  sonic-pi-samples tuxpaint-stamps-default sound-theme-freedesktop   # demo + test sounds
  wordnet-base wordnet-sense-index                   # offline WordNet for text augmentation
  chromium chromium-driver                           # browser tests of the web page
)
# --corpus: the sound packages of the offline training corpus (docs/offline_model.md),
# about 5.9 GB of .debs (8.9 GB installed); only `audioseek data prepare offline` needs
# them, so CI (`make test`) does not download them.
CORPUS_PACKAGES=(
  hydrogen-drumkits minetest-data wesnoth-1.16-data
  0ad-data flightgear-data-base lincity-ng-data widelands-data lugaru-data
  redeclipse-data supertuxkart-data hedgewars-data megaglest-data warmux-data
  supertux-data scorched3d-data freeciv-data colobot-common-sounds extremetuxracer-data
  openttd-opensfx gcompris-qt-data
  flare-game simutrans-pak64 torcs-data unknown-horizons lmms-common btanks-data freedink-data
  openclonk-data qabcs-data scratch
  searchandrescue-data etw-data micropolis-data netpanzer-data
)
WITH_CORPUS=0
for arg in "$@"; do
  case "$arg" in
    --corpus) WITH_CORPUS=1 ;;
    *) echo "usage: scripts/setup.sh [--corpus]" >&2; exit 2 ;;
  esac
done
[ "$WITH_CORPUS" -eq 1 ] && APT_PACKAGES+=("${CORPUS_PACKAGES[@]}")
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# .venv is ~7.5 GB (torch and its CUDA libraries); say so up front rather than let pip fail
# half-way with "No space left on device".
if [ ! -f .venv/.audioseek-installed ]; then
  free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
  if [ "${free_kb:-0}" -lt $((9 * 1024 * 1024)) ]; then
    echo "setup: warning: $((free_kb / 1024 / 1024)) GB free in $(pwd); a fresh .venv needs about 9 GB" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
PIP=".venv/bin/pip"
$PIP install -q --upgrade pip >/dev/null 2>&1 || true
# torch/torchvision first: pip takes them from local disk here.
$PIP install -q "torch==2.14.1" "torchvision==0.29.1"
$PIP install -q -e ".[dev]"
# aisfx pins an old numpy; its code and weights work with ours.
$PIP install -q --no-deps aisfx
# WordNet for nltk, built from Debian's files (idempotent).
.venv/bin/python -m audioseek.text.wordnet_setup || echo "setup: WordNet not prepared (text augmentation will say why)"
echo "setup: done"
