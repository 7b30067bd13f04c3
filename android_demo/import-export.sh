#!/usr/bin/env bash
# Copies an export (manifest.json and its .tflite models) into the app's assets, after checking
# the manifest with the app's own rules and every model's size and SHA-256.
#
#   android_demo/import-export.sh DIR/tflite [SAMPLES_DIR]
#
# DIR/tflite is what 'python -m export --workdir=DIR' writes. SAMPLES_DIR (default:
# DIR/tflite/samples, if present) holds one folder per task with sample images (.png, .jpg,
# .jpeg, .webp) that the app offers next to the gallery. The previous import is replaced only
# when everything checked out. Needs a JDK 17+ (java, javac) on PATH.
set -euo pipefail

demo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
assets_dir="$demo_dir/app/src/main/assets"
target="$assets_dir/dvn"
tool_dir="$demo_dir/build/import-tool"

fail() {
  echo "import-export: $*" >&2
  exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || fail "usage: $0 DIR/tflite [SAMPLES_DIR]"
export_dir="${1%/}"
[[ -d "$export_dir" ]] || fail "'$export_dir' is not a folder: give the tflite folder of an export (DIR/tflite)."
[[ -f "$export_dir/manifest.json" ]] || fail "'$export_dir' has no manifest.json: run 'python -m export --workdir=DIR' and give DIR/tflite."
samples_dir="${2:-}"
if [[ -z "$samples_dir" && -d "$export_dir/samples" ]]; then
  samples_dir="$export_dir/samples"
fi
[[ -z "$samples_dir" || -d "$samples_dir" ]] || fail "samples folder '$samples_dir' does not exist."

for tool in java javac; do
  command -v "$tool" >/dev/null || fail "'$tool' not found: put a JDK 17+ on PATH (Android Studio's own is in its jbr/bin folder)."
done
if command -v sha256sum >/dev/null; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  fail "neither sha256sum nor shasum is available to check the models."
fi

# Check the manifest with the app's own reader (the plain-Java core).
rm -rf "$tool_dir"
mkdir -p "$tool_dir"
json_jar=/usr/share/java/com.android.json.jar # org.json, which Android ships
[[ -f "$json_jar" ]] || fail "$json_jar is missing: run 'sudo apt-get install -y libandroid-json-java'."
find "$demo_dir/core/src/main/java" -name '*.java' > "$tool_dir/sources.txt"
javac --release 17 -cp "$json_jar" -d "$tool_dir/classes" @"$tool_dir/sources.txt"
listing="$(java -cp "$tool_dir/classes:$json_jar" org.dvn.demo.core.ManifestCheck "$export_dir/manifest.json")" \
  || fail "the manifest was rejected (see above); nothing was imported."

# Check every model file, then stage the copy beside the target.
staging="$(mktemp -d "$assets_dir.staging.XXXXXX")" # Same file system as the target.
chmod 755 "$staging"
trap 'rm -rf "$staging"' EXIT
cp "$export_dir/manifest.json" "$staging/"
tasks=()
models=0
while read -r kind name sha bytes; do
  if [[ "$kind" == task ]]; then
    tasks+=("$name")
    continue
  fi
  file="$export_dir/$name"
  [[ -f "$file" ]] || fail "manifest.json lists $name but $file does not exist; nothing was imported."
  size="$(wc -c < "$file" | tr -d ' ')"
  [[ "$size" == "$bytes" ]] || fail "$name has $size bytes, but the manifest says $bytes: the export is incomplete or mixed; export again."
  actual="$(sha256 "$file")"
  [[ "$actual" == "$(echo "$sha" | tr '[:upper:]' '[:lower:]')" ]] || fail "$name has SHA-256 $actual, but the manifest says $sha: the file is corrupt or from another export."
  cp "$file" "$staging/"
  models=$((models + 1))
done <<< "$listing"

samples=0
if [[ -n "$samples_dir" ]]; then
  for task in "${tasks[@]}"; do
    [[ -d "$samples_dir/$task" ]] || continue
    mkdir -p "$staging/samples/$task"
    while IFS= read -r -d '' image; do
      cp "$image" "$staging/samples/$task/"
      samples=$((samples + 1))
    done < <(find "$samples_dir/$task" -maxdepth 1 -type f \
      \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.webp' \) -print0)
  done
  for folder in "$samples_dir"/*/; do
    [[ -d "$folder" ]] || continue
    task="$(basename "$folder")"
    [[ " ${tasks[*]} " == *" $task "* ]] || echo "import-export: note: samples folder '$task' matches no task; skipped." >&2
  done
fi

mkdir -p "$assets_dir"
rm -rf "$target"
mv "$staging" "$target"
trap - EXIT
echo "Imported ${#tasks[@]} tasks, $models models and $samples sample images into ${target#"$demo_dir/"}."
echo "Build and install the app to use them (see android_demo/README.md)."
