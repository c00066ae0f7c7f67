#!/usr/bin/env bash
# Runs the tests of MeshLib: `./test.sh`. Extra arguments go to `dotnet test` (e.g. --filter ...).
# Soak tests ([Trait("Category", "Soak")], minutes of real time each) are left out unless the caller passes
# `--soak` or MESH_SOAK=1 (everything, soaks included) or a --filter of their own (which then decides alone);
# .ci/run runs them in a step of their own.
# Installs what the tests need when it is missing (Debian's prometheus for promtool and the scrape and discovery tests,
# chromium for the dashboard test, etcd-server for the registry's etcd tests, nodejs and the npm consul client for the
# Consul API test); the .NET SDK it only checks for.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET SDK 10 is required (https://dot.net); it is not on PATH." >&2
  exit 1
fi

# The observability tests lint /metrics with promtool and scrape an app with a real Prometheus server, both from the
# Debian package. Installed only when missing (CI runs as root on a fresh machine, without stdin).
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "test.sh: installing prometheus (promtool and the server) for the observability tests"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo -n"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null ||
    { $sudo_cmd apt-get update >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null; } ||
    echo "test.sh: could not install prometheus; the observability tests that need promtool and the server will fail" >&2
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# The dashboard's browser test (tests/Bookinfo.Tests) drives Debian's chromium through Playwright's ExecutablePath;
# Playwright's own browser download is never used. Installed here when missing (CI runs as root, without stdin).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "test.sh: installing chromium for the dashboard test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The registry's etcd store is tested against real etcd processes (tests/Mesh.Testing.Etcd/EtcdCluster.cs) from
# Debian's etcd-server, which may enable a service of its own on port 2379: the tests never use that port, every
# member binds ports found free. Its backup test takes and restores snapshots with etcdctl, from Debian's etcd-client.
# Installed here when missing (CI runs as root, without stdin).
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  echo "test.sh: installing etcd-server and etcd-client for the registry's etcd tests"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo -n"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server etcd-client >/dev/null ||
    { $sudo_cmd apt-get update >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server etcd-client >/dev/null; } ||
    echo "test.sh: could not install etcd-server and etcd-client; the tests that start etcd will fail" >&2
fi

# The registry's Consul API is checked by an independent Consul client, the npm package `consul`, under node
# (tests/consul-client, run by tests/Mesh.IntegrationTests/Discovery/ConsulClientTests.cs). Debian's nodejs and npm are
# installed when missing; the client goes into tests/consul-client/node_modules from its lock file.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "test.sh: installing nodejs and npm for the Consul client test"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo -n"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm >/dev/null ||
    { $sudo_cmd apt-get update >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm >/dev/null; } ||
    echo "test.sh: could not install nodejs and npm; the Consul client test will fail" >&2
fi
if [ ! -d tests/consul-client/node_modules/consul ] && command -v npm >/dev/null 2>&1; then
  echo "test.sh: installing the npm consul client into tests/consul-client"
  (cd tests/consul-client && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "test.sh: could not install the npm consul client; the Consul client test will fail" >&2
fi

soak="${MESH_SOAK:-0}"
own_filter=0
args=()
for arg in "$@"; do
  case "$arg" in
    --soak) soak=1 ;;
    --filter | --filter=* | --filter:*) own_filter=1; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
if [ "$soak" != "1" ] && [ "$own_filter" -eq 0 ]; then
  args+=(--filter "Category!=Soak")
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
if ! dotnet build MeshLib.sln >"$log" 2>&1; then
  grep -E ': (error|warning) ' "$log" | sort -u | head -100 || tail -n 50 "$log"
  echo "test.sh: the build failed" >&2
  exit 1
fi
# Test assemblies run one after another (-m:1): several of them start real servers and measure load balancing
# shares, and on a 2-core machine they would otherwise disturb each other. --blame-hang-timeout turns a hung test into
# a failure with a dump instead of a stuck CI run. This pass runs the registry tests on the default store, SQLite.
MESH_TEST_REGISTRY_STORE= dotnet test MeshLib.sln --no-build -m:1 --blame-hang-timeout 5m ${args[@]+"${args[@]}"} 2>&1 | tee "$log" || status=$?

# The registry's API tests once more on the etcd store (RegistryHost starts every registry on a shared etcd cluster
# then), with the same arguments: both stores must keep the same rules. Tests that are about SQLite itself name it.
echo "test.sh: the registry tests again on the etcd store (MESH_TEST_REGISTRY_STORE=Etcd)"
MESH_TEST_REGISTRY_STORE=Etcd dotnet test tests/Mesh.Registry.Tests/Mesh.Registry.Tests.csproj --no-build --blame-hang-timeout 5m \
  ${args[@]+"${args[@]}"} 2>&1 | tee -a "$log" || status=$?

# One closing line for the whole run (both passes), summed over the test assemblies.
passed=$({ grep -Eo 'Passed: +[0-9]+' "$log" || true; } | awk '{s+=$2} END {print s+0}')
failed=$({ grep -Eo 'Failed: +[0-9]+' "$log" || true; } | awk '{s+=$2} END {print s+0}')
skipped=$({ grep -Eo 'Skipped: +[0-9]+' "$log" || true; } | awk '{s+=$2} END {print s+0}')
assemblies=$(grep -Ec '^(Passed|Failed)! ' "$log" || true)
if [ "$status" -eq 0 ] && [ "$assemblies" -eq 0 ]; then
  echo "test.sh: no test assembly ran" >&2
  status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
