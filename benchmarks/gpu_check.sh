#!/usr/bin/env bash
# Everything that needs a GPU, in one command, its results as files in $OUT (default: gpu_results/):
#   environment.json   the torch build and the device
#   cuda_tests.txt     the CUDA tests (tests/train/test_cuda.py and the on-device data tests)
#   train_speed.json   each preset: eager fp32, the CUDA defaults, and compiled; FLOPs and peak fraction
#   baseline_loop.json ganforge's step against a straightforward loop, in one process
#   real_runs.json     a short real training run of each preset, with its quality measured
# Usage: bash benchmarks/gpu_check.sh [STAGE ...]   (stages: env tests speed baseline runs; default: all)
set -uo pipefail
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
STAGES=${*:-env tests speed baseline runs}
COMPILED=${COMPILED:-dcgan-mnist pix2pix dcgan dcgan-128 unet-restore}

for stage in $STAGES; do
  echo "== $stage $(date +%T)"
  case $stage in
    env) $PY -c 'import json, torch; p = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "device": p and p.name,
 "memory_gb": p and round(p.total_memory / 2**30, 1), "multiprocessors": p and p.multi_processor_count}))' \
      | tee "$OUT/environment.json" ;;
    tests) $PY -m pytest -q -p no:cacheprovider -rs tests/train/test_cuda.py tests/data/test_augment.py \
      tests/data/test_degrade.py 2>&1 | tee "$OUT/cuda_tests.txt" | tail -n 40 ;;
    speed)
      $PY benchmarks/train_speed.py --variants eager default > "$OUT/train_speed.json"
      $PY benchmarks/train_speed.py --variants optimised --presets $COMPILED > "$OUT/train_speed_compiled.json"
      tail -c 600 "$OUT/train_speed.json" ;;
    baseline) $PY benchmarks/baseline_loop.py > "$OUT/baseline_loop.json" && cat "$OUT/baseline_loop.json" ;;
    runs) $PY benchmarks/real_runs.py --out "$OUT/real_runs" > "$OUT/real_runs.json" && cat "$OUT/real_runs.json" ;;
  esac
done
echo "== done $(date +%T)"
