/**
 * Issue #18 part 2: the playground (web/playground, served at /api/main/playground) in headless
 * Debian Chromium, driven by playwright-core, against an embedded node on the demo fixtures. Each
 * task runs through the page's own form; what the page draws is compared with the API's own JSON
 * as the page received it (the task_result or server-sent-event bodies, decoded here by the test
 * helpers' independent .npy reader): probability bars equal the probabilities, entity highlights
 * the entities, QA highlights the answer text, heat-map cells the returned scores and the cosine
 * similarities, attack variants the contexts/questions, generated text the result. Screenshots of
 * every view go to docs/screenshots/ (the README's "Playground" section shows them).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page, type Response } from "playwright-core";
import { build } from "vite";
import { startEmbedded, decodeNpy, Embedded } from "../helpers/embedded.ts";
import { startSecured, SecuredNode } from "../helpers/auth-server.ts";
import { PLAYGROUND_CSP } from "../../lib/gateway/playground.ts";
import { matchRoute } from "../../lib/gateway/route-match.ts";
import { parseSse } from "../helpers/sse.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/**
 * Screenshots go to docs/screenshots/ (committed, shown by the README) only with
 * SQUARE_SCREENSHOTS=1; otherwise to .cache, so a test run does not rewrite committed images
 * (some show a port, a task id or timings).
 */
const SHOTS = process.env.SQUARE_SCREENSHOTS === "1" ? join(ROOT, "docs", "screenshots") : join(ROOT, ".cache", "screenshots");
/** Issue #18's launch flags; playwright adds --user-data-dir (a fresh temporary folder) itself. */
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

let s: Embedded;
let secured: SecuredNode | undefined;
let context: BrowserContext;
let page: Page;
let profile: string;
const problems: string[] = [];
const foreignRequests: string[] = [];

before(async () => {
  // The page as `npm run build` builds it (into dist/web/playground, where the gateway finds it).
  await build({ configFile: join(ROOT, "web/playground/vite.config.ts"), logLevel: "warn" });
  s = await startEmbedded([
    { id: "bert-tiny-sst", path: "bert-tiny-sst" }, // arrays as base64 .npy: the page decodes them
    { id: "bert-tiny-ner", path: "bert-tiny-ner" },
    { id: "roberta-tiny-qa", path: "roberta-tiny-qa" },
    { id: "bert-tiny-base", path: "bert-tiny-base", return_plaintext_arrays: true },
    { id: "gpt2-tiny", path: "gpt2-tiny" },
    { id: "t5-tiny", path: "t5-tiny" },
  ]);
  profile = await mkdtemp(join(tmpdir(), "square-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1200, height: 900 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(new URL(s.base).origin)) foreignRequests.push(r.url());
  });
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await context?.close();
  await s?.stop();
  await secured?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

const shot = (name: string, selector = "#view") => page.locator(selector).first().screenshot({ path: join(SHOTS, `${name}.png`) });

async function choose(model: string, task: string, mode: "predict" | "explain" | "attack" = "predict"): Promise<void> {
  await page.selectOption("#model", model);
  await page.selectOption("#task", task);
  if (await page.locator("#mode-row").isVisible()) await page.check(`input[name="mode"][value="${mode}"]`);
}

interface Run {
  /** The task_result bodies (long-poll) or the final `result` events (stream), in order. */
  bodies: any[];
  /** Each streamed response's events. */
  streams: { event: string; data: any }[][];
}

/** Clicks Run (or presses Enter on it) and waits for the view; returns the API's JSON as the page got it. */
async function run(how: "click" | "keyboard" = "click"): Promise<Run> {
  const before = Number((await page.getAttribute("#view", "data-run")) ?? 0);
  const pending: Promise<{ kind: string; value: any }>[] = [];
  const listener = (r: Response) => {
    if (r.url().includes("/task_result/") && r.status() === 200) pending.push(r.json().then((value) => ({ kind: "poll", value })));
    else if (r.url().endsWith("/generation/stream") && r.status() === 200) pending.push(r.text().then((text) => ({ kind: "stream", value: parseSse(text) })));
  };
  page.on("response", listener);
  try {
    if (how === "keyboard") {
      await page.focus("#run");
      await page.keyboard.press("Enter");
    } else await page.click("#run");
    const n = before + 1;
    await page.waitForSelector(`#view[data-run="${n}"][data-state="done"], #view[data-run="${n}"][data-state="failed"]`, { timeout: 30_000 });
    if ((await page.getAttribute("#view", "data-state")) === "failed") assert.fail(`the page reports: ${await page.textContent("#error")}`);
  } finally {
    page.off("response", listener);
  }
  const got = await Promise.all(pending);
  const streams = got.filter((g) => g.kind === "stream").map((g) => g.value as { event: string; data: any }[]);
  const bodies = got.map((g) => (g.kind === "poll" ? g.value : (g.value as { event: string; data: any }[]).find((e) => e.event === "result")!.data));
  for (const b of bodies) assert.equal(b.status, "Finished", JSON.stringify(b));
  return { bodies, streams };
}

/** Attributes and text of every element a selector matches. */
async function read(selector: string, attrs: string[] = []): Promise<Record<string, string | null>[]> {
  return page.$$eval(
    selector,
    (els: any[], names: string[]) => els.map((e) => Object.fromEntries([["text", e.textContent], ...names.map((n) => [n, e.getAttribute(n)])])),
    attrs,
  );
}

/** A nested list from a .npy string (or a plain list, unchanged). */
function nested(value: unknown): any {
  if (typeof value !== "string") return value;
  const { shape, values } = decodeNpy(value);
  const build = (offset: number, dim: number): any => {
    if (dim === shape.length) return values[offset];
    const size = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[dim] }, (_, i) => build(offset + i * size, dim + 1));
  };
  return build(0, 0);
}

