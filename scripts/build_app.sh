#!/usr/bin/env bash
# Build the desktop app from build.spec and run its self-test (offscreen).
#   scripts/build_app.sh            # dist/ftgui/
#   FTGUI_DEBUG_BUILD=1 scripts/build_app.sh   # console variant
set -euo pipefail
cd "$(dirname "$0")/.."
python -m PyInstaller --noconfirm --clean build.spec
case "$(uname -s)" in
  Darwin) app="dist/ftgui.app/Contents/MacOS/ftgui" ;;
  MINGW*|MSYS*|CYGWIN*) app="dist/ftgui/ftgui.exe" ;;
  *) app="dist/ftgui/ftgui" ;;
esac
QT_QPA_PLATFORM=offscreen "$app" --self-test
du -sh dist/ftgui
