#!/usr/bin/env bash
# Refresh requirements/lock.txt: install the newest versions pyproject.toml allows into a
# new virtual environment, run the tests there, and write the lock only when they pass.
# Review `git diff requirements/lock.txt` and commit it. Options: see scripts/test_newest.sh.
exec "$(dirname "$0")/test_newest.sh" --lock
