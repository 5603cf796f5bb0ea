/** `square-inference serve|fixtures` (SPEC §14). */
import { resolveSettings, OPTIONS } from "./config/settings.ts";
import { startNode, VERSION } from "./node.ts";

const USAGE = `square-inference ${VERSION}: SQuARE-compatible inference server for ONNX transformer models

Usage:
  square-inference serve [options]       run a node (default: all roles, demo models, in memory)
  square-inference fixtures --out DIR    write the generated test/demo model folders to DIR
  square-inference --help

serve options (each also read from the environment variable named on the right):
${OPTIONS.map((o) => `  ${(o.flag ? `${o.flag} VALUE` : "(environment only)").padEnd(28)} ${o.help}  [${o.env}]`).join("\n")}
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || rest.includes("--help")) {
    process.stdout.write(USAGE);
    return;
  }
  if (command === "serve") return serve(rest);
  if (command === "fixtures") return fixtures(rest);
  throw new Error(`unknown command "${command}" (see --help)`);
}

async function serve(args: string[]): Promise<void> {
  const settings = resolveSettings(args);
  const started = performance.now();
  const node = await startNode(settings);
  const log = node.broker.getLogger("cli");
  const where = node.port !== undefined ? ` on http://${shownHost(settings.host)}:${node.port}${settings.prefix}` : "";
  log.info(`node ${node.broker.nodeID} ready${where} in ${((performance.now() - started) / 1000).toFixed(1)} s (roles ${settings.roles.join(",")})`);
  let stopping = false;
  const drain = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: draining (no new work; finishing running tasks)`);
    await node.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void drain("SIGTERM"));
  process.on("SIGINT", () => void drain("SIGINT"));
  // A child actor process (lib/model/child-actors.ts) must not outlive its parent.
  if (process.send) process.on("disconnect", () => void drain("parent process gone"));
}

async function fixtures(args: string[]): Promise<void> {
  const at = args.indexOf("--out");
  const out = at >= 0 ? args[at + 1] : undefined;
  if (!out) throw new Error("fixtures needs --out DIR");
  const { writeFixtures } = await import("./fixtures/index.ts");
  const folders = await writeFixtures(out, undefined, (m) => process.stdout.write(`${m}\n`));
  process.stdout.write(`wrote ${folders.length} model folder(s) to ${out}\n`);
}

/** Where a local client reaches the gateway: loopback for the wildcard addresses, else the bound address. */
function shownHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "127.0.0.1") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
