#!/usr/bin/env bash
# Install AI Studio for this user from the unpacked folder this script is in (no root needed):
# a launcher in the applications menu, the icon, and `ai-studio` on the PATH (~/.local/bin).
#   ./install.sh             install (or update: run the new folder's install.sh)
#   ./install.sh --uninstall remove the launcher, icon and link (the folder itself is left)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
bin="$HOME/.local/bin"
desktop="$data/applications/ai-studio.desktop"
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$desktop" "$bin/ai-studio"
  find "$data/icons/hicolor" -name 'ai-studio.*' -delete 2>/dev/null || true
  echo "AI Studio's launcher, icon and command were removed; delete $here to remove the app."
  exit 0
fi
[ -x "$here/ai-studio" ] || { echo "install.sh: $here/ai-studio not found" >&2; exit 1; }
mkdir -p "$data/applications" "$data/icons/hicolor" "$bin"
cp -r "$here/share/icons/." "$data/icons/hicolor/"
# the Exec path is quoted: the folder may contain spaces
sed "s|@EXEC@|\"$here/ai-studio\"|" "$here/share/ai-studio.desktop" > "$desktop.tmp"
mv "$desktop.tmp" "$desktop"
ln -sfn "$here/ai-studio" "$bin/ai-studio"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "AI Studio $(cat "$here/VERSION" 2>/dev/null) installed: find it in the applications menu, or run ai-studio."
case ":$PATH:" in *":$bin:"*) ;; *) echo "(add $bin to your PATH to run ai-studio from a terminal)";; esac
