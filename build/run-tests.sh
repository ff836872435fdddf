#!/usr/bin/env bash
# Builds and runs the test suite, then prints the closing line "N passed, N failed" counted from the TRX results.
set -uo pipefail
cd "$(dirname "$0")/.."

results=artifacts/test-results
# The run's temporary files in one folder, removed at the end: ML.NET writes every ONNX model it loads from bytes to a
# temp file that only Dispose (or a finalizer) deletes, and a suite run leaves several GB of them otherwise.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mp-tests.XXXXXX")
export TMPDIR="$tmp"
trap 'echo "temporary files the run left: $(du -sh "$tmp" 2>/dev/null | cut -f1)" >&2; rm -rf "$tmp"' EXIT
rm -rf "$results"
mkdir -p "$results"

dotnet test Microsoft.ML.MixedPrecision.sln -c Release -nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@"
status=$?

passed=0; failed=0; total=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  p=$(get passed); f=$(get failed); t=$(get total); e=$(get error); to=$(get timeout); ab=$(get aborted)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${to:-0} + ${ab:-0}))
  total=$((total + ${t:-0}))
done

if [[ $status -ne 0 && $failed -eq 0 ]]; then
  # The build or the test host failed before results were written: count it as a failure.
  failed=1
fi
if [[ $total -eq 0 && $status -eq 0 ]]; then
  echo "no test was executed" >&2
  status=1; failed=1
fi
echo "$passed passed, $failed failed"
if [[ $failed -ne 0 ]]; then
  exit 1
fi
exit $status
