// The image's HEALTHCHECK. A node with the gateway role must answer GET <prefix>/health/heartbeat
// on its port within 4 s; a node without it has no HTTP port, and passes while its process runs
// (its replicas' health shows in GET /models and in square_replicas_ready). The roles, port and
// prefix are read the way the server reads them: flags of the main process (PID 1, or
// SQUARE_HEALTHCHECK_PID: CI checks this script against a server it started), then the
// environment, then the defaults.
import { readFileSync } from "node:fs";

const argv = readFileSync(`/proc/${process.env.SQUARE_HEALTHCHECK_PID || 1}/cmdline`, "utf8").split("\0");
const option = (flag, env, fallback) => {
  const at = argv.indexOf(flag);
  if (at >= 0 && argv[at + 1] !== undefined) return argv[at + 1];
  const inline = argv.find((a) => a.startsWith(`${flag}=`));
  if (inline) return inline.slice(flag.length + 1);
  return process.env[env] || fallback;
};

const roles = option("--roles", "SQUARE_ROLES", "gateway,scheduler,models").split(",").map((r) => r.trim());
if (!roles.includes("gateway")) process.exit(0);
const port = option("--port", "PORT", "8000");
const prefix = option("--prefix", "SQUARE_PREFIX", "/api/main");
try {
  const res = await fetch(`http://127.0.0.1:${port}${prefix}/health/heartbeat`, { signal: AbortSignal.timeout(4000) });
  const body = await res.json();
  if (res.ok && body.is_alive === true) process.exit(0);
  console.error(`heartbeat answered ${res.status}: ${JSON.stringify(body)}`);
} catch (err) {
  console.error(`heartbeat: ${err.message}`);
}
process.exit(1);
