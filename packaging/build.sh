#!/usr/bin/env bash
# Build the one-folder bundle "dist/AI Studio" on Linux (see packaging/README.md for Windows/macOS).
#
#   bash packaging/build.sh            build (or refresh) dist/AI Studio
#   bash packaging/build.sh --tar      ... and dist/ai-studio-<version>-linux-<arch>.tar.gz
#   bash packaging/build.sh --force    ignore the cache and run PyInstaller again
#   STUDIO_BUNDLE_TRIM=0 ...           build without trimming (to measure what trimming saves)
#
# A PyInstaller run takes 10-20 minutes on 2 cores, so its output is cached in
# ${AI_STUDIO_BUNDLE_CACHE:-~/.cache/ai-studio}/bundle-<key>, like scripts/env.sh caches the
# environment. The key (packaging/bundle.py cache_key) covers the requirement files, the spec,
# the packaging rules, the Python version and every module name studio_desktop imports; our own
# code is not in it: packaging/overlay.py recompiles it into the bundle in seconds. So a fresh
# clone or a code change reuses the cached build; a new dependency or import rebuilds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
tar_it=0 force=0
for arg in "$@"; do
  case "$arg" in
    --tar) tar_it=1 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
venv="$("$here/scripts/env.sh" --bundle)"
py="$venv/bin/python"
version="$("$py" packaging/bundle.py version "$here")"
key="$("$py" packaging/bundle.py key "$here")"
cache_root="${AI_STUDIO_BUNDLE_CACHE:-$HOME/.cache/ai-studio}"
cache="$cache_root/bundle-$key"
app="AI Studio"
dist="$here/dist"

if [ "$force" = 1 ] || [ ! -f "$cache/.complete" ]; then
  echo "build.sh: running PyInstaller (no cached build for key $key; 10-20 minutes)" >&2
  work="$cache_root/bundle-work"          # PyInstaller's own cache of analysed modules
  partial="$cache.partial"
  rm -rf "$partial"
  mkdir -p "$partial"
  "$py" packaging/make_icons.py "$here/build/icons" >&2
  STUDIO_BUNDLE_ICONS="$here/build/icons" "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
      --workpath "$work" --distpath "$partial" studio.spec >&2
  mkdir -p "$partial/$app/share"
  cp -r "$here/build/icons/hicolor" "$partial/$app/share/icons"
  rm -rf "$cache"
  mv "$partial" "$cache"
  touch "$cache/.complete"
  # keep the two newest cached builds (each is several GB)
  ls -1dt "$cache_root"/bundle-????????????????  2>/dev/null | tail -n +3 | xargs -r rm -rf
  built="PyInstaller"
else
  echo "build.sh: reusing the cached PyInstaller build $key" >&2
  built="cache"
fi

# dist/AI Studio = the cached build (hard links: instant, no extra disk) + today's sources
rm -rf "$dist/$app"
mkdir -p "$dist"
cp -al "$cache/$app" "$dist/$app" 2>/dev/null || cp -a "$cache/$app" "$dist/$app"
"$py" packaging/overlay.py "$dist/$app" >&2
# the desktop entry and the installer; files replaced, never edited in place (hard links)
rm -f "$dist/$app/install.sh" "$dist/$app/share/ai-studio.desktop" "$dist/$app/VERSION"
cp packaging/linux/install.sh "$dist/$app/install.sh"
sed "s/@VERSION@/$version/" packaging/linux/ai-studio.desktop > "$dist/$app/share/ai-studio.desktop"
chmod +x "$dist/$app/install.sh"
echo "$version" > "$dist/$app/VERSION"

# what the app cannot run without: fail here, not on a user's desktop
for f in "ai-studio" "_internal/PySide6/Qt/plugins/platforms/libqxcb.so" \
         "_internal/PySide6/Qt/plugins/platforms/libqwayland.so" \
         "_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so" \
         "_internal/PySide6/Qt/plugins/imageformats/libqsvg.so" \
         "_internal/PySide6/Qt/plugins/iconengines/libqsvgicon.so" \
         "_internal/torchvision/_C_stable.so" "_internal/pytorch_lightning/version.info" \
         "_internal/lightning_fabric/version.info" "_internal/resources/icons/app.svg" \
         "share/icons/256x256/apps/ai-studio.png"; do
  [ -e "$dist/$app/$f" ] || { echo "build.sh: the bundle lacks $f" >&2; exit 1; }
done

size=$(du -sm "$dist/$app" | cut -f1)
echo "build.sh: dist/$app ready (version $version, ${size} MB, from $built, $(( $(date +%s) - start )) s)"
if [ "$tar_it" = 1 ]; then
  archive="$dist/ai-studio-$version-linux-$(uname -m).tar.gz"
  tar -C "$dist" --transform "s|^$app|ai-studio|" -cf - "$app" | gzip -1 > "$archive.partial"
  mv "$archive.partial" "$archive"
  echo "build.sh: $archive ($(du -m "$archive" | cut -f1) MB). Install with:"
  echo "  mkdir -p ~/.local/opt && tar -xzf $(basename "$archive") -C ~/.local/opt && ~/.local/opt/ai-studio/install.sh"
fi