test("the page loads under its own CSP, lists the models from /models, and every control has a label", async () => {
  const res = await page.goto(`${s.base}/playground`);
  assert.equal(res?.status(), 200);
  assert.equal(res?.headers()["content-security-policy"], PLAYGROUND_CSP);
  await page.waitForSelector("body[data-ready]");
  const models = (await s.get("/models")).body as { id: string; tasks: string[] }[];
  const options = await read("#model option", ["value"]);
  assert.deepEqual(options.map((o) => o.value), models.map((m) => m.id));
  const unlabelled = await page.$$eval("input, select, textarea, button", (els: any[]) => els.filter((e) => e.labels?.length === 0 && !e.getAttribute("aria-label") && !e.textContent.trim() && e.type !== "hidden").map((e) => e.id || e.outerHTML));
  assert.deepEqual(unlabelled, [], "controls without a label");
  await page.screenshot({ path: join(SHOTS, "playground.png") });
});

test("sequence classification: one bar per label with the decoded probabilities; the curl command works", async () => {
  await choose("bert-tiny-sst", "sequence-classification");
  await page.fill("#texts", "a great movie with a thin plot\nthe acting was wonderful");
  await page.fill("#pairs", "");
  const { bodies } = await run("keyboard");
  const result = bodies[0].result;
  assert.equal(result.model_output_is_encoded, true, "the page had to decode .npy");
  const probs = nested(result.model_outputs.logits) as number[][];
  for (let i = 0; i < 2; i++) {
    const rows = await read(`.cls-item[data-item="${i}"] .prob-row`, ["data-label", "data-prob", "class"]);
    assert.deepEqual(rows.map((r) => r["data-label"]), Object.keys(result.id2label).map((k) => result.id2label[k]));
    assert.deepEqual(rows.map((r) => Number(r["data-prob"])), probs[i]);
    assert.equal(rows.findIndex((r) => r.class!.includes("predicted")), result.labels[i]);
  }
  const raw = JSON.parse((await page.textContent(".raw-json"))!);
  assert.deepEqual(raw.result.model_outputs.logits, probs, "raw JSON with the arrays decoded");
  await shot("sequence-classification");

  const curl = (await page.textContent("pre.curl"))!;
  // Asynchronously: the server answering it runs in this process.
  const out = JSON.parse((await promisify(execFile)("bash", ["-c", curl], { encoding: "utf8" })).stdout);
  assert.deepEqual(out.result.labels, result.labels, "the copyable curl command runs and gives the same result");
  assert.deepEqual(nested(out.result.model_outputs.logits), probs);
  await page.click("button.copy");
  await page.locator(".copied").filter({ hasText: /\S/ }).waitFor();
  assert.equal(await page.textContent(".copied"), "Copied.");
  assert.equal(await page.evaluate("navigator.clipboard.readText()"), curl);
  await shot("request", "article.request");
});

