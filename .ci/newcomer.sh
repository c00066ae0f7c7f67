#!/usr/bin/env bash
# The newcomer path, as a person new to MeshLib walks it, from packages only: pack Mesh.Client, Mesh.AspNetCore and the
# Mesh.Registry tool into a local folder feed; make a brand-new web app outside the repository (`dotnet new web`); add
# the package from that feed; write the README's quick start into it (Program.cs, and an appsettings.json with two
# backend instances and a 50/50 split); install the registry tool from the same feed; run the registry and two
# backend instances that join it; then check the split, /metrics, /healthz, and that a bad setting ends the app with
# its errors listed and exit code 1. Everything it starts is stopped, and its folder removed, however it ends.
# Needs the .NET SDK and curl; reads nothing from stdin.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work="$(mktemp -d "${TMPDIR:-/tmp}/meshlib-newcomer.XXXXXX")"
pids=()
cleanup() {
  local status=$? i
  # Newest first: the apps deregister from the registry before it stops.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] || continue
      echo "---- $(basename "$log") (last 40 lines)"
      tail -n 40 "$log"
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "newcomer: FAILED: $*" >&2
  exit 1
}

# Waits for a line matching $2 in the log $1 (a process's output) and prints the first match; fails when the process
# $3 ends first or 120 s pass (a guard against a hang, not a performance bound).
wait_for_line() {
  local log="$1" pattern="$2" pid="$3" line
  for _ in $(seq 1 1200); do
    if line="$(grep -m1 -E "$pattern" "$log" 2>/dev/null)"; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "$(basename "$log" .log) ended before printing /$pattern/"
    sleep 0.1
  done
  fail "$(basename "$log" .log) printed no /$pattern/ within 120 s"
}

listening_port() {
  wait_for_line "$1" 'Now listening on: https?://127\.0\.0\.1:[0-9]+' "$2" | grep -oE '[0-9]+$'
}

feed="$work/feed"
app="$work/app"

echo "== newcomer: pack into $feed"
for project in Mesh.Client Mesh.AspNetCore Mesh.Registry; do
  dotnet pack "$repo/src/$project/$project.csproj" -c Release -o "$feed" -v quiet -nologo > "$work/pack-$project.log" 2>&1 ||
    { cat "$work/pack-$project.log"; fail "dotnet pack $project"; }
  if grep -qE ': warning [A-Z]+[0-9]+' "$work/pack-$project.log"; then
    grep -E ': warning [A-Z]+[0-9]+' "$work/pack-$project.log"
    fail "dotnet pack $project warned"
  fi
done
for package in Mesh.Client Mesh.AspNetCore; do
  ls "$feed/$package".*.nupkg "$feed/$package".*.snupkg > /dev/null || fail "no $package package with symbols"
done
version="$(basename "$(ls "$feed"/Mesh.Client.*.nupkg)" .nupkg)"
version="${version#Mesh.Client.}"

# A package names where it came from: always the commit, and the repository and its project page when the clone's
# origin is a hosted (https) address. The nuspec pack wrote next to the build is what went into the package.
if commit="$(git -C "$repo" rev-parse HEAD 2>/dev/null)"; then
  nuspec="$repo/src/Mesh.Client/obj/Release/Mesh.Client.$version.nuspec"
  grep -q "<repository type=\"git\".* commit=\"$commit\"" "$nuspec" || fail "Mesh.Client's package does not name commit $commit"
  echo "== newcomer: the packages name where they come from (a clone whose origin is https://example.invalid/meshlib.git)"
  git clone -q "$repo" "$work/hosted"
  git -C "$repo" diff --binary HEAD | git -C "$work/hosted" apply --allow-empty # what is not committed yet, too
  git -C "$work/hosted" remote set-url origin https://example.invalid/meshlib.git
  dotnet pack "$work/hosted/src/Mesh.Client/Mesh.Client.csproj" -c Release -o "$work/hosted-feed" -v quiet -nologo > "$work/pack-hosted.log" 2>&1 ||
    { cat "$work/pack-hosted.log"; fail "dotnet pack Mesh.Client from a hosted clone"; }
  nuspec="$work/hosted/src/Mesh.Client/obj/Release/Mesh.Client.$version.nuspec"
  grep -q '<repository type="git" url="https://example.invalid/meshlib.git"' "$nuspec" || fail "no repository url in $(grep '<repository' "$nuspec")"
  grep -q '<projectUrl>https://example.invalid/meshlib</projectUrl>' "$nuspec" || fail "no project url in Mesh.Client's package"
