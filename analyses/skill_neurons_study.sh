#!/usr/bin/env bash
# A skill-neuron study with the neurokit CLI, as in Wang et al. (2022) and Ackermann & Ohmer (2024):
# prompt-tune several seeds per task, add an untuned prompt per task (the null), extract train statistics,
# dev and adversarial test activations, analyse (skill neurons chosen on dev), plot, and perturb the skill
# neurons on test (Wang et al.: train gives the baselines, dev chooses, test reports).
#
# Defaults reproduce the RoBERTa-base setting on SST-2 and QNLI with their AdvGLUE sets; they need the
# Hugging Face Hub and, for the defaults' sizes, a GPU. Every setting is an environment variable, e.g. the
# offline version on the embedded model (the test suite runs it so, at tiny sizes):
#   MODEL=embedded TASKS="toy_sentiment_movies toy_nli" SEEDS="0 1" analyses/skill_neurons_study.sh
set -euo pipefail

MODEL=${MODEL:-roberta-base}
TASKS=${TASKS:-"sst2 qnli"}
SEEDS=${SEEDS:-"0 1 2"}
PROMPT_LENGTH=${PROMPT_LENGTH:-100}
INIT=${INIT:-vocab}
STEPS=${STEPS:-3000}
LEARNING_RATE=${LEARNING_RATE:-0.001}
TRAIN_SIZE=${TRAIN_SIZE:-}          # empty: whole splits
EVAL_SIZE=${EVAL_SIZE:-}
OUT=${OUT:-cache/study}
NEUROKIT=${NEUROKIT:-neurokit}
PROGRESS=${PROGRESS:-}              # set to --no-progress to silence progress bars

size() { [[ -n "$1" ]] && echo "--size $1" || true; }
train_size() { [[ -n "$1" ]] && echo "--train-size $1 --dev-size $1" || true; }

train_stores=() eval_stores=() adversarial_stores=() null_stores=()
extract() {  # prompt task split size store; a store already complete is resumed, i.e. left as it is
  "$NEUROKIT" extract --model "$MODEL" --prompt "$1" --task "$2" --split "$3" $(size "$4") --out "$5" $PROGRESS
}
for task in $TASKS; do
  for seed in $SEEDS; do
    prompt="$OUT/prompts/$task-seed$seed" stores="$OUT/stores/$task-seed$seed"
    [[ -f "$prompt/prompt.safetensors" ]] || "$NEUROKIT" train --model "$MODEL" --task "$task" \
      --prompt-length "$PROMPT_LENGTH" --init "$INIT" --learning-rate "$LEARNING_RATE" --max-steps "$STEPS" \
      --seed "$seed" $(train_size "$TRAIN_SIZE") --out "$prompt"
    extract "$prompt" "$task" train "$TRAIN_SIZE" "$stores/train.zarr"
    extract "$prompt" "$task" dev "$EVAL_SIZE" "$stores/dev.zarr"
    train_stores+=("$stores/train.zarr") eval_stores+=("$stores/dev.zarr")
    if "$NEUROKIT" tasks | grep -q "^adv_$task "; then
      extract "$prompt" "adv_$task" test "$EVAL_SIZE" "$stores/adversarial.zarr"
      adversarial_stores+=("$stores/adversarial.zarr")
    fi
  done
  prompt="$OUT/prompts/$task-untuned" stores="$OUT/stores/$task-untuned"
  [[ -f "$prompt/prompt.safetensors" ]] || "$NEUROKIT" prompt init --model "$MODEL" --task "$task" \
    --prompt-length "$PROMPT_LENGTH" --init "$INIT" --dev-size 0 --out "$prompt"
  extract "$prompt" "$task" train "$TRAIN_SIZE" "$stores/train.zarr"
  extract "$prompt" "$task" dev "$EVAL_SIZE" "$stores/dev.zarr"
  null_stores+=("$stores/train.zarr" "$stores/dev.zarr")
done

adversarial_args=() && [[ ${#adversarial_stores[@]} -gt 0 ]] && adversarial_args=(--adversarial "${adversarial_stores[@]}")
"$NEUROKIT" analyze --train "${train_stores[@]}" --eval "${eval_stores[@]}" "${adversarial_args[@]}" \
  --null "${null_stores[@]}" --out "$OUT/results.zarr" --tables "$OUT/tables" --overwrite
"$NEUROKIT" plot "$OUT/results.zarr" --out "$OUT/figures"
first_task=${TASKS%% *}
first_seed=${SEEDS%% *}
"$NEUROKIT" ablate --model "$MODEL" --prompt "$OUT/prompts/$first_task-seed$first_seed" --task "$first_task" \
  --skill "$OUT/results.zarr" --split test $(size "$EVAL_SIZE") --out "$OUT/ablation.zarr" --overwrite
echo "study written to $OUT"
