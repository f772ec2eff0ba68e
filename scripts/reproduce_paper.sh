#!/usr/bin/env bash
# Reproduce Table 5 of "Good, Fast, Cheap: Pick One" and run the beyond-the-paper configs.
#
#   scripts/reproduce_paper.sh [options]
#
# Steps (each can be skipped, see --help):
#   1. Clotho (v2.1 by default) from Zenodo, every file MD5-checked:
#        audioseek data download clotho --root DATA --version VERSION
#   2. Pretrained weights into CACHE (AUDIOSEEK_CACHE, TORCH_HOME, HF_HOME):
#        torchvision ResNet-50 / ViT-B/16 ImageNet weights (torch.hub checks the sha256 prefix
#        in their file names), the PANN CNN14 checkpoint from Zenodo record 3987831 (MD5
#        541141fa2ee191a88f24a3219fff024e checked here), roberta-base from Hugging Face, and for
#        the beyond configs laion/clap-htsat-unfused.
#   3. audioseek experiments configs/paper  -> OUT/paper  (six runs, Table 5 with the paper's
#      numbers beside ours: table5.md / .json / .png)
#   4. audioseek experiments configs/beyond -> OUT/beyond (one hypothesis per config)
#   5. OUT/table5.md / .json / .png: every run of both grids beside the paper's numbers, both
#      recall definitions (Hit@K and Recall@K) and the validation loss.
#
# What it needs (estimates, not measurements: nothing here has been run on a GPU):
#   disk ~20 GB (Clotho v2.1 audio ~16 GB extracted, weights ~1.2 GB); one GPU with >= 16 GB
#   (CNN14 fine-tuning at batch 8 and ViT-B/16 at batch 16 on 40 s spectrograms fit in 16 GB
#   with 16-bit mixed precision); roughly 1-3 GPU-hours per paper run at 30 epochs on an A100
#   class GPU, i.e. ~10-20 GPU-hours for the six paper runs and as much again for beyond.
#
# Several GPUs on one machine (DDP; negatives gathered over all GPUs, so the global batch is
# N x the config's batch size):
#   scripts/reproduce_paper.sh --gpus 4
# which adds --set trainer.devices=4 --set trainer.strategy=ddp to every run.
#
# A SLURM cluster, through Lightning (one task per GPU; Lightning reads the SLURM_* variables):
#   #!/bin/bash
#   #SBATCH --nodes=2
#   #SBATCH --ntasks-per-node=4
#   #SBATCH --gres=gpu:4
#   #SBATCH --cpus-per-task=8
#   #SBATCH --time=24:00:00
#   scripts/reproduce_paper.sh --download-only          # once, before the job, on a login node
#   srun scripts/reproduce_paper.sh --skip-download --gpus 4 --nodes 2
# (--print-slurm prints this batch script with your options filled in.)

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$SCRIPT_DIR")"

DATA="data/clotho"
CACHE="${AUDIOSEEK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audioseek}"
OUT="runs/reproduce"
VERSION="v2.1"
GPUS=""
NODES=""
ONLY="all"
DEVICE="auto"
DRY_RUN=0
DOWNLOAD=1
TRAIN=1
PRINT_SLURM=0
EXTRA_SETS=()
AUDIOSEEK="${AUDIOSEEK:-}"
PYTHON="${PYTHON:-}"

CNN14_URL="https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
CNN14_FILE="Cnn14_mAP=0.431.pth"
CNN14_MD5="541141fa2ee191a88f24a3219fff024e"

usage() {
    cat <<'EOF'
usage: scripts/reproduce_paper.sh [options]

  --data DIR          Clotho folder (default data/clotho)
  --version V         Clotho version: v2.1 (default) or v1
  --cache DIR         weights cache (default $AUDIOSEEK_CACHE or ~/.cache/audioseek)
  --out DIR           results folder (default runs/reproduce)
  --only WHICH        paper, beyond or all (default all)
  --gpus N            GPUs per node: --set trainer.devices=N (+ trainer.strategy=ddp if N > 1)
  --nodes M           nodes (SLURM): --set trainer.num_nodes=M
  --device DEV        --device of audioseek experiments (default auto)
  --set KEY=VALUE     extra config override for every run (repeatable)
  --skip-download     do not download Clotho or weights (they are already in place)
  --download-only     download Clotho and the weights, train nothing
  --print-slurm       print a SLURM batch script for these options and exit
  --dry-run           print the commands instead of running them
  -h, --help          this help
Environment: AUDIOSEEK (the audioseek command), PYTHON (its Python interpreter).
EOF
}

