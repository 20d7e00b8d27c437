#!/bin/bash
# The GPU checks in one go, for a CUDA machine where faiss-gpu-cuvs, torch and transformers import (the `gpu` extra):
#   1. pytest -m gpu over the test files that hold GPU tests (faiss GPU indexes and CAGRA, GPU ground truth, a GPU
#      sweep through the runner, CUDA fp16 encoding, training with mixed precision and GPU model mining);
#   2. bench/scaling.py's rates on this machine: encoding for the MiniLM-L6, BGE-small and BERT-base architectures,
#      exact search, HNSW and CAGRA builds. The encoders run with random weights built from a MiniLM config
#      directory ($1: config.json + tokenizer files), so no weights need to travel: compute per token does not
#      depend on the weights' values.
# Logs go to $OUT (default ./gpu-check). Usage: scripts/gpu-check.sh MINILM_CONFIG_DIR
set -u
out=${OUT:-gpu-check}
mkdir -p "$out"
config=${1:?usage: scripts/gpu-check.sh MINILM_CONFIG_DIR}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/nvidia-smi.csv" 2>&1
python3 -c "import faiss, torch, transformers; print('faiss', faiss.__version__, 'gpus', faiss.get_num_gpus(),
'cagra', hasattr(faiss, 'GpuIndexCagra'), 'torch', torch.__version__, torch.cuda.get_device_name(0),
'transformers', transformers.__version__)" 2>&1 | tee "$out/versions.txt"
python3 -m pytest -m gpu -o addopts="" -p no:cacheprovider -rA --durations=5 \
  tests/test_faiss_gpu.py tests/test_encoders.py tests/test_training.py 2>&1 | tee "$out/pytest-gpu.log" | tail -40
python3 - "$config" /tmp/gpu-check-models <<'PY'
"""MiniLM-L6, BGE-small and BERT-base architectures with random weights, each a model directory with MiniLM's
tokenizer (all three use BERT's uncased 30,522-token vocabulary)."""
import shutil, sys
from pathlib import Path
import torch
from transformers import AutoConfig, AutoModel
source, root = Path(sys.argv[1]), Path(sys.argv[2])
shapes = {"minilm-l6": {}, "bge-small": {"num_hidden_layers": 12},
          "bert-base": {"num_hidden_layers": 12, "hidden_size": 768, "intermediate_size": 3072}}
for name, shape in shapes.items():
    folder = root / name
    shutil.copytree(source, folder, dirs_exist_ok=True)
    config = AutoConfig.from_pretrained(source, **shape)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    print("model", name, {k: getattr(config, k) for k in ("num_hidden_layers", "hidden_size", "intermediate_size")})
PY
for model in minilm-l6 bge-small bert-base; do
  for batch in 32 256; do
    python3 bench/scaling.py --checkpoint /tmp/gpu-check-models/$model --docs 20000 --batch-size $batch \
      --encode-only 2>&1 | grep '^scaling' | tee -a "$out/scaling.log"
  done
done
python3 bench/scaling.py --checkpoint /tmp/gpu-check-models/minilm-l6 --docs 2000 --batch-size 256 \
  --exact-docs 1000000 --hnsw 50000 --cagra 1000000 2>&1 | grep '^scaling' | tee -a "$out/scaling.log"
