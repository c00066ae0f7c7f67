// Drives the registry's Consul API with the npm `consul` client, as a Consul user would. Run by
// tests/Mesh.IntegrationTests/Discovery/ConsulClientTests.cs: node check.js <registry url> <token> <service>
// Prints one JSON object per line: the services, the healthy instances of <service>, then every change its watch (a
// blocking query) reports. "stop" on standard input ends the watch and the process.
"use strict";

const Consul = require("consul");
const readline = require("readline");

const [baseUrl, token, service] = process.argv.slice(2);
if (!baseUrl || !token || !service) {
  console.error("usage: node check.js <registry url> <token> <service>");
  process.exit(2);
}

const url = new URL(baseUrl);
const consul = new Consul({
  host: url.hostname,
  port: Number(url.port),
  secure: url.protocol === "https:",
  defaults: { token },
});

function say(event, fields) {
  process.stdout.write(JSON.stringify({ event, at: Date.now(), ...fields }) + "\n");
}

function ids(entries) {
  return entries.map((e) => e.Service.ID).sort();
}

async function main() {
  const services = await consul.catalog.service.list();
  say("services", { services });

  const healthy = await consul.health.service({ service, passing: true });
  say("healthy", {
    ids: ids(healthy),
    addresses: healthy.map((e) => `${e.Service.Address}:${e.Service.Port}`).sort(),
    checks: healthy.map((e) => e.Checks.map((c) => c.Status)).flat(),
  });

  // A long wait: an answer before it comes from a change, not from the wait running out.
  const watch = consul.watch({
    method: consul.health.service,
    options: { service, passing: true, wait: "5m" },
    maxAttempts: 3,
  });
  watch.on("change", (data, res) => say("change", { ids: ids(data), index: res.headers["x-consul-index"] }));
  watch.on("error", (err) => {
    say("error", { message: String(err && err.message) });
    process.exitCode = 1;
  });

  const input = readline.createInterface({ input: process.stdin });
  input.on("line", (line) => {
    if (line.trim() === "stop") {
      watch.end();
      input.close();
      say("stopped", {});
      // The watch's request in flight would keep the process alive until its wait runs out.
      process.exit(process.exitCode || 0);
    }
  });
}

main().catch((err) => {
  say("error", { message: String(err && err.message), status: err && err.response && err.response.statusCode });
  process.exit(1);
});