die() {
    echo "error: $*" >&2
    exit 2
}

need_value() {
    [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --data) need_value "$@"; DATA="$2"; shift 2 ;;
        --version) need_value "$@"; VERSION="$2"; shift 2 ;;
        --cache) need_value "$@"; CACHE="$2"; shift 2 ;;
        --out) need_value "$@"; OUT="$2"; shift 2 ;;
        --only) need_value "$@"; ONLY="$2"; shift 2 ;;
        --gpus) need_value "$@"; GPUS="$2"; shift 2 ;;
        --nodes) need_value "$@"; NODES="$2"; shift 2 ;;
        --device) need_value "$@"; DEVICE="$2"; shift 2 ;;
        --set) need_value "$@"; [[ "$2" == *=* ]] || die "--set needs KEY=VALUE, got '$2'"
            EXTRA_SETS+=("$2"); shift 2 ;;
        --skip-download) DOWNLOAD=0; shift ;;
        --download-only) TRAIN=0; shift ;;
        --print-slurm) PRINT_SLURM=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
done

case "$VERSION" in v2.1|v1) ;; *) die "--version must be v2.1 or v1, got '$VERSION'" ;; esac
case "$ONLY" in paper|beyond|all) ;; *) die "--only must be paper, beyond or all, got '$ONLY'" ;; esac
for n in GPUS NODES; do
    v="${!n}"
    if [[ -n "$v" && ! "$v" =~ ^[1-9][0-9]*$ ]]; then
        die "--${n,,} must be a positive integer, got '$v'"
    fi
done
[[ $DOWNLOAD -eq 1 || $TRAIN -eq 1 ]] || die "--skip-download and --download-only leave nothing to do"

if [[ -z "$AUDIOSEEK" ]]; then
    if [[ -x "$REPO/.venv/bin/audioseek" ]]; then AUDIOSEEK="$REPO/.venv/bin/audioseek"
    else AUDIOSEEK="audioseek"; fi
