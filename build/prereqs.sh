#!/usr/bin/env bash
# Sets up what TorchSharp and the samples need on a Debian machine. Idempotent; quick when already satisfied.
#   - libstdc++ with GLIBCXX_3.4.32 (GCC 13+): TorchSharp 0.107's native shim needs it; Debian 12 ships 3.4.30.
#   - dataset-fashion-mnist: the image sample's data (only when asked with --datasets).
#   - fortunes, fortunes-de, fortunes-es, fortunes-it: the text sample's quotes (only when asked with --text-datasets).
#   - dataset-fashion-mnist, tuxpaint-stamps-default, librsvg2-bin: the small-image comparison's two sets (Fashion-MNIST;
#     Tux Paint's stamp pictures, a few of them SVG only, rendered with rsvg-convert) (only when asked with --image-datasets).
#   - apt's package index of Debian 12 (bookworm) main: eval/DebianText's descriptions and sections; apt-get update
#     when /var/lib/apt/lists has none (only when asked with --debian-text).
#   - python3-torch and python3-torchvision (Debian 12's PyTorch 1.13 / torchvision 0.14): the tests export small
#     torchvision ResNets with random weights to ONNX to import them (only when asked with --torchvision; ./build.sh test does).
#   - python3-torch (Debian 12's PyTorch 1.13) and libopenblas0-openmp (without it its fp32 matmuls use the slow
#     reference BLAS): the benchmark's PyTorch peer, run with /usr/bin/python3 (only when asked with --peer).
#   - openmpi-bin (Open MPI 4.1: mpirun and libmpi.so.40): data-parallel training's launcher and allreduce engine, used by
#     the distributed tests (only when asked with --mpi).
set -euo pipefail

want_datasets=0
want_text_datasets=0
want_image_datasets=0
want_debian_text=0
want_peer=0
want_mpi=0
want_torchvision=0
for arg in "$@"; do
  case "$arg" in
    --datasets) want_datasets=1 ;;
    --text-datasets) want_text_datasets=1 ;;
    --image-datasets) want_image_datasets=1 ;;
    --debian-text) want_debian_text=1 ;;
    --peer) want_peer=1 ;;
    --mpi) want_mpi=1 ;;
    --torchvision) want_torchvision=1 ;;
  esac
done

log() { echo "[prereqs] $*"; }