fi

# From here on, packages go to a folder of the newcomer's own: the machine's may hold an older build of this version.
export NUGET_PACKAGES="$work/packages"

echo "== newcomer: dotnet new web, outside the repository ($app)"
dotnet new web -o "$app" -n NewcomerApp > "$work/new.log" 2>&1 || { cat "$work/new.log"; fail "dotnet new web"; }

# The local feed for MeshLib's packages, the repository's own sources (nuget.config) for everything else.
{
  echo '<?xml version="1.0" encoding="utf-8"?>'
  echo '<configuration>'
  echo '  <packageSources>'
  echo '    <clear />'
  echo "    <add key=\"meshlib-local\" value=\"$feed\" />"
  grep -oE '<add key="[^"]+" value="[^"]+"' "$repo/nuget.config" | sed -E 's/^/    /; s/$/ \/>/'
  echo '  </packageSources>'
  echo '  <packageSourceMapping>'
  echo '    <packageSource key="meshlib-local">'
  echo '      <package pattern="Mesh.Client" /><package pattern="Mesh.AspNetCore" /><package pattern="Mesh.Registry" />'
  echo '    </packageSource>'
  grep -oE '<add key="[^"]+"' "$repo/nuget.config" | sed -E 's/<add key="([^"]+)"/    <packageSource key="\1"><package pattern="*" \/><\/packageSource>/'
  echo '  </packageSourceMapping>'
  echo '</configuration>'
} > "$app/nuget.config"

echo "== newcomer: dotnet add package Mesh.AspNetCore --prerelease"
(cd "$app" && dotnet add package Mesh.AspNetCore --prerelease) > "$work/add.log" 2>&1 || { cat "$work/add.log"; fail "dotnet add package"; }
grep -q "Include=\"Mesh.AspNetCore\" Version=\"$version\"" "$app/NewcomerApp.csproj" || fail "Mesh.AspNetCore $version is not in the project"

# The README's quick start, and two routes to look at it from outside: / says which instance answered, /reviews asks
# the reviews service through the mesh.
cat > "$app/Program.cs" <<'EOF'
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddMesh();              // binds the "Mesh" section; meshes every IHttpClientFactory client
builder.Services.AddHttpClient("reviews", c => c.BaseAddress = new Uri("http://reviews"));
var app = builder.Build();
app.UseMesh();                           // inbound: metrics, caller identity, authorization, the caller's deadline
app.MapMeshEndpoints();                  // /metrics (Prometheus text format), /healthz

app.MapGet("/", (IConfiguration config) => $"{config["Mesh:Service:Name"]} {config["Mesh:Service:Version"]}");
app.MapGet("/reviews", (IHttpClientFactory clients) => clients.CreateClient("reviews").GetStringAsync("/"));
app.Run();
EOF

# The script writes the README's quick start as the README has it: when one changes, so must the other.
quick_start="$(awk '/^## Quick start/ { on = 1; next } on && /^```csharp/ { grab = 1; next } grab && /^```/ { exit } grab' "$repo/README.md")"
[ -n "$quick_start" ] || fail "README.md has no C# block under '## Quick start'"
while IFS= read -r line; do
  grep -qxF -- "$line" "$app/Program.cs" || fail "the README's quick start line is not in the app's Program.cs: $line"
done <<< "$quick_start"

echo "== newcomer: build the app"
(cd "$app" && dotnet build -c Release -nologo -v quiet) > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "dotnet build"; }
dll="$app/bin/Release/net10.0/NewcomerApp.dll"