fi
if [[ -z "$PYTHON" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"
    else PYTHON="python3"; fi
fi

# overrides shared by every run
SETS=("data.root=$DATA" "data.clotho_version=$VERSION")
# v1 has no validation split: every config then uses the 60/20/20 re-split (the paper's)
[[ "$VERSION" == v1 ]] && SETS+=("data.clotho_view=paper")
if [[ -n "$GPUS" ]]; then
    SETS+=("trainer.devices=$GPUS")
    if [[ "$GPUS" -gt 1 ]]; then SETS+=("trainer.strategy=ddp"); fi
fi
if [[ -n "$NODES" ]]; then
    SETS+=("trainer.num_nodes=$NODES")
    if [[ "$NODES" -gt 1 && -z "$GPUS" ]]; then SETS+=("trainer.strategy=ddp"); fi
fi
SETS+=("${EXTRA_SETS[@]+"${EXTRA_SETS[@]}"}")
SET_ARGS=()
for s in "${SETS[@]}"; do SET_ARGS+=(--set "$s"); done

GRIDS=()
[[ "$ONLY" == paper || "$ONLY" == all ]] && GRIDS+=(paper)
[[ "$ONLY" == beyond || "$ONLY" == all ]] && GRIDS+=(beyond)

if [[ $PRINT_SLURM -eq 1 ]]; then
    nodes="${NODES:-1}"
    gpus="${GPUS:-1}"
    opts=(--skip-download --gpus "$gpus" --nodes "$nodes" --only "$ONLY" --data "$DATA"
          --version "$VERSION" --cache "$CACHE" --out "$OUT")
    for s in "${EXTRA_SETS[@]+"${EXTRA_SETS[@]}"}"; do opts+=(--set "$s"); done
    cat <<EOF
#!/bin/bash
#SBATCH --job-name=audioseek-table5
#SBATCH --nodes=$nodes
#SBATCH --ntasks-per-node=$gpus
#SBATCH --gres=gpu:$gpus
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00
# Download first, once, where there is internet: scripts/reproduce_paper.sh --download-only
# Lightning reads SLURM_NTASKS / SLURM_PROCID / SLURM_NODEID; one task per GPU.
srun $(printf '%q ' "$SCRIPT_DIR/reproduce_paper.sh" "${opts[@]}")
EOF
    exit 0
fi

# run a command, or print it with --dry-run
run() {
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# run a Python snippet (printed by its label with --dry-run)
run_py() {
    local label="$1" code="$2"
    shift 2
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '+ %q -c <%s>' "$PYTHON" "$label"
        printf ' %q' "$@"
        printf '\n'
    else
        "$PYTHON" -c "$code" "$@"
    fi
}

echo "audioseek: reproducing Table 5 (Clotho $VERSION at $DATA, weights in $CACHE, results in $OUT)"
echo "needs: ~20 GB of disk, one GPU with >= 16 GB (or --gpus N), ~10-20 GPU-hours for the six"
echo "       paper runs and about as much for configs/beyond (estimates; not measured here)"
if [[ -n "$GPUS$NODES" ]]; then
    echo "       devices per node: ${GPUS:-1}, nodes: ${NODES:-1} (DDP, negatives gathered over all)"
fi

export AUDIOSEEK_CACHE="$CACHE"
export TORCH_HOME="$CACHE/torch"
export HF_HOME="$CACHE/huggingface"

FETCH_WEIGHTS='
import hashlib, sys
from pathlib import Path

cache, url, name, md5, with_clap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
import torch
import torchvision

# torch.hub checks the sha256 prefix of the file name (check_hash) while downloading
torchvision.models.resnet50(weights="IMAGENET1K_V1")
torchvision.models.vit_b_16(weights="IMAGENET1K_V1")
ckpt = Path(cache, "checkpoints", name)
if not ckpt.is_file():
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(ckpt), progress=True)
h = hashlib.md5()
with open(ckpt, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
if h.hexdigest() != md5:
    ckpt.unlink()
    sys.exit(f"error: {ckpt} has MD5 {h.hexdigest()}, expected {md5}; removed, run again")
print(f"ok: {ckpt} (md5 {md5})")
from huggingface_hub import snapshot_download

for repo in ["roberta-base"] + (["laion/clap-htsat-unfused"] if with_clap == "1" else []):
    print("ok:", snapshot_download(repo))
'

TABLE5='
import json, sys
from pathlib import Path

from audioseek.eval.report import (
    PAPER_TABLE5, TABLE5_COLUMNS, bar_chart, column_definition, markdown_table,
    table5_comparison_rows, write_json, write_text,
)

out = Path(sys.argv[1])
runs = []
for grid in sys.argv[2:]:
    path = out / grid / "table5.json"
    if not path.is_file():
        sys.exit(f"error: {path} is missing; did the {grid} grid finish?")
    runs += json.loads(path.read_text())["runs"]
rows = table5_comparison_rows(runs)
md = (
    "# Table 5: text-audio retrieval on Clotho, ours vs the paper\n\n"
    "Ours: every config of " + ", ".join(f"configs/{g}/" for g in sys.argv[2:])
    + " trained and evaluated on its test split in both directions. The paper does not state"
    " the direction of its numbers; its R@10 is defined as the share of relevant items found"
    " (our Recall@10).\n\n" + markdown_table(rows)
)
print(md)
write_text(out / "table5.md", md)
defs = {c: column_definition(c) for c in TABLE5_COLUMNS}
doc = {"runs": runs, "paper": list(PAPER_TABLE5), "rows": rows, "column_definitions": defs}
write_json(out / "table5.json", doc)
bar_chart(runs, out / "table5.png")
print(f"wrote {out}/table5.md, table5.json, table5.png")
'

if [[ $DOWNLOAD -eq 1 ]]; then
    run "$AUDIOSEEK" data download clotho --root "$DATA" --version "$VERSION"
    with_clap=0
    [[ "$ONLY" != paper ]] && with_clap=1
    run_py fetch-weights "$FETCH_WEIGHTS" "$CACHE" "$CNN14_URL" "$CNN14_FILE" "$CNN14_MD5" "$with_clap"
fi

if [[ $TRAIN -eq 1 ]]; then
    for grid in "${GRIDS[@]}"; do
        run "$AUDIOSEEK" experiments "$REPO/configs/$grid" --out "$OUT/$grid" \
            --device "$DEVICE" "${SET_ARGS[@]}"
    done
    run_py table5 "$TABLE5" "$OUT" "${GRIDS[@]}"
fi
