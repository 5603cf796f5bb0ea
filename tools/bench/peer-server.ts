/**
 * The naive peer: a plain HTTP server that runs one transformers.js pipeline call per request,
 * with no queue and no cross-request batching. What a team would write in an afternoon, and the
 * baseline the server must beat. Models are local fixture folders; remote loading is off.
 *
 *   node --import tsx tools/bench/peer-server.ts --dir DIR --models a,b --port P [--threads N]
 *
 * POST /<model>/sequence-classification {"input": [texts]} answers with the pipeline's output.
 * GET /inflight answers {"inflight": n}, the requests being worked on (the benchmark waits for 0
 * between load points). Prints "ready <port>" on stdout once every model is loaded.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { env, pipeline } from "@huggingface/transformers";

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const dir = flag("dir");
const models = (flag("models") ?? "").split(",").filter(Boolean);
if (!dir || !models.length) throw new Error("peer-server needs --dir DIR --models a,b");
const threads = flag("threads") ? Number(flag("threads")) : undefined;

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = dir.endsWith("/") ? dir : dir + "/";

type Classifier = (texts: string[], options: { top_k: number | null }) => Promise<unknown>;
const classifiers = new Map<string, Classifier>();
for (const name of models) {
  const clf = await pipeline("text-classification", name, {
    subfolder: "",
    dtype: "fp32",
    local_files_only: true,
    ...(threads ? { session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 } } : {}),
  });
  classifiers.set(name, clf as unknown as Classifier);
}

let inflight = 0;
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/inflight") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ inflight }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    inflight++; // until the pipeline call is over, even if the client has gone
    try {
      const m = /^\/([^/]+)\/sequence-classification$/.exec(req.url ?? "");
      const clf = m && req.method === "POST" ? classifiers.get(m[1]) : undefined;
      if (!clf) return answer(404, { error: "unknown route or model" });
      const { input } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { input: string[] };
      answer(200, { result: await clf(input, { top_k: null }) });
    } catch (err) {
      answer(500, { error: (err as Error).message });
    } finally {
      inflight--;
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(flag("port") ?? 0), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
// Abandoned requests may still be running: leave at once rather than wait for them.
process.on("SIGTERM", () => process.exit(0));
