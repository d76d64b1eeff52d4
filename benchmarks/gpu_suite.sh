#!/usr/bin/env bash
# Every GPU measurement of docs/benchmarks.md in one run, within 8 minutes on one H100/H200 with 16 CPU cores:
#   1. prompt-tuning step time of roberta-base- and t5-base-sized models from configs (batch 16, P = 100, 128
#      tokens), bf16 autocast and float32                                         (benchmarks/train_step_time.py)
#   2. extraction against the bare forward pass of the same models, MB/s written against the disk's rate
#      (goal ≥ 0.8× the forward, or ≥ 0.8× the disk when I/O-bound)               (benchmarks/extract_throughput.py)
#   3. a 12 GB store generated there, read and analysed on dask's threads          (benchmarks/analysis_scale.py)
#   4. predictivity over it on dask.distributed LocalClusters of 1, 2, 4, 8 workers (goal ≥ 0.7× linear at 8)
#                                                                                  (benchmarks/analysis_distributed.py)
#   and, from 1 and 2, the GPU hours and disk of the papers' studies at full size  (benchmarks/study_cost.py)
# It first checks that everything it needs is there (benchmarks/gpu_preflight.py) and stops within seconds if
# not. Wheels in .whl/ (benchmarks/gpu_wheels.sh fetches them where pip works) are installed into a private
# folder first. A failed or timed-out measurement is recorded and the next one runs; each has a time cap and the
# whole suite a budget (GPU_SUITE_SECONDS, default 470 s), so it ends in time. Results go to DIR/gpu-suite.md in
# docs/benchmarks.md's format (also printed at the end), progress and errors to DIR/gpu-suite.log; DIR is --out,
# else $OUT, else cache/gpu-suite. Exit status: 0 all measured, 1 some measurement failed, 2 usage, 3 not ready.
#
#   benchmarks/gpu_suite.sh [--out DIR]          # on the GPU machine
#   benchmarks/gpu_suite.sh --smoke [--out DIR]  # the same path at tiny sizes on a CPU (tests/test_gpu_suite.py)
#   options: --wheels DIR (instead of .whl/), --no-wheels; environment: PYTHON (default python3), GPU_SUITE_SECONDS,
#   GPU_SUITE_WORKDIR (where the stores go; default cache/ of the repository)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SMOKE=0
WHEELS=.whl
OUT_DIR=${OUT:-$REPO/cache/gpu-suite}
ARGS="$*"
while [ $# -gt 0 ]; do
    case $1 in
        --smoke) SMOKE=1 ;;
        --out) OUT_DIR=${2:?--out needs a folder}; shift ;;
        --wheels) WHEELS=${2:?--wheels needs a folder}; shift ;;
        --no-wheels) WHEELS= ;;
        -h|--help) sed -n '2,21p' "$0" | cut -c3-; exit 0 ;;
        *) echo "gpu_suite.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
PYTHON=${PYTHON:-python3}
START=$SECONDS
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR=$(cd "$OUT_DIR" && pwd)
REPORT=$OUT_DIR/gpu-suite.md
LOG=$OUT_DIR/gpu-suite.log
: > "$LOG"
rm -f "$OUT_DIR/train-step.json" "$OUT_DIR/extract.json"  # never an earlier run's throughput
# Stores go to the disk the repository is on (not /tmp, which may be a RAM disk), or to GPU_SUITE_WORKDIR.
mkdir -p "${GPU_SUITE_WORKDIR:-$REPO/cache}" || exit 2
WORK=$(mktemp -d "${GPU_SUITE_WORKDIR:-$REPO/cache}/gpu-suite-work.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT

if [ "$SMOKE" = 1 ]; then
    BUDGET=${GPU_SUITE_SECONDS:-900}  # a loaded 2-core CPU: slow imports, not slow measurements
    NEED_GB=1
    PREFLIGHT=(--smoke)
    TRAIN=(--quick --device cpu --precisions bf16,fp32)
    EXTRACT=(--quick --device cpu --models roberta-tiny,t5-tiny --no-memory-runs)
    STORES=(--gigabytes 0.005 --layers 2 --neurons 256 --prompt-length 3 --block-size 16 --train-examples 64
            --side-examples 32 --phases read-dask --no-drop-caches)
    CLUSTERS=(--workers 1,2)
    COST=(--benchmark-size tiny)
else
    BUDGET=${GPU_SUITE_SECONDS:-470}
    NEED_GB=30  # the 12 GB store and the largest extraction store (T5, float32) with its disk-rate file
    PREFLIGHT=()
    TRAIN=(--device cuda --models roberta-base,t5-base --precisions bf16,fp32)
    EXTRACT=(--device cuda --models roberta-base,t5-base --examples 512 --no-memory-runs)
    STORES=(--gigabytes 12 --phases read-dask,predictivity)
    CLUSTERS=(--workers 1,2,4,8)
    COST=()
fi

export PYTHONPATH=$REPO
export TQDM_MININTERVAL=10  # progress bars go to the log: a line every 10 s is enough there
SITE=()
if [ -n "$WHEELS" ] && compgen -G "$WHEELS/*.whl" > /dev/null; then
    if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$WORK/site" "$WHEELS"/*.whl >> "$LOG" 2>&1; then
        echo "gpu_suite: installing the wheels in $WHEELS failed (see $LOG); nothing measured" >&2
        exit 3
    fi
    export PYTHONPATH=$WORK/site:$REPO  # before the machine's own packages: the carried versions win
    SITE=(--site "$WORK/site")
fi
if ! timeout 300 "$PYTHON" benchmarks/gpu_preflight.py "${PREFLIGHT[@]}" "${SITE[@]}" --workdir "$WORK" \
        --need-gb "$NEED_GB" > "$WORK/preflight" 2>> "$LOG"; then
    grep '^gpu_suite:' "$LOG" >&2
    exit 3
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo "unknown commit")
[ -n "$(git status --porcelain 2>/dev/null)" ] && commit="$commit (with uncommitted changes)"
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU")
{
    echo "# GPU suite$([ "$SMOKE" = 1 ] && echo " (smoke: tiny sizes on a CPU, not a measurement)")"
    echo
    echo "\`benchmarks/gpu_suite.sh $ARGS\` at $commit, started $(date -u +%Y-%m-%dT%H:%M:%SZ)."
    echo "Machine: $gpu; $(nproc) CPUs; $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 2^20}' /proc/meminfo);"
    echo "$(df -hT "$WORK" | awk 'NR == 2 {print $5 " free of " $3 " on " $1 " (" $2 ")"}'), the stores' disk ($WORK)."
    echo "$(cat "$WORK/preflight")."
} > "$REPORT"

