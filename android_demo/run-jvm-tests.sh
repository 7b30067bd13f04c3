#!/usr/bin/env bash
# Compiles the plain-Java core of the Android demo and its JUnit 4 tests with javac and runs
# them on the JVM (no Gradle, no Android SDK). Prints JUnit's summary; exits non-zero on failure.
# Works from any directory; build output goes to android_demo/build/jvm-tests (git-ignored).
set -euo pipefail

demo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$demo_dir/.." && pwd)"
core_dir="$demo_dir/core"
out_dir="$demo_dir/build/jvm-tests"
fixture="$repo_dir/tests/fixtures/policy_vectors.json"
joint_fixture="$repo_dir/tests/fixtures/joint_ladder_vectors.json"
shared_export="$repo_dir/tests/fixtures/shared_export"
per_class_fixture="$repo_dir/tests/fixtures/per_class_recall"
junit_jar=/usr/share/java/junit4.jar
hamcrest_jar=/usr/share/java/hamcrest-core.jar
json_jar=/usr/share/java/com.android.json.jar  # org.json as Android ships it

for tool in javac java; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' not found: install a JDK 17 (e.g. apt-get install -y openjdk-17-jdk-headless)." >&2; exit 2; }
done

if [[ ! -f "$junit_jar" || ! -f "$hamcrest_jar" || ! -f "$json_jar" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "Installing Debian's junit4 (JUnit 4 and Hamcrest) and libandroid-json-java (org.json)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq junit4 \
      libandroid-json-java >/dev/null
  else
    echo "error: $junit_jar, $hamcrest_jar or $json_jar is missing: run" \
      "'sudo apt-get install -y junit4 libandroid-json-java'." >&2
    exit 2
  fi
fi
[[ -f "$fixture" ]] || { echo "error: shared policy fixture not found at $fixture." >&2; exit 2; }

# The core must stay plain Java: it is compiled here without the Android SDK.
if grep -rnE '^import (static )?androidx?\.' "$core_dir/src"; then
  echo "error: the core must not import android.* or androidx.* (see the lines above)." >&2
  exit 1
fi

rm -rf "$out_dir"
mkdir -p "$out_dir/main" "$out_dir/test"
classpath="$junit_jar:$hamcrest_jar:$json_jar"

find "$core_dir/src/main/java" -name '*.java' > "$out_dir/main-sources.txt"
javac --release 17 -Xlint:all,-serial -Werror -cp "$json_jar" -d "$out_dir/main" \
  @"$out_dir/main-sources.txt"

find "$core_dir/src/test/java" -name '*.java' > "$out_dir/test-sources.txt"
javac --release 17 -Xlint:all,-serial -Werror -cp "$out_dir/main:$classpath" -d "$out_dir/test" \
  @"$out_dir/test-sources.txt"

# Test classes are the compiled *Test.class files, as fully qualified names.
mapfile -t test_classes < <(cd "$out_dir/test" && find . -name '*Test.class' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
[[ ${#test_classes[@]} -gt 0 ]] || { echo "error: no test classes found." >&2; exit 1; }

set +e
java -Ddvn.policyVectors="$fixture" -Ddvn.jointVectors="$joint_fixture" -Ddvn.sharedExport="$shared_export" \
  -Ddvn.perClassFixture="$per_class_fixture" -cp "$out_dir/test:$out_dir/main:$classpath" \
  org.junit.runner.JUnitCore "${test_classes[@]}" | tee "$out_dir/junit-output.txt"
status=${PIPESTATUS[0]}
set -e

# JUnit ends with "OK (N tests)" or "Tests run: N,  Failures: M"; restate it as one plain line.
summary="$(grep -E '^(OK \(|Tests run: )' "$out_dir/junit-output.txt" | tail -n 1)"
if [[ "$summary" =~ ^OK\ \(([0-9]+)\ tests?\) ]]; then
  echo "jvm-tests: ${BASH_REMATCH[1]} passed, 0 failed"
elif [[ "$summary" =~ ^Tests\ run:\ ([0-9]+), ]]; then
  # A test can fail twice (in the test and in @After): count failing tests, not failures.
  failed="$(grep -E '^[0-9]+\) ' "$out_dir/junit-output.txt" | sed -E 's/^[0-9]+\) //' | sort -u | wc -l)"
  echo "jvm-tests: $((BASH_REMATCH[1] - failed)) passed, $failed failed"
fi
exit "$status"