test("a running task shows a spinner with the elapsed time (part 6)", async () => {
  // Hold every long-poll answer 1.2 s so the spinner is seen for certain.
  await page.route("**/task_result/**", async (route) => {
    await new Promise((r) => setTimeout(r, 1200));
    await route.continue().catch(() => undefined);
  });
  try {
    const started = Number((await page.getAttribute("#view", "data-run")) ?? 0);
    await page.click("#run");
    await page.waitForSelector("#progress .spinner", { state: "visible" });
    // Polled from here: the page's CSP forbids the string evaluation waitForFunction would use.
    for (let i = 0; i < 100 && !(Number.parseFloat((await page.textContent("#elapsed")) ?? "") >= 0.3); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match((await page.textContent("#elapsed"))!, /^\d+\.\d s$/);
    assert.match((await page.textContent("#status"))!, /^Running bert-tiny-sst sequence-classification/);
    await shot("progress", ".actions");
    await page.waitForSelector(`#view[data-run="${started + 1}"][data-state="done"]`);
    assert.equal(await page.isVisible("#progress"), false, "the spinner goes away");
    const seconds = Number(/^Finished in (\d+\.\d) s$/.exec((await page.textContent("#status"))!)?.[1]);
    assert.ok(seconds >= 1.2, `the total time is shown: ${seconds}`);
  } finally {
    await page.unrouteAll({ behavior: "wait" });
  }
});

test("token classification: the entities highlighted in the text, for every aggregation mode", async () => {
  const text = "John lives in Paris with Mary";
  await choose("bert-tiny-ner", "token-classification");
  await page.fill("#texts", text);
  for (const mode of ["none", "simple", "first", "average", "max"]) {
    await page.selectOption("#aggregation", mode);
    const { bodies } = await run();
    const { entities, aggregation } = bodies[0].result;
    assert.equal(aggregation, mode);
    assert.ok(entities[0].length > 0, `${mode}: the random demo model finds entities`);
    const marks = await read('.entity-text[data-item="0"] mark.ent', ["data-label", "data-start", "data-end", "data-score"]);
    const want = [...entities[0]].sort((a: any, b: any) => a.start - b.start);
    assert.deepEqual(
      marks.map((m) => [m.text, m["data-label"], Number(m["data-start"]), Number(m["data-end"]), Number(m["data-score"])]),
      want.map((e: any) => [text.slice(e.start, e.end), e.entity_group ?? e.entity, e.start, e.end, e.score]),
      mode,
    );
    assert.equal(await page.textContent('.entity-text[data-item="0"]'), text, "the text itself is unchanged");
    if (mode === "simple") await shot("token-classification");
  }
});

test("question answering on a long context: each top answer is the highlighted span, with its score", async () => {
  const names = ["John", "Mary", "Anna", "Peter", "Lena", "Omar"];
  const cities = ["Paris", "Berlin", "Rome", "Madrid", "Vienna", "Oslo"];
  const context = Array.from({ length: 60 }, (_, i) => `${names[i % 6]} went to ${cities[(i * 5) % 6]} with ${names[(i + 2) % 6]} in the spring of ${1900 + i}.`).join(" ");
  await choose("roberta-tiny-qa", "question-answering");
  await page.fill("#question", "Who went to Rome?");
  await page.fill("#context", context);
  await page.fill("#topk", "3");
  const { bodies } = await run();
  const answers = bodies[0].result.answers[0];
  assert.equal(answers.length, 3);
  for (let k = 0; k < answers.length; k++) {
    await page.click(`.qa-answer[data-rank="${k}"]`);
    const [mark] = await read('.qa-context[data-item="0"] mark.qa-highlight', ["data-start", "data-end", "data-score"]);
    assert.equal(mark.text, answers[k].answer);
    assert.equal(mark.text, context.slice(answers[k].start, answers[k].end));
    assert.equal(Number(mark["data-score"]), answers[k].score);
    assert.equal(await page.textContent('.qa-context[data-item="0"]'), context);
    assert.equal(await page.isVisible(".qa-highlight"), true);
    assert.equal(await page.getAttribute(`.qa-answer[data-rank="${k}"]`, "aria-pressed"), "true");
  }
  await page.click('.qa-answer[data-rank="0"]');
  await shot("question-answering");
});

test("embeddings: the similarity heat map's cells are the cosine similarities of the returned vectors", async () => {
  const texts = ["a great movie", "a wonderful film", "the plot was thin"];
  await choose("bert-tiny-base", "embedding");
  await page.fill("#texts", texts.join("\n"));
  const { bodies } = await run();
  const vectors = bodies[0].result.model_outputs.embeddings as number[][];
  const cells = await read(".sim-cell", ["data-row", "data-col", "data-value"]);
  assert.equal(cells.length, 9);
  for (const c of cells) {
    const [a, b] = [vectors[Number(c["data-row"])], vectors[Number(c["data-col"])]];
    const dot = a.reduce((acc, x, i) => acc + x * b[i], 0);
    const cos = dot / Math.sqrt(a.reduce((acc, x) => acc + x * x, 0) * b.reduce((acc, x) => acc + x * x, 0));
    assert.ok(Math.abs(Number(c["data-value"]) - cos) < 1e-9, `${c["data-row"]},${c["data-col"]}: ${c["data-value"]} vs ${cos}`);
    assert.equal(c.text, cos.toFixed(2));
  }
  await shot("embedding");
});

test("explanations: one heat map per method, side by side, question and context apart; cells are the returned word scores", async () => {
  await choose("roberta-tiny-qa", "question-answering", "explain");
  await page.fill("#question", "Who went to Paris?");
  await page.fill("#context", "John went to Paris with Mary and they played in the garden.");
  const methods = (await read('input[name="explain-method"]:checked', ["value"])).map((m) => m.value!);
  assert.deepEqual(methods, ["simple_grads", "integrated_grads", "attention"]);
  const { bodies } = await run();
  assert.equal(bodies.length, methods.length, "one request per method");
  for (let m = 0; m < methods.length; m++) {
    const attributions = bodies[m].result.attributions[0];
    for (const segment of ["question", "context"]) {
      const cells = await read(`.explain-method[data-method="${methods[m]}"] .hm-cell[data-segment="${segment}"]`, ["data-index", "data-score"]);
      const words = attributions[`${segment}_tokens`][0] as [number, string, number][];
      assert.ok(words.length > 0);
      assert.deepEqual(cells.map((c) => [Number(c["data-index"]), c.text, Number(c["data-score"])]), words, `${methods[m]} ${segment}`);
    }
  }
  const boxes = await Promise.all(methods.map((m) => page.locator(`.explain-method[data-method="${m}"]`).boundingBox()));
  assert.ok(boxes.every((b, i) => i === 0 || (b!.x > boxes[i - 1]!.x && Math.abs(b!.y - boxes[0]!.y) < 2)), "side by side");
  await shot("explanations");
});

/** Each variant's text is the API's context/question; the marked words are those not in the original. */
async function checkVariants(result: any, kind: "context" | "question"): Promise<void> {
  const texts: string[] = kind === "context" ? result.contexts : result.questions;
  const shown = await read(`.attack-variant .variant-${kind}`);
  assert.deepEqual(shown.map((v) => v.text), texts);
  for (let k = 1; k < texts.length; k++) {
    const marked = (await read(`.attack-variant[data-variant="${k}"] .variant-${kind} mark.changed`)).map((m) => m.text);
    const original = new Set(texts[0].split(/\s+/));
    for (const w of marked) assert.ok(!original.has(w!) || texts[k].split(/\s+/).filter((x) => x === w).length > texts[0].split(/\s+/).filter((x) => x === w).length, `"${w}" is marked but unchanged`);
  }
}

test("attacks: hotflip on classification, every variant with its flipped words marked and its prediction", async () => {
  await choose("bert-tiny-sst", "sequence-classification", "attack");
  await page.fill("#texts", "a great movie with a thin plot");
  await page.fill("#pairs", "");
  await page.selectOption("#attack-method", "hotflip");
  await page.fill("#attack-limit", "2");
  const { bodies } = await run();
  const result = bodies[0].result;
  assert.equal(result.contexts.length, 3);
  await checkVariants(result, "context");
  for (let k = 1; k < result.contexts.length; k++) {
    const marked = (await read(`.attack-variant[data-variant="${k}"] .variant-context mark.changed`)).map((m) => m.text);
    assert.deepEqual([...marked].sort(), result.adversarial.flips.slice(0, k).map((f: any) => f.to).sort(), "the flipped words so far are the marked ones");
  }
  const predictions = await read(".attack-variant .variant-prediction", ["data-label"]);
  assert.deepEqual(predictions.map((p) => p["data-label"]), result.labels.map((l: number) => result.id2label[String(l)]));
  await shot("attack-hotflip");
});

test("attacks on QA: input_reduction, sub_span and topk_tokens variants with their answers", async () => {
  await choose("roberta-tiny-qa", "question-answering", "attack");
  await page.fill("#question", "Who went to Paris?");
  await page.fill("#context", "John went to Paris with Mary.");
  for (const [method, limit] of [["input_reduction", "3"], ["sub_span", "3"], ["topk_tokens", "2"]]) {
    await page.selectOption("#attack-method", method);
    await page.fill("#attack-limit", limit);
    const { bodies } = await run();
    const result = bodies[0].result;
    assert.equal(result.adversarial.method, method);
    assert.ok(result.contexts.length >= 2, method);
    await checkVariants(result, "context");
    await checkVariants(result, "question");
    const predictions = await read(".attack-variant .variant-prediction", ["data-answer", "data-score"]);
    assert.deepEqual(predictions.map((p) => [p["data-answer"], Number(p["data-score"])]), result.answers.map((a: any[]) => [a[0].answer, a[0].score]), method);
    if (method === "input_reduction") {
      const removed = (await read('.attack-variant[data-variant="1"] .removed del')).map((d) => d.text);
      assert.equal(removed.length, 1, "one question word removed in the first reduction");
      await shot("attack-input-reduction");
    }
  }
});

test("generation: streamed text (server-sent events) equals the result; long-poll generation too", async () => {
  await choose("gpt2-tiny", "generation");
  await page.fill("#texts", "the dog\nJohn lives in Paris with");
  await page.fill("#max-new-tokens", "16");
  await page.check("#stream");
  const { bodies, streams } = await run();
  assert.equal(streams.length, 1, "the stream route was used");
  const result = bodies[0].result;
  const outputs = await read(".gen-output", ["data-prompt", "data-sequence", "data-streamed", "data-token-events"]);
  assert.equal(outputs.length, 2);
  for (const o of outputs) {
    const [i, j] = [Number(o["data-prompt"]), Number(o["data-sequence"])];
    assert.equal(o.text, result.generated_texts[i][j]);
    const tokens = streams[0].filter((e) => e.event === "token" && e.data.prompt === i && e.data.sequence === j);
    assert.equal(Number(o["data-token-events"]), tokens.length, "every token event was shown");
    assert.equal(o["data-streamed"], tokens.map((e) => e.data.text).join(""));
    assert.ok(o.text!.endsWith(o["data-streamed"]!), "the streamed text is the end of the result");
  }
  await shot("generation");

  await choose("t5-tiny", "generation");
  await page.uncheck("#stream");
  const polled = await run();
  assert.equal(polled.streams.length, 0);
  const texts = await read(".gen-output");
  assert.deepEqual(texts.map((t) => t.text), polled.bodies[0].result.generated_texts.flat());
});

test("the page made no request to another origin and logged no error (CSP violations included)", () => {
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(problems, []);
});

test("the playground routes need the same role as predictions when auth is on", async () => {
  assert.equal(matchRoute("GET", "playground")?.access, "user");
  assert.equal(matchRoute("GET", "playground/playground.js")?.access, "user");
  const dir = await mkdtemp(join(tmpdir(), "square-keys-"));
  const keys = { keys: [{ key: "user-key-0123456789abcdef", identity: "alice", roles: ["user"] }, { key: "guest-key-0123456789abcdef", identity: "guest", roles: [] }] };
  await writeFile(join(dir, "keys.json"), JSON.stringify(keys));
  secured = await startSecured(["--auth", "apikey", "--api-keys", join(dir, "keys.json")], undefined);
  for (const path of ["/playground", "/playground/playground.js", "/playground/playground.css", "/playground/playground.svg"]) {
    assert.equal((await secured.call("GET", path)).status, 401, path);
    assert.equal((await secured.call("GET", path, { token: "guest-key-0123456789abcdef" })).status, 403, path);
    const ok = await secured.call("GET", path, { token: "user-key-0123456789abcdef" });
    assert.equal(ok.status, 200, path);
    assert.equal(ok.headers.get("content-security-policy"), PLAYGROUND_CSP, path);
  }
  const page = await secured.call("GET", "/playground", { token: "user-key-0123456789abcdef" });
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(page.body, /src="\/api\/main\/playground\/playground\.js"/);
  assert.match(page.body, /href="\/api\/main\/playground\/playground\.css"/);
  assert.doesNotMatch(page.body, /<script>|<style>|style="/, "nothing inline");
  assert.equal((await secured.call("GET", "/playground/other.js", { token: "user-key-0123456789abcdef" })).status, 404);
  await rm(dir, { recursive: true, force: true });
});