# Prints what an apt-get install would change, from apt's own simulation (apt-get -s: nothing is changed), one line per
# package with its versions, then apt's count line. Reads the simulation on stdin.
summarize_apt_simulation() {
  awk '
    $1 == "Inst" && $3 ~ /^\[/ { old = $3; gsub(/[][]/, "", old); new = $4; gsub(/[(]/, "", new); printf "[prereqs]   upgrade %s %s -> %s\n", $2, old, new; next }
    $1 == "Inst" { new = $3; gsub(/[(]/, "", new); printf "[prereqs]   install %s %s\n", $2, new; next }
    $1 == "Remv" { old = $3; gsub(/[][]/, "", old); printf "[prereqs]   REMOVE  %s %s\n", $2, old; next }
    / upgraded, .* newly installed, / { summary = $0 }
    END { if (summary != "") printf "[prereqs]   (%s)\n", summary }
  '
}

# Runs "apt-get install ARGS..." after printing what it will change.
apt_install_showing_changes() {
  log "apt-get install $*: these system packages change (apt-get --simulate):"
  DEBIAN_FRONTEND=noninteractive apt-get -s install "$@" | summarize_apt_simulation
  DEBIAN_FRONTEND=noninteractive apt-get -y -qq install "$@" >/dev/null
}

# Installs Debian packages without their recommends, logging how many packages come with them ("ok" when all are there).
# PURPOSE ends the log line ("installing ... for PURPOSE"); NEEDS starts the error ("the tests need Debian's ...").
ensure_packages_without_recommends() {
  local purpose=$1 needs=$2; shift 2
  local missing=() pkg new
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "$(IFS=,; echo "$*" | sed 's/,/, /g'): ok"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    new=$(DEBIAN_FRONTEND=noninteractive apt-get -s install --no-install-recommends "${missing[@]}" | awk '$1 == "Inst" { n++ } END { print n + 0 }')
    log "installing ${missing[*]} for $purpose ($new packages with their dependencies, no recommends)"
    DEBIAN_FRONTEND=noninteractive apt-get -y -qq install --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "$needs Debian's ${missing[*]}: run 'apt-get install --no-install-recommends ${missing[*]}' as root"
    exit 1
  fi
}

libstdcxx_path() {
  local p
  for p in /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
    [[ -e "$p" ]] && { echo "$p"; return 0; }
  done
  return 1
}

has_glibcxx_3_4_32() {
  local lib
  lib=$(libstdcxx_path) || return 1
  grep -qa 'GLIBCXX_3\.4\.32' "$lib"
}

is_debian_bookworm() {
  [[ -r /etc/os-release ]] && . /etc/os-release && [[ "${ID:-}" == "debian" && "${VERSION_CODENAME:-}" == "bookworm" ]]
}

# The machine's own Debian mirror, read from its apt sources (never hard-coded in the repo).
debian_mirror() {
  local uri=""
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z "$uri" && -r /etc/apt/sources.list ]]; then
    uri=$(awk '$1=="deb" && $0 ~ /bookworm/ && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  echo "$uri"
}

install_trixie_libstdcxx() {
  local mirror tmp
  mirror=$(debian_mirror)
  if [[ -z "$mirror" ]]; then
    log "cannot find the Debian mirror in /etc/apt/sources*; install libstdc++6 from Debian trixie by hand."
    return 1
  fi
  tmp=$(mktemp -d); chmod 755 "$tmp"
  mkdir -p "$tmp/lists/partial"
  # A temporary sources list: the machine's permanent sources stay untouched.
  cat > "$tmp/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
SRC
  local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State::Lists=$tmp/lists")
  log "installing libstdc++6 from Debian trixie (GLIBCXX_3.4.32 for TorchSharp)"
  DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" -qq update
  # Say exactly what changes before changing it: the new libstdc++6 pulls trixie's libc6, GCC runtime libraries and
  # base-files, after which /etc/os-release reports Debian 13.
  local plan
  plan=$(DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" -s -t trixie install libstdc++6)
  log "WARNING: this upgrades system packages of this Debian 12 machine to Debian 13's (apt-get --simulate):"
  summarize_apt_simulation <<<"$plan"
  if grep -q '^Inst base-files ' <<<"$plan"; then
    log "  base-files is among them: /etc/os-release will report Debian 13 (trixie) afterwards."
  fi
  DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" -y -qq -t trixie install libstdc++6 >/dev/null
  rm -rf "$tmp"
}

if has_glibcxx_3_4_32; then
  log "libstdc++ provides GLIBCXX_3.4.32: ok"
else
  if [[ $(id -u) -eq 0 ]] && is_debian_bookworm; then
    install_trixie_libstdcxx
    has_glibcxx_3_4_32 || { log "libstdc++ still lacks GLIBCXX_3.4.32 after the install"; exit 1; }
    log "libstdc++ now provides GLIBCXX_3.4.32"
  else
    cat >&2 <<MSG
[prereqs] TorchSharp 0.107 needs libstdc++ with GLIBCXX_3.4.32 (GCC 13 or newer); this machine's is older.
[prereqs] Fix: install a newer libstdc++6, e.g. on Debian 12 as root:
[prereqs]   apt-get install -t trixie libstdc++6   (with trixie in a temporary apt source)
[prereqs] or on Ubuntu 24.04+/Debian 13+ it is already present.
MSG
    exit 1
  fi
fi

if [[ $want_datasets -eq 1 ]]; then
  if [[ -d /usr/share/datasets/fashion-mnist ]] && ls /usr/share/datasets/fashion-mnist/*idx3* >/dev/null 2>&1; then
    log "dataset-fashion-mnist: ok"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing dataset-fashion-mnist"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    apt_install_showing_changes dataset-fashion-mnist
  else
    log "the sample needs Debian's dataset-fashion-mnist: run 'apt-get install dataset-fashion-mnist' as root"
    exit 1
  fi
fi

if [[ $want_text_datasets -eq 1 ]]; then
  # English (fortunes), German, Spanish and Italian quotes; Debian 12 has no French fortunes package.
  missing=()
  for pkg in fortunes fortunes-de fortunes-es fortunes-it; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "fortunes (en, de, es, it): ok"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    apt_install_showing_changes "${missing[@]}"
  else
    log "the text sample needs Debian's ${missing[*]}: run 'apt-get install ${missing[*]}' as root"
    exit 1
  fi
fi

if [[ $want_image_datasets -eq 1 ]]; then
  # eval/SmallImages: Fashion-MNIST (100 per class) and Tux Paint's stamps (photos and drawings by category).
  missing=()
  for pkg in dataset-fashion-mnist tuxpaint-stamps-default librsvg2-bin; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "dataset-fashion-mnist, tuxpaint-stamps-default, librsvg2-bin: ok"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} (tuxpaint-stamps-default is a 160 MB download)"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    apt_install_showing_changes --no-install-recommends "${missing[@]}"
  else
    log "the small-image sample needs Debian's ${missing[*]}: run 'apt-get install ${missing[*]}' as root"
    exit 1
  fi
fi

if [[ $want_debian_text -eq 1 ]]; then
  # eval/DebianText: package descriptions labelled by section, read from apt's list of bookworm main.
  has_bookworm_main_list() { compgen -G '/var/lib/apt/lists/*_dists_bookworm_main_binary-*_Packages*' >/dev/null; }
  if has_bookworm_main_list; then
    log "apt's list of Debian 12 (bookworm) main: ok"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && grep -rqs bookworm /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "fetching apt's package lists (apt-get update)"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    has_bookworm_main_list || { log "apt-get update gave no list of bookworm main (is 'main' in the bookworm source?)"; exit 1; }
  elif grep -rqs bookworm /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "the Debian text sample needs apt's list of bookworm main: run 'apt-get update' as root"
    exit 1
  else
    log "the Debian text sample reads Debian 12 (bookworm) main's package list, and this machine's apt sources have no bookworm"
    exit 1
  fi
  [[ -x /usr/lib/apt/apt-helper ]] || { log "the Debian text sample reads the list with /usr/lib/apt/apt-helper (package apt), which is missing"; exit 1; }
fi

if [[ $want_peer -eq 1 ]]; then
  # ./build.sh bench --peer: the PyTorch mirror of the benchmark's networks (eval/Benchmarks/Peer). Not needed by CI.
  # Without recommends (they pull in OpenCV, GDAL, Qt, ...): what remains is libtorch, its libraries and numpy.
  ensure_packages_without_recommends "the PyTorch peer" "the benchmark's PyTorch peer needs" python3-torch libopenblas0-openmp
  /usr/bin/python3 -c 'import torch' 2>/dev/null \
    || { log "python3-torch is installed but '/usr/bin/python3 -c \"import torch\"' fails:"; /usr/bin/python3 -c 'import torch'; exit 1; }
fi

if [[ $want_mpi -eq 1 ]]; then
  # Data-parallel training (docs/distributed.md): mpirun launches the ranks, libmpi.so.40 (libopenmpi3) does the allreduce.
  if command -v mpirun >/dev/null && dpkg-query -W -f='${Status}' openmpi-bin 2>/dev/null | grep -q "install ok installed"; then
    log "openmpi-bin: ok"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing openmpi-bin (Open MPI: mpirun and libmpi.so.40)"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    apt_install_showing_changes --no-install-recommends openmpi-bin
  else
    log "data-parallel training and its tests need Debian's openmpi-bin: run 'apt-get install --no-install-recommends openmpi-bin' as root"
    exit 1
  fi
fi

if [[ $want_torchvision -eq 1 ]]; then
  # ./build.sh test: Vision/TorchVision/export_resnets.py exports torchvision ResNets (random weights) for the import tests.
  # Without recommends (they pull in more of OpenCV, Qt, ...); torchvision's own dependencies still bring ~180 packages.
  ensure_packages_without_recommends "the torchvision import tests" "the torchvision import tests need" python3-torch python3-torchvision
  /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null \
    || { log "python3-torchvision is installed but '/usr/bin/python3 -c \"import torch, torchvision\"' fails:"; /usr/bin/python3 -c 'import torch, torchvision'; exit 1; }
fi