FAILED=()
# step TITLE CAP_SECONDS COMMAND…: run one measurement under min(cap, what is left of the budget); its Markdown
# output goes into the report, its headings one level below the step's.
step() {
    local title=$1 cap=$2
    shift 2
    local left=$((BUDGET - (SECONDS - START)))
    local limit=$((cap < left ? cap : left))
    printf '\n## %s\n\n```\n%s\n```\n\n' "$title" "$*" >> "$REPORT"
    if [ "$limit" -lt 15 ]; then
        echo "**Not run**: the suite's $BUDGET s were spent." >> "$REPORT"
        FAILED+=("$title (no time left)")
        return
    fi
    echo "gpu_suite: $title (at most $limit s)" >&2
    local began=$SECONDS
    echo "=== $title: $*" >> "$LOG"
    timeout --kill-after=10 "$limit" "$@" > "$WORK/step.out" 2>> "$LOG"
    local code=$?
    sed -E 's/^#+ /### /' "$WORK/step.out" >> "$REPORT"
    local took=$((SECONDS - began))
    if [ "$code" = 0 ]; then
        printf '\n(%d s)\n' "$took" >> "$REPORT"
    else
        local why="exit $code"
        [ "$code" = 124 ] && why="stopped after its $limit s"
        printf '\n**Failed** (%s, after %d s): see gpu-suite.log.\n' "$why" "$took" >> "$REPORT"
        FAILED+=("$title ($why)")
    fi
}

step "Prompt-tuning step time" 120 "$PYTHON" benchmarks/train_step_time.py "${TRAIN[@]}" \
    --json "$OUT_DIR/train-step.json"
step "Extraction against the bare forward pass" 180 \
    "$PYTHON" benchmarks/extract_throughput.py "${EXTRACT[@]}" --workdir "$WORK" --json "$OUT_DIR/extract.json"
if [ -f "$OUT_DIR/train-step.json" ] && [ -f "$OUT_DIR/extract.json" ]; then
    step "What the papers' studies cost at full size (estimate from the two steps above)" 60 \
        "$PYTHON" benchmarks/study_cost.py analyses/wang2022.toml analyses/ackermann2024.toml "${COST[@]}" \
        --train-json "$OUT_DIR/train-step.json" --extract-json "$OUT_DIR/extract.json"
fi
step "Analysis store, read and predictivity on dask's threads" 150 \
    "$PYTHON" benchmarks/analysis_scale.py "${STORES[@]}" --keep --workdir "$WORK/analysis"
if [ -d "$WORK/analysis/bench-a-dev.zarr" ]; then
    step "Predictivity on dask.distributed clusters" 200 "$PYTHON" benchmarks/analysis_distributed.py \
        --train "$WORK/analysis/bench-a-train.zarr" --eval "$WORK/analysis/bench-a-dev.zarr" "${CLUSTERS[@]}"
else
    printf '\n## Predictivity on dask.distributed clusters\n\n**Not run**: no store (the step before failed).\n' \
        >> "$REPORT"
    FAILED+=("Predictivity on dask.distributed clusters (no store)")
fi

total=$((SECONDS - START))
{
    echo
    echo "---"
    echo "The suite took $total s in all (budget $BUDGET s)."
    [ ${#FAILED[@]} -gt 0 ] && printf 'Not measured: %s.\n' "$(IFS=';'; echo "${FAILED[*]}" | sed 's/;/; /g')"
} >> "$REPORT"
cat "$REPORT"
echo "gpu_suite: report in $REPORT, log in $LOG ($total s)" >&2
[ ${#FAILED[@]} -eq 0 ]
