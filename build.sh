#!/usr/bin/env bash
# The project's two commands (see README.md):
#   ./build.sh          set up prerequisites, build, run the main job (the Fashion-MNIST sample)
#   ./build.sh test     set up prerequisites, build, run the whole test suite; ends with "N passed, N failed"
# Also: ./build.sh bench [--quick] [--peer] (FP32 vs AMP benchmark; last line is a JSON summary, results in artifacts/bench/),
#       ./build.sh pack (NuGet package into artifacts/), ./build.sh sample [args] (sample with options).
set -euo pipefail
cd "$(dirname "$0")"

command="${1:-run}"
shift || true

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

case "$command" in
  run)
    ./build/prereqs.sh --datasets
    dotnet build Microsoft.ML.MixedPrecision.sln -c Release -v quiet -nologo
    dotnet run --project samples/FashionMnist -c Release --no-build -- "$@"
    ;;
  sample)
    ./build/prereqs.sh --datasets
    dotnet run --project samples/FashionMnist -c Release -- "$@"
    ;;
  test)
    # Fashion-MNIST: real images for the pretrained-import parity test; Open MPI: the data-parallel tests (mpirun -np 2);
    # torchvision: the ResNets the import tests export.
    ./build/prereqs.sh --datasets --mpi --torchvision
    exec ./build/run-tests.sh "$@"
    ;;
  bench)
    # --peer: also Debian's python3-torch, the PyTorch peer the benchmark runs next to ours.
    peer=()
    for arg in "$@"; do
      if [[ "$arg" == "--peer" ]]; then peer=(--peer); fi
    done
    ./build/prereqs.sh --datasets --text-datasets "${peer[@]}"
    dotnet build eval/Benchmarks -c Release -v quiet -nologo
    exec dotnet eval/Benchmarks/bin/Release/net10.0/Microsoft.ML.MixedPrecision.Benchmarks.dll "$@"
    ;;
  pack)
    ./build/prereqs.sh
    dotnet pack src/Microsoft.ML.MixedPrecision.Amp -c Release -o artifacts/packages -nologo
    dotnet pack src/Microsoft.ML.MixedPrecision.ImageDecoding -c Release -o artifacts/packages -nologo
    dotnet pack src/Microsoft.ML.MixedPrecision -c Release -o artifacts/packages -nologo
    ;;
  *)
    echo "usage: ./build.sh [run|test|bench|pack|sample]" >&2
    exit 2
    ;;
esac
