#!/usr/bin/env bash
# mixed_ft's two commands, on a machine with only Python 3.10+:
#   bash dev.sh demo    set up .venv and run the main job (mixed-ft demo)
#   bash dev.sh test    set up .venv and run the whole test suite (what .ci/run runs)
# and one more for the docs:
#   bash dev.sh docs    build the documentation site offline into _site/ (Sphinx over nbdev's processed notebooks, every
#                       notebook run) and check it in headless Chromium; with Quarto installed, nbdev-docs too (_docs/)
#
# Settings (environment variables):
#   PYTHON=python3.12     the interpreter that creates the virtual environment (default: python3)
#   VENV=.venv            where the virtual environment lives
#   TORCH_VERSION=2.13.0  the torch release to install
#   TORCH_INDEX=URL       the wheel index for torch. Default: a local wheel if pip finds one, else the CPU-only
#                         build from https://download.pytorch.org/whl/cpu. For a CUDA build pick the index that
#                         matches your driver, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu126
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
PY="$VENV/bin/python"

setup() {  # setup EXTRAS
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mixed_ft needs Python 3.10 or newer")'
  [ -x "$PY" ] || "$PYTHON" -m venv "$VENV"
  if ! "$PY" -c 'import torch' 2>/dev/null; then
    # torch first: a bare 'torch' requirement would pull the multi-GB CUDA build
    if [ -n "${TORCH_INDEX:-}" ]; then
      "$PY" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX"
    else
      # a wheel that pip finds on local disk (find-links) first, with its dependencies from the usual index;
      # otherwise the CPU-only build from PyTorch's own index
      if "$PY" -m pip install -q --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
        "$PY" -m pip install -q "torch==$TORCH_VERSION"
      else
        "$PY" -m pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
      fi
    fi
  fi
  if [ "$1" != demo ] && ! "$PY" -c 'import seqeval' 2>/dev/null; then
    # seqeval (NER's entity F1) ships only as a source archive whose setup_requires fetches the newest setuptools_scm,
    # which no longer builds it: build it once against a setuptools_scm that does
    "$PY" -m pip install -q setuptools wheel "setuptools_scm<9"
    "$PY" -m pip install -q --no-build-isolation "seqeval>=1.2"
  fi
  "$PY" -m pip install -q -e ".[$1]"
}

cmd=${1:-}; shift || true
case "$cmd" in
  demo)
    setup demo
    "$VENV/bin/mixed-ft" demo "$@"
    ;;
  test)
    setup dev
    export MPLBACKEND=Agg
    start=$(date +%s)
    # 1. the notebooks are the source: cleaning and exporting them must change nothing that is committed
    "$VENV/bin/nbdev-clean"
    "$VENV/bin/nbdev-export"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      drift=$(git status --porcelain -- nbs mixed_ft)
      if [ -n "$drift" ]; then
        echo "nbdev-clean / nbdev-export changed these files; run them and commit notebooks and package together:"
        echo "$drift"; git --no-pager diff --stat -- nbs mixed_ft
        exit 1
      fi
    fi
    # 2. every notebook top to bottom (cells flagged slow or cuda are skipped: see tst_flags in pyproject.toml).
    #    The SST-2 tutorial needs the data set; without it, it is skipped and says so.
    skip=()
    if [ ! -f "${MIXED_FT_DATA:-../shared/data}/sst2/train.tsv" ]; then
      echo "SST-2 not found under ${MIXED_FT_DATA:-../shared/data}: skipping the tutorial nbs/06_sst2 (set MIXED_FT_DATA to run it)"
      skip=(--skip-file-glob '06_sst2*')
    fi
    "$VENV/bin/nbdev-test" "${skip[@]}" "$@"
    # 3. the documentation site builds offline (prose and API entries; bash dev.sh docs also runs the notebooks) and
    #    passes the structural checks; README.md is what nbs/index.ipynb generates
    "$PY" tools/docs_site.py --no-exec --out _build/site_check
    "$PY" tools/check_docs.py _build/site_check
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && [ -n "$(git status --porcelain -- README.md)" ]; then
      echo "README.md differs from what nbs/index.ipynb generates: run python tools/docs_site.py and commit README.md"
      git --no-pager diff --stat -- README.md; exit 1
    fi
    # 4. integration, CLI and resume tests
    "$PY" -m pytest tests/ -q -p no:cacheprovider
    echo "dev.sh test: all checks passed in $(( $(date +%s) - start ))s"
    ;;
  docs)
    setup dev
    export MPLBACKEND=Agg
    # the offline site: every notebook run (cells flagged slow/cuda left unrun), built by Sphinx into _site/
    "$PY" tools/docs_site.py "$@"
    if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian's chromium for the browser check"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
      "$PY" tools/check_docs.py _site --browser --shots _site_shots
    else
      echo "no Chromium (Debian: apt-get install chromium): structural checks only"
      "$PY" tools/check_docs.py _site
    fi
    # with Quarto, nbdev's own site as well (_docs/)
    if command -v quarto >/dev/null 2>&1; then "$VENV/bin/nbdev-docs"; fi
    ;;
  *)
    echo "usage: bash dev.sh demo [mixed-ft demo options] | test [nbdev-test options] | docs [--no-exec]" >&2
    exit 2
    ;;
esac
