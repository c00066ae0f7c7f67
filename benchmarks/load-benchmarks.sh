#!/usr/bin/env bash
# The loopback load benchmark: MeshLib beside nginx proxies (method: benchmarks/METHOD.md; results: benchmarks/README.md).
#   benchmarks/load-benchmarks.sh            full run (about 8 minutes on 2 cores); JSON under benchmarks/Mesh.LoadBenchmarks/results/
#   benchmarks/load-benchmarks.sh --smoke    every variant and scenario for a second or two; non-zero exit on any error (CI)
# Other arguments go to the benchmark (--only mesh,nginx  --concurrency 1,8  --duration 5  --skip-balancer  --skip-retry  --skip-grpc  --out f.json);
# --only grpc runs the gRPC unary cell alone (grpc-direct, grpc-mesh, grpc-nginx).
# Installs nginx from the Debian package when it is missing (as root, or through sudo; no prompts).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "== installing nginx (apt-get install -y nginx)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Other jobs on the machine may hold the dpkg lock for a while: wait for it rather than fail.
  if ! $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 nginx </dev/null; then
    $sudo apt-get update -qq -o DPkg::Lock::Timeout=600 </dev/null
    $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 nginx </dev/null
  fi
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! dotnet build -c Release benchmarks/Mesh.LoadBenchmarks/Mesh.LoadBenchmarks.csproj >"$log" 2>&1; then
  grep -E ': (error|warning) ' "$log" | sort -u | head -50 || tail -n 50 "$log"
  echo "load-benchmarks.sh: the build failed" >&2
  exit 1
fi

MESH_BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
export MESH_BENCH_COMMIT
exec dotnet benchmarks/Mesh.LoadBenchmarks/bin/Release/net10.0/Mesh.LoadBenchmarks.dll "$@"