echo "== newcomer: dotnet tool install Mesh.Registry --tool-path (from the same feed)"
(cd "$app" && dotnet tool install Mesh.Registry --prerelease --tool-path "$work/tools") > "$work/tool.log" 2>&1 ||
  { cat "$work/tool.log"; fail "dotnet tool install"; }
[ -x "$work/tools/mesh-registry" ] || fail "the tool gives no mesh-registry command"

echo "== newcomer: mesh-registry"
# Random tokens of 40 characters, as docs/registry.md asks of configured tokens (a shorter one is warned of at start).
random_token() { tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 40 || true; }
admin="$(random_token)"
join="$(random_token)"
mkdir -p "$work/registry-cwd" "$work/home"
# Started in a folder of its own, with a home of its own: its data must land in the user's data folder, not here.
(cd "$work/registry-cwd" && HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" \
  MeshRegistry__AdminToken="$admin" MeshRegistry__JoinTokens__reviews="$join" \
  exec "$work/tools/mesh-registry" --urls https://127.0.0.1:0 < /dev/null > "$work/registry.log" 2>&1) &
pids+=($!)
registry_pid=$!
registry_port="$(listening_port "$work/registry.log" "$registry_pid")"
fingerprint="$(wait_for_line "$work/registry.log" 'CA fingerprint: sha256:[0-9a-f]+' "$registry_pid" | grep -oE 'sha256:[0-9a-f]+')"
root="$(wait_for_line "$work/registry.log" 'root certificate: [^)]+' "$registry_pid" | sed -E 's/.*root certificate: ([^)]+)\).*/\1/')"
registry="https://127.0.0.1:$registry_port"
data="$work/home/.local/share/MeshLib/registry"
[ -f "$data/mesh-registry.db" ] || fail "the registry's data is not in the user's data folder ($data)"
case "$root" in "$data"/ca/*) ;; *) fail "the CA root $root is not under $data/ca" ;; esac
[ -z "$(ls -A "$work/registry-cwd")" ] || fail "the registry wrote into its current folder: $(ls -A "$work/registry-cwd")"
curl -sf --cacert "$root" "$registry/healthz" > /dev/null || fail "the registry's /healthz"
if grep -q "can be guessed" "$work/registry.log"; then fail "the registry warned of a short token: $(grep "can be guessed" "$work/registry.log")"; fi

echo "== newcomer: two reviews instances (v1, v2), joining the registry"
backend_ports=()
for v in 1 2; do
  mkdir -p "$work/reviews-v$v"
  dotnet "$dll" --contentRoot "$work/reviews-v$v" --urls http://127.0.0.1:0 \
    --Mesh:Service:Name=reviews --Mesh:Service:Version="v$v" \
    --Mesh:Registry:Url="$registry" --Mesh:Registry:CaFingerprint="$fingerprint" --Mesh:Registry:Token="$join" \
    < /dev/null > "$work/reviews-v$v.log" 2>&1 &
  pids+=($!)
  backend_ports+=("$(listening_port "$work/reviews-v$v.log" "$!")")
done

instances=""
for _ in $(seq 1 600); do
  instances="$(curl -sf --cacert "$root" -H "Authorization: Bearer $admin" "$registry/v1/services/reviews/instances" || true)"
  if [ "$(grep -o '"version":"v[12]"' <<< "$instances" | sort -u | wc -l)" -eq 2 ]; then break; fi
  sleep 0.1
done
[ "$(grep -o '"version":"v[12]"' <<< "$instances" | sort -u | wc -l)" -eq 2 ] || fail "both instances did not register: $instances"

echo "== newcomer: productpage, with the quick start's appsettings.json (reviews v1 and v2, 50/50)"
cat > "$app/appsettings.json" <<EOF
{
  "Logging": { "LogLevel": { "Default": "Information", "Microsoft.AspNetCore": "Warning" } },
  "AllowedHosts": "*",
  "Mesh": {
    "Service": { "Name": "productpage", "Version": "v1" },
    "Services": {
      "reviews": {
        "Endpoints": [
          { "Address": "http://127.0.0.1:${backend_ports[0]}", "Labels": { "version": "v1" } },
          { "Address": "http://127.0.0.1:${backend_ports[1]}", "Labels": { "version": "v2" } }
        ],
        "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
        "Routes": [
          { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 50 }, { "Subset": "v2", "Weight": 50 } ] }
        ]
      }
    }
  }
}
EOF

echo "== newcomer: a bad setting ends the app with its errors and exit code 1"
bad_status=0
(cd "$app" && dotnet "$dll" --urls http://127.0.0.1:0 --Mesh:Services:reviews:Routes:0:Destinations:0:Weight=60 \
  --Mesh:Services:reviews:LoadBalancer:Polcy=RoundRobin < /dev/null > "$work/bad.out" 2> "$work/bad.err") || bad_status=$?
[ "$bad_status" -eq 1 ] || { cat "$work/bad.out" "$work/bad.err"; fail "a bad setting ended the app with $bad_status, not 1"; }
grep -qx "error: Mesh:Services:reviews:Routes:0:Destinations: weights sum to 110, must be 100" "$work/bad.err" ||
  { cat "$work/bad.err"; fail "no line for the weights"; }
grep -qE "^error: Mesh:Services:reviews:LoadBalancer:Polcy: " "$work/bad.err" || { cat "$work/bad.err"; fail "no line for the misspelt key"; }
grep -qx "The app did not start: its Mesh configuration has 2 errors." "$work/bad.err" || { cat "$work/bad.err"; fail "no summary line"; }
if grep -qE '^ +at |Exception' "$work/bad.out" "$work/bad.err"; then cat "$work/bad.out" "$work/bad.err"; fail "a stack trace"; fi

(cd "$app" && exec dotnet "$dll" --urls http://127.0.0.1:0 < /dev/null > "$work/productpage.log" 2>&1) &
pids+=($!)
front="http://127.0.0.1:$(listening_port "$work/productpage.log" "$!")"

echo "== newcomer: 400 calls to reviews through the mesh"
v1=0
v2=0
for _ in $(seq 1 400); do
  answer="$(curl -sf "$front/reviews")" || fail "GET /reviews"
  case "$answer" in
    "reviews v1") v1=$((v1 + 1)) ;;
    "reviews v2") v2=$((v2 + 1)) ;;
    *) fail "GET /reviews answered '$answer'" ;;
  esac
done
echo "reviews v1: $v1, v2: $v2"
# 50/50 over 400 calls: 200 each, standard deviation 10; outside 150..250 is five deviations (odds below 1 in 10^6).
[ "$v1" -ge 150 ] && [ "$v1" -le 250 ] || fail "the split is not 50/50: v1 $v1, v2 $v2"

echo "== newcomer: /healthz and /metrics"
for url in "$front" "http://127.0.0.1:${backend_ports[0]}" "http://127.0.0.1:${backend_ports[1]}"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] || fail "$url/healthz"
done
metrics="$(curl -sf "$front/metrics")" || fail "$front/metrics"
for subset in v1 v2; do
  grep -E '^mesh_requests_total\{' <<< "$metrics" | grep 'reporter="source"' | grep 'destination_service="reviews"' |
    grep -q "destination_version=\"$subset\"" || fail "no mesh_requests_total from productpage to reviews $subset on /metrics"
done
backend_metrics="$(curl -sf "http://127.0.0.1:${backend_ports[0]}/metrics")" || fail "reviews v1 /metrics"
grep -E '^mesh_requests_total\{' <<< "$backend_metrics" | grep 'reporter="destination"' | grep -q 'destination_service="reviews"' ||
  fail "no mesh_requests_total reported by reviews v1"

echo "newcomer: passed (packages $version: Mesh.AspNetCore from a local feed, the mesh-registry tool, v1 $v1 / v2 $v2)"
