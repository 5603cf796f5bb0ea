/** The form: which fields a task shows, example inputs, and the request(s) it makes. */
import { byId } from "./dom.ts";

export type Mode = "predict" | "explain" | "attack";

export interface PlannedRequest {
  /** What the request is, for headings (the explanation method, or the task). */
  label: string;
  /** Under the API prefix. */
  path: string;
  body: Record<string, unknown>;
  stream: boolean;
}

export interface Plan {
  model: string;
  task: string;
  mode: Mode;
  requests: PlannedRequest[];
}

/** Tasks whose requests take `explain_kwargs` and `attack_kwargs` (SPEC §7, §8). */
export const EXPLAINABLE = new Set(["sequence-classification", "question-answering"]);

const EXAMPLES: Record<string, string> = {
  "sequence-classification": "a great movie with a thin plot\nthe acting was wonderful",
  "token-classification": "John lives in Paris with Mary",
  embedding: "a great movie\na wonderful film\nthe plot was thin",
  generation: "the dog",
};
const EXAMPLE_QUESTION = "Who went to Paris?";
const EXAMPLE_CONTEXT = "John went to Paris with Mary.";

const ATTACK_LIMIT: Record<string, string> = { hotflip: "max_flips", input_reduction: "max_reductions", sub_span: "max_tokens", topk_tokens: "max_tokens" };

const input = (id: string) => byId<HTMLInputElement>(id);
const area = (id: string) => byId<HTMLTextAreaElement>(id);
const select = (id: string) => byId<HTMLSelectElement>(id);

export function currentMode(): Mode {
  return ((document.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value as Mode) ?? "predict");
}

/** Shows the fields of the chosen task and mode; fills an example into empty (or untouched example) inputs. */
export function showFieldsFor(task: string): void {
  const explainable = EXPLAINABLE.has(task);
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="mode"]')) {
    radio.disabled = radio.value !== "predict" && !explainable;
    if (radio.disabled && radio.checked) document.querySelector<HTMLInputElement>('input[name="mode"][value="predict"]')!.checked = true;
  }
  byId("mode-row").hidden = !explainable;
  const mode = currentMode();
  const qa = task === "question-answering";
  const shown: Record<string, boolean> = {
    "f-texts": !qa,
    "f-pairs": task === "sequence-classification",
    "f-question": qa,
    "f-context": qa,
    "f-aggregation": task === "token-classification",
    "f-topk": qa,
    "f-embedding": task === "embedding",
    "f-generation": task === "generation",
    "f-explain": explainable && mode === "explain",
    "f-attack": explainable && mode === "attack",
  };
  for (const [id, on] of Object.entries(shown)) byId(id).hidden = !on;
  byId("texts-label").textContent = task === "generation" ? "Prompts, one per line" : "Texts, one per line";
  const texts = area("texts");
  if (!qa && (texts.value.trim() === "" || Object.values(EXAMPLES).includes(texts.value))) texts.value = EXAMPLES[task] ?? "";
  if (qa && input("question").value.trim() === "") input("question").value = EXAMPLE_QUESTION;
  if (qa && area("context").value.trim() === "") area("context").value = EXAMPLE_CONTEXT;
  byId("attack-limit-label").textContent = ATTACK_LIMIT[select("attack-method").value];
}

const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);

function extraFields(): Record<string, unknown> {
  const text = area("extra").value.trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`Extra request fields: not JSON (${(e as Error).message})`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("Extra request fields: must be a JSON object");
  return parsed as Record<string, unknown>;
}

/** Merges `extra` into `body`, one level deep for the *_kwargs objects. */
function merge(body: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out = { ...body };
  for (const [k, v] of Object.entries(extra)) {
    const base = out[k];
    out[k] = base && typeof base === "object" && !Array.isArray(base) && v && typeof v === "object" && !Array.isArray(v) ? { ...base, ...v } : v;
  }
  return out;
}

const intOf = (id: string, fallback: number) => {
  const n = Number.parseInt(input(id).value, 10);
  return Number.isFinite(n) ? n : fallback;
};

export function planRequests(model: string, task: string): Plan {
  const mode = EXPLAINABLE.has(task) ? currentMode() : "predict";
  const body: Record<string, unknown> = {};
  if (task === "question-answering") {
    const question = input("question").value;
    const context = area("context").value;
    if (!question.trim() || !context.trim()) throw new Error("Enter a question and a context.");
    body.input = [[question, context]];
    body.task_kwargs = { topk: intOf("topk", 3), show_null_answers: input("show-null").checked };
  } else {
    const texts = lines(area("texts").value);
    if (texts.length === 0) throw new Error(task === "generation" ? "Enter a prompt." : "Enter at least one text.");
    const pairs = task === "sequence-classification" ? lines(area("pairs").value) : [];
    if (pairs.length > 0 && pairs.length !== texts.length) throw new Error(`Pairs: ${texts.length} texts but ${pairs.length} second texts (one per text, or none).`);
    body.input = pairs.length > 0 ? texts.map((t, i) => [t, pairs[i]]) : texts;
    if (task === "token-classification") body.task_kwargs = { aggregation: select("aggregation").value };
    if (task === "embedding") body.task_kwargs = { embedding_mode: select("embedding-mode").value, normalize: input("normalize").checked };
    if (task === "generation") body.task_kwargs = { max_new_tokens: intOf("max-new-tokens", 24), ...(input("do-sample").checked ? { do_sample: true } : {}) };
  }
  const stream = task === "generation" && input("stream").checked;
  const path = `/${model}/${task}${stream ? "/stream" : ""}`;
  const extra = extraFields();
  if (mode === "explain") {
    const methods = [...document.querySelectorAll<HTMLInputElement>('input[name="explain-method"]:checked')].map((c) => c.value);
    if (methods.length === 0) throw new Error("Choose at least one explanation method.");
    return { model, task, mode, requests: methods.map((method) => ({ label: method, path, stream, body: merge({ ...body, explain_kwargs: { method } }, extra) })) };
  }
  if (mode === "attack") {
    if ((body.input as unknown[]).length !== 1) throw new Error("Attacks take one item: enter one text.");
    const method = select("attack-method").value;
    const attack = { method, [ATTACK_LIMIT[method]]: intOf("attack-limit", 2), saliency_method: select("saliency-method").value };
    return { model, task, mode, requests: [{ label: method, path, stream, body: merge({ ...body, attack_kwargs: attack }, extra) }] };
  }
  return { model, task, mode, requests: [{ label: task, path, stream, body: merge(body, extra) }] };
}
