#!/usr/bin/env bash
# Everything that needs a GPU, in one command, its results as files in $OUT (default: gpu_results/):
#   environment.json       the torch build and the device
#   cuda_tests.txt         the CUDA tests (tests/train/test_cuda.py and the on-device data tests)
#   train_speed.json       each preset: the CUDA default (fp32 with TF32), bf16 with channels_last, and one
#                          CUDA graph a step in bf16 and in fp32; FLOPs and the fraction of the device's peak
#                          (train_speed_progress.txt: each result as it comes, and any error)
#   train_speed_compiled.json  the same with torch.compile (COMPILED: the presets; compiling takes minutes)
#   baseline_loop*.json    ganforge's step against a straightforward loop, in one process (default, graphs)
#   real_runs.json         a short real training run of each preset in RUNS, with its evaluation
#   data_speed.json        images/s a JPEG folder and a packed set deliver to the GPU, at 64 and 256 px
#   sr_quality.json        the full-size SRResNet x4 for 3 minutes: luma PSNR over bicubic on unseen photographs
# Usage: bash benchmarks/gpu_check.sh [STAGE ...]  (stages: env tests speed compiled baseline runs data sr;
#        default: all but compiled)
set -uo pipefail
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
STAGES=${*:-env tests speed baseline runs data sr}
COMPILED=${COMPILED:-dcgan-mnist pix2pix}
RUNS=${RUNS:-dcgan-mnist pix2pix}

for stage in $STAGES; do
  echo "== $stage $(date +%T)"
  case $stage in
    env) $PY -c 'import json, torch; p = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "device": p and p.name,
 "memory_gb": p and round(p.total_memory / 2**30, 1), "multiprocessors": p and p.multi_processor_count}))' \
      | tee "$OUT/environment.json" ;;
    tests) $PY -m pytest -q -p no:cacheprovider -rs -s tests/train/test_cuda.py tests/data/test_augment.py tests/data/test_packed.py \
      tests/data/test_degrade.py tests/data/test_realworld.py tests/models/test_tiles.py 2>&1 | tee "$OUT/cuda_tests.txt" | grep -v "^\.*$" | tail -n 40 ;;
    speed) $PY benchmarks/train_speed.py --variants default bf16 graphs graphs-fp32 --up-modes upsample \
      > "$OUT/train_speed.json" 2> "$OUT/train_speed_progress.txt"; $PY benchmarks/summarise.py "$OUT/train_speed.json" ;;
    compiled) $PY benchmarks/train_speed.py --variants optimised --presets $COMPILED \
      > "$OUT/train_speed_compiled.json"; $PY benchmarks/summarise.py "$OUT/train_speed_compiled.json" ;;
    baseline)
      $PY benchmarks/baseline_loop.py > "$OUT/baseline_loop.json"
      $PY benchmarks/baseline_loop.py --set train.cuda_graphs=true > "$OUT/baseline_loop_graphs.json"
      $PY benchmarks/summarise.py "$OUT/baseline_loop.json" "$OUT/baseline_loop_graphs.json" ;;
    data) $PY benchmarks/data_speed.py --images 1024 > "$OUT/data_speed.json"; tail -n 30 "$OUT/data_speed.json" ;;
    sr) $PY benchmarks/sr_quality.py --scale 4 --width 64 --blocks 16 --patch 128 --minutes 3 --out /tmp/sr_quality \
      > "$OUT/sr_quality.json"; tail -n 30 "$OUT/sr_quality.json" ;;
    runs) $PY benchmarks/real_runs.py --presets $RUNS --cuda-graphs --out /tmp/real_runs > "$OUT/real_runs.json"
      $PY benchmarks/summarise.py "$OUT/real_runs.json" ;;
  esac
done
echo "== done $(date +%T)"
