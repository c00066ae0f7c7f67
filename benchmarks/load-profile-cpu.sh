#!/usr/bin/env bash
# Where the load generator's CPU goes, per request, for the mesh beside its floor (see benchmarks/METHOD.md):
#   benchmarks/load-profile-cpu.sh                       direct, direct-rewrite and mesh at c = 8 and 32, 3 rounds (about 2 minutes)
#   benchmarks/load-profile-cpu.sh --only direct,mesh --concurrency 32 --rounds 5
#   CPU_REPORT_TOP=40 benchmarks/load-profile-cpu.sh   (more functions per table; 15 by default)
# Runs the load benchmark under `perf record` (sampling every thread of the load generator, with the runtime's perf
# map for JIT-compiled methods), then cuts the samples into the cells' measured windows and prints CPU per request
# by where it ran and by function (`cpu-report`). perf costs CPU of its own: compare variants, not absolute numbers.
# Installs perf from the Debian package (linux-perf) when it is missing (elsewhere, install perf first: on Ubuntu,
# linux-tools-$(uname -r)). Needs root or kernel.perf_event_paranoid <= 1. nginx variants need nginx installed
# (benchmarks/load-benchmarks.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
if ! command -v perf >/dev/null 2>&1 || ! perf --version >/dev/null 2>&1; then
  echo "== installing perf (apt-get install -y linux-perf)"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 linux-perf </dev/null; then
    $sudo apt-get update -qq -o DPkg::Lock::Timeout=600 </dev/null
    $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 linux-perf </dev/null
  fi
fi

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(--only direct,direct-rewrite,mesh --concurrency 8,32 --rounds 3)
fi

paranoid="$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 2)"
if [ "$(id -u)" -ne 0 ] && [ "$paranoid" -gt 1 ]; then
  echo "load-profile-cpu.sh: kernel.perf_event_paranoid is $paranoid, so perf would not see the kernel's time, most of a" >&2
  echo "request's CPU; run as root or set it to 1 (sudo sysctl kernel.perf_event_paranoid=1)" >&2
  exit 1
fi

work="$(mktemp -d)"
cleanup() {
  # The runtime's perf maps of the processes this run recorded (the load generator and its backend), nothing else.
  if [ -f "$work/perf.data" ]; then
    perf script -i "$work/perf.data" -F pid 2>/dev/null | sort -un | while read -r pid; do
      rm -f "/tmp/perf-$pid.map" "/tmp/perfinfo-$pid.map"
    done || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
stamp="$(date -u +%Y-%m-%d-%H%M)"
results="benchmarks/Mesh.LoadBenchmarks/results/$stamp-cpu.json"
report="benchmarks/Mesh.LoadBenchmarks/results/$stamp-cpu.md"

if ! dotnet build -c Release benchmarks/Mesh.LoadBenchmarks/Mesh.LoadBenchmarks.csproj >"$work/build.log" 2>&1; then
  grep -E ': (error|warning) ' "$work/build.log" | sort -u | head -50 || tail -n 50 "$work/build.log"
  echo "load-profile-cpu.sh: the build failed" >&2
  exit 1
fi

# Only the run goes under perf, sampling CPU time (cpu-clock: each sample's period is nanoseconds of CPU, whatever
# counters the machine has). The runtime writes /tmp/perf-<pid>.map for its JIT-compiled code (with
# write-xor-execute off, or perf cannot place that code). Results go to results/ only when everything succeeded.
MESH_BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  perf record -q -e cpu-clock -k mono -F 499 -g -o "$work/perf.data" -- \
  dotnet benchmarks/Mesh.LoadBenchmarks/bin/Release/net10.0/Mesh.LoadBenchmarks.dll "${args[@]}" --skip-balancer --skip-retry --out "$work/run.json"
if ! perf script -i "$work/perf.data" -F pid,time,period,ip,sym,dso > "$work/perf.txt" 2> "$work/perf-script.log"; then
  tail -n 20 "$work/perf-script.log" >&2
  echo "load-profile-cpu.sh: perf script failed" >&2
  exit 1
fi
dotnet benchmarks/Mesh.LoadBenchmarks/bin/Release/net10.0/Mesh.LoadBenchmarks.dll cpu-report "$work/run.json" "$work/perf.txt" --top "${CPU_REPORT_TOP:-15}" > "$work/report.md"
mv "$work/run.json" "$results"
mv "$work/report.md" "$report"
cat "$report"
echo "results: $results and $report"
