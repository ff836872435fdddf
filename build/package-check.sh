#!/usr/bin/env bash
# The packages as users get them: packs the three packages into a local folder feed with a version of this run, then
# runs the README's programs (and an app with stock ML.NET only that scores their saved models) built as default console
# apps that reference the packages by name and version from that feed (test/.../Docs/ReadmeExamplesTests.cs, package
# mode). Ends with "N passed, N failed". Needs the test project built (./build.sh test or dotnet build first), unless
# --build is given. Also prints a console app's build output size with and without a RuntimeIdentifier.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

build=(--no-build)
if [[ "${1:-}" == "--build" ]]; then build=(); shift; fi

version="0.1.0-ci.$(date -u +%Y%m%d%H%M%S)"
feed="$PWD/artifacts/feed"
rm -rf "$feed" && mkdir -p "$feed"
for project in Microsoft.ML.MixedPrecision.Amp Microsoft.ML.MixedPrecision.ImageDecoding Microsoft.ML.MixedPrecision; do
  if ! dotnet pack "src/$project" -c Release -o "$feed" -p:Version="$version" -nologo -v quiet "$@" >"artifacts/pack-$project.log" 2>&1; then
    cat "artifacts/pack-$project.log"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
echo "packed $version: $(cd "$feed" && ls)"

size_check() {
  # A `dotnet new console` app with the trainers' package, built with and without the README's RuntimeIdentifier.
  local app
  app=$(mktemp -d "${TMPDIR:-/tmp}/mp-size.XXXXXX")
  (
    cd "$app" || exit 1
    printf '<Project />\n' > Directory.Build.props; printf '<Project />\n' > Directory.Packages.props
    printf '<?xml version="1.0" encoding="utf-8"?>\n<configuration><packageSources><add key="packed-here" value="%s" /></packageSources></configuration>\n' "$feed" > NuGet.config
    dotnet new console -n SizeCheck -o . >/dev/null 2>&1 && dotnet add package Microsoft.ML.MixedPrecision --version "$version" >/dev/null 2>&1 \
      && dotnet build -c Release -v quiet -nologo >/dev/null 2>&1 && echo "output without a RuntimeIdentifier: $(du -sh bin/Release | cut -f1)"
    rm -rf bin obj
    dotnet build -c Release -v quiet -nologo -p:RuntimeIdentifier=linux-x64 >/dev/null 2>&1 && echo "output with RuntimeIdentifier linux-x64: $(du -sh bin/Release | cut -f1)"
  )
  rm -rf "$app"
}
size_check

MP_PACKAGE_FEED="$feed" MP_PACKAGE_VERSION="$version" \
  ./build/run-tests.sh "${build[@]}" --filter "FullyQualifiedName~Docs.ReadmeExamplesTests"
