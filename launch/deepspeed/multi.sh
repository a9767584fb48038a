#!/usr/bin/env bash
# Final training on several processes, GPUs or nodes. Each form trains the two most
# spread-out frontier models of the default study and records their test accuracy.
set -euo pipefail
STUDY_FLAGS=(--run-dir runs --study cmt_compound --pareto 2 --epochs 30)

case "${1:-gpus}" in
  gpus)   # every GPU of this machine, bf16, ZeRO-2
    deepspeed --no_local_rank --module scalesearch train "${STUDY_FLAGS[@]}" \
      --deepspeed-config launch/deepspeed/zero2_bf16.json ;;
  cpu)    # two CPU processes (gloo), ZeRO-2
    torchrun --nproc_per_node 2 -m scalesearch train "${STUDY_FLAGS[@]}" \
      --deepspeed-config launch/deepspeed/zero2_cpu.json ;;
  nodes)  # several nodes: list them in a hostfile ("host slots=8" per line); the study
          # must be in PostgreSQL so every node reads the same trials.
    deepspeed --no_local_rank --hostfile "${HOSTFILE:-hostfile}" --module scalesearch train \
      --storage "${STORAGE:?set STORAGE=postgresql://...}" --study cmt_compound --pareto 2 \
      --epochs 30 --deepspeed-config launch/deepspeed/zero2_bf16.json ;;
  *) echo "usage: $0 [gpus|cpu|nodes]" >&2; exit 2 ;;
esac
