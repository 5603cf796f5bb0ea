/**
 * `npm run bench:attacks` (issue #12): what SPEC §8 attacks cost and whether they starve plain
 * requests, on the compiled server over HTTP with the MiniLM-sized classifier (vocabulary 30522,
 * so HotFlip's vocabulary product has a realistic size).
 *  1. Cost: the median wall time of one attack request (one item of about 32 tokens, a pair for
 *     input_reduction) against the median of the same item as a plain request, per method.
 *  2. HotFlip: the share of flips whose measured loss change is positive, as the first-order
 *     estimate predicted (over all flips of part 1).
 *  3. Starvation: plain one-item requests at concurrency 16, alone and while two clients send
 *     hotflip attacks back to back: p50 and p99.
 * Prints a table; numbers go to docs/benchmarks.md by hand.
 */
import { startServer, type Running } from "./processes.ts";
import { benchModelDir } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { keepAliveAgent, requestJson } from "./http.ts";
import { closedLoop, serverSender } from "./load.ts";
import { medianMs as medianOf, round } from "./stats.ts";
import { MODEL_DEFAULTS } from "../../lib/config/model-settings.ts";
import type http from "node:http";

const REPEATS = 5;
const LOAD_S = 15;
const ATTACKS: Record<string, Record<string, unknown>> = {
  hotflip: { method: "hotflip", max_flips: 5 },
  input_reduction: { method: "input_reduction", max_reductions: 5 },
  sub_span: { method: "sub_span", max_tokens: 5 },
  topk_tokens: { method: "topk_tokens", max_tokens: 5 },
};

const log = (msg: string) => process.stderr.write(`${msg}\n`);

async function runTask(agent: http.Agent, base: string, body: unknown): Promise<any> {
  const queued = await requestJson(agent, "POST", `${base}/bench-minilm-sst/sequence-classification`, body);
  if (queued.status !== 200) throw new Error(`POST ${queued.status}: ${JSON.stringify(queued.body).slice(0, 300)}`);
  for (;;) {
    const r = await requestJson(agent, "GET", `${base}/task_result/${queued.body.task_id}?wait=30`);
    if (r.status === 202) continue;
    if (r.status !== 200) throw new Error(`task_result ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body.result;
  }
}


async function main(): Promise<void> {
  const dir = await benchModelDir("minilm", log);
  const inputs = await benchInputs(dir, 32, 16);
  const server: Running = await startServer([{ id: "bench-minilm-sst", path: dir, settings: { ...MODEL_DEFAULTS } as unknown as Record<string, number> }]);
  const base = `http://127.0.0.1:${server.port}/api/main`;
  const agent = keepAliveAgent();
  try {
    const text = inputs.texts[0];
    const pair = [inputs.texts[0], inputs.texts[1].split(" ").slice(0, 8).join(" ")];
    const plainMs = await medianOf(() => runTask(agent, base, { input: [text] }), REPEATS);
    const rows: (string | number)[][] = [["plain request", round(plainMs, 1), 1, "-"]];
    const flips: { estimated_loss_change: number; loss_change: number }[] = [];
    for (const [name, kwargs] of Object.entries(ATTACKS)) {
      const input = name === "input_reduction" ? [pair] : [text];
      let variants = 0;
      const ms = await medianOf(async () => {
        const result = await runTask(agent, base, { input, attack_kwargs: kwargs });
        variants = result.contexts.length;
        if (name === "hotflip") flips.push(...result.adversarial.flips);
      }, REPEATS);
      rows.push([`${name} (${JSON.stringify(kwargs)})`, round(ms, 1), round(ms / plainMs, 1), variants]);
      log(`${name}: ${ms.toFixed(1)} ms`);
    }
    const raised = flips.filter((f) => f.loss_change > 0).length;
    const send = serverSender(base, "bench-minilm-sst", inputs.texts, 1);
    const alone = await closedLoop(send, 1, { concurrency: 16, warmupS: 3, durationS: LOAD_S });
    log(`plain alone: p50 ${alone.p50_ms} p99 ${alone.p99_ms}`);
    let attacking = true;
    let attacksDone = 0;
    const attacker = async () => {
      const own = keepAliveAgent();
      while (attacking) {
        await runTask(own, base, { input: [inputs.texts[attacksDone % inputs.texts.length]], attack_kwargs: ATTACKS.hotflip });
        attacksDone++;
      }
      own.destroy();
    };
    const attackers = [attacker(), attacker()];
    const during = await closedLoop(send, 1, { concurrency: 16, warmupS: 3, durationS: LOAD_S });
    attacking = false;
    await Promise.all(attackers);
    process.stdout.write(
      [
        `## Attack cost on bench-minilm-sst (6 layers, hidden 384, vocabulary 30522), one item of about 32 tokens, median of ${REPEATS}`,
        "| request | ms | × plain | variants |",
        "|---|---|---|---|",
        ...rows.map((r) => `| ${r.join(" | ")} |`),
        "",
        `HotFlip flips that raised the loss of the original prediction: ${raised} of ${flips.length}`,
        "",
        `## Plain one-item requests at concurrency 16 (${LOAD_S} s window)`,
        "| while | items/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
        `| alone | ${alone.items_per_s} | ${alone.p50_ms} | ${alone.p99_ms} | ${alone.errors} |`,
        `| 2 clients sending hotflip (max_flips 5) back to back (${attacksDone} attacks done) | ${during.items_per_s} | ${during.p50_ms} | ${during.p99_ms} | ${during.errors} |`,
        "",
      ].join("\n"),
    );
  } finally {
    agent.destroy();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:attacks: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
