#!/usr/bin/env bash
# Data-parallel scaling on this machine (docs/distributed.md): for each workload, interleaved, R times:
#   1x2  one process, 2 libtorch threads, batch 2B            (the usual way to use 2 cores)
#   2x1  mpirun -np 2, 1 thread each, batch B per rank        (shared memory, Open MPI's vader transport)
#   2x1t mpirun -np 2 --mca btl tcp,self, 1 thread each       (TCP over loopback: the path between machines)
#   1x1  one process, 1 thread, batch 2B                      (the single-core baseline)
# Every configuration trains the same effective batch 2B. Prints one line per run and a Markdown table of medians:
# samples/s (all ranks' examples), the gradient allreduce's time per step and its share of the phase, the time spent
# waiting for the slower rank before it, and the gradient bytes each rank sends per optimizer step.
# Usage: eval/Distributed/measure.sh [repetitions] [workload ...]   (workloads: text image resnet18; default all, R=3)
#        eval/Distributed/measure.sh --table [runs.txt]              (the table of a finished run again)
# Needs: ./build/prereqs.sh --mpi and the solution built in Release. Other processes spoil the timings: the script logs
# the load average before each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
table() {
  echo "| workload (per-rank batch × 2) | config | samples/s | vs 1x2 | allreduce ms/step | share of the phase | waiting ms/step | MB/step/rank |"
  echo "|---|---|---|---|---|---|---|---|"
  awk '
    function median(key, col,   i, j, t, c, arr) { c = n[key]; for (i = 1; i <= c; i++) arr[i] = v[key, i, col];
      if (arr[1] == "-") return "-";
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (arr[j] + 0 < arr[i] + 0) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
      return c % 2 ? arr[(c + 1) / 2] : (arr[c / 2] + arr[c / 2 + 1]) / 2 }
    $1 != "#" && $5 != "failed" { key = $1 " " $2; n[key]++; for (col = 5; col <= 9; col++) v[key, n[key], col] = $col }
    END { for (key in n) { split(key, p, " "); base = median(p[1] " 1x2", 5); share = median(key, 7);
            printf "| %s | %s | %.1f | %.2fx | %s | %s | %s | %s |\n", p[1], p[2], median(key, 5), median(key, 5) / base,
              median(key, 6), (share == "-" ? "-" : share " %"), median(key, 8), median(key, 9) } }
  ' "$1" | sort
}

if [[ "${1:-}" == "--table" ]]; then table "${2:-artifacts/distributed/runs.txt}"; exit 0; fi
reps="${1:-3}"; shift || true
workloads=("$@"); [[ ${#workloads[@]} -gt 0 ]] || workloads=(text image resnet18)
host=test/Microsoft.ML.MixedPrecision.DistributedHost/bin/Release/net10.0/Microsoft.ML.MixedPrecision.DistributedHost.dll
[[ -f "$host" ]] || { echo "build first: dotnet build Microsoft.ML.MixedPrecision.sln -c Release" >&2; exit 1; }
out=artifacts/distributed; mkdir -p "$out"; rm -f "$out"/*.log
export TERM=dumb # no terminal escape codes from .NET's console in the captured output
export TMPDIR; TMPDIR=$(mktemp -d /tmp/mp-distributed.XXXXXX); trap 'rm -rf "$TMPDIR"' EXIT
# MPI_OPTIONS: more mpirun options, e.g. "--mca btl_vader_single_copy_mechanism none" where a container forbids the
# cross-memory attach (process_vm_readv) Open MPI's shared-memory transport uses by default for large messages.
read -r -a extra <<<"${MPI_OPTIONS:-}"
mpi=(mpirun -np 2 --allow-run-as-root --bind-to core "${extra[@]}" -x OMP_NUM_THREADS=1 -x TMPDIR)

# workload → "per-rank batch, epochs, rows"
declare -A plan=([text]="32 2 2048" [image]="16 2 512" [resnet18]="16 1 256")

run() { # config workload batch epochs rows → "samples/s allreduce_ms share waiting_ms MB"
  local config=$1 w=$2 b=$3 e=$4 r=$5 log
  case $config in
    1x2)  log=$(OMP_NUM_THREADS=2 dotnet "$host" bench "$w" $((2 * b)) "$e" "$r" 2>&1) || true ;;
    1x1)  log=$(OMP_NUM_THREADS=1 dotnet "$host" bench "$w" $((2 * b)) "$e" "$r" 2>&1) || true ;;
    2x1)  log=$("${mpi[@]}" dotnet "$host" bench "$w" "$b" "$e" "$r" 2>&1) || true ;;
    2x1t) log=$("${mpi[@]}" --mca btl tcp,self dotnet "$host" bench "$w" "$b" "$e" "$r" 2>&1) || true ;;
  esac
  echo "$log" >> "$out/$w-$config.log"
  local sps ar
  sps=$(awk -F'\t' '$1 ~ /RESULT$/ { print $2 }' <<<"$log")
  [[ -n "$sps" ]] || { echo "failed - - - -"; return; } # the run's output is in $out/$w-$config.log
  ar=$(grep '\[rank 0\].*gradient allreduce' <<<"$log" |
       sed -E 's/.*: ([0-9.]+) MB per optimizer step from each, ([0-9.]+) ms per step \(([0-9.]+) %.*before it ([0-9.]+) ms per step.*/\2 \3 \4 \1/' || true)
  echo "$sps ${ar:-- - - -}"
}

echo "# $(date -u '+%F %T') UTC, $(nproc) cores, ${reps} repetitions, mpirun ${mpi[*]:3}" | tee "$out/runs.txt"
for w in "${workloads[@]}"; do
  read -r b e r <<<"${plan[$w]}"
  for rep in $(seq "$reps"); do
    for config in 1x2 2x1 2x1t 1x1; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      result=$(run "$config" "$w" "$b" "$e" "$r")
      echo "$w $config rep$rep load=$load $result" | tee -a "$out/runs.txt"
    done
  done
done


echo
table "$out/runs.txt"
