/** The playground: wiring of the form, the runs and the views. */
import "./style.css";
import { byId, h } from "./dom.ts";
import { listModels, runTask, streamGeneration, setToken, ApiError, ModelInfo, TaskOutcome } from "./api.ts";
import { decodeResult } from "./npy.ts";
import { planRequests, showFieldsFor, Plan } from "./form.ts";
import { Progress } from "./spinner.ts";
import { requestEntry } from "./requests.ts";
import { classificationView } from "./views/classification.ts";
import { tokensView } from "./views/tokens.ts";
import { qaView } from "./views/qa.ts";
import { embeddingView } from "./views/embedding.ts";
import { explainView, MethodResult } from "./views/explain.ts";
import { attackView } from "./views/attack.ts";
import { GenerationView } from "./views/generation.ts";
import type { Result } from "./views/common.ts";

const modelSelect = byId<HTMLSelectElement>("model");
const taskSelect = byId<HTMLSelectElement>("task");
const runButton = byId<HTMLButtonElement>("run");
const view = byId("view");
const errorBox = byId("error");
const requests = byId("requests");
const results = byId("results");
const progress = new Progress();
let models: ModelInfo[] = [];
/** Runs started, on #view as data-run (with data-state running/done/failed) for scripts and tests. */
let runs = 0;

async function loadModels(): Promise<void> {
  const note = byId("models-note");
  setToken(byId<HTMLInputElement>("token").value);
  try {
    models = await listModels();
    note.textContent = models.length ? `${models.length} models deployed.` : "No model is deployed.";
  } catch (e) {
    models = [];
    note.textContent = e instanceof ApiError && e.status === 401 ? "The server needs credentials: enter a bearer token and reload the models." : `Could not list the models: ${(e as Error).message}`;
  }
  const previous = modelSelect.value;
  modelSelect.replaceChildren(...models.map((m) => h("option", { value: m.id, text: `${m.id} (${m.tasks.join(", ")})` })));
  if (models.some((m) => m.id === previous)) modelSelect.value = previous;
  fillTasks();
}

function fillTasks(): void {
  const model = models.find((m) => m.id === modelSelect.value);
  const previous = taskSelect.value;
  taskSelect.replaceChildren(...(model?.tasks ?? []).map((t) => h("option", { value: t, text: t })));
  if (model?.tasks.includes(previous)) taskSelect.value = previous;
  runButton.disabled = !model;
  showFieldsFor(taskSelect.value);
}

/** Runs one planned request (long-poll, or the stream for generation) and returns the decoded result. */
async function execute(plan: Plan, index: number, onToken?: Parameters<typeof streamGeneration>[2]): Promise<Result> {
  const req = plan.requests[index];
  const entry = requestEntry(req, index, byId<HTMLInputElement>("token").value.trim() !== "");
  requests.append(entry.el);
  const what = `${plan.model} ${plan.task}${plan.requests.length > 1 ? ` (${req.label})` : ""}`;
  let outcome: TaskOutcome;
  try {
    outcome = req.stream
      ? await streamGeneration(plan.model, req.body, (e) => {
          progress.state(what, "streaming");
          onToken?.(e);
        })
      : await runTask(plan.model, plan.task, req.body, (state, id) => {
          progress.state(what, state);
          if (id) entry.setTaskId(id);
        });
  } catch (e) {
    if (e instanceof ApiError) entry.setResult(e.body);
    throw e;
  }
  entry.setTaskId(outcome.taskId);
  const decoded = { ...outcome.body, result: decodeResult(outcome.body.result) };
  entry.setResult(decoded);
  return decoded.result as Result;
}

async function run(): Promise<void> {
  errorBox.replaceChildren();
  let plan: Plan;
  try {
    plan = planRequests(modelSelect.value, taskSelect.value);
  } catch (e) {
    errorBox.textContent = (e as Error).message;
    return;
  }
  view.replaceChildren();
  requests.replaceChildren();
  results.setAttribute("aria-busy", "true");
  runButton.disabled = true;
  view.dataset.state = "running";
  view.dataset.run = String(++runs);
  progress.start(`${plan.model} ${plan.task}`);
  try {
    const body = plan.requests[0].body;
    if (plan.mode === "explain") {
      const methods: MethodResult[] = [];
      for (let i = 0; i < plan.requests.length; i++) {
        try {
          methods.push({ method: plan.requests[i].label, result: await execute(plan, i) });
        } catch (e) {
          methods.push({ method: plan.requests[i].label, error: (e as Error).message });
        }
      }
      view.replaceChildren(explainView(body, methods));
    } else if (plan.task === "generation") {
      const gen = new GenerationView((body.input as string[]).map(String));
      view.replaceChildren(gen.el);
      gen.finish(await execute(plan, 0, (e) => gen.token(e)));
    } else {
      const result = await execute(plan, 0);
      view.replaceChildren(render(plan, body, result));
    }
    view.dataset.state = "done";
    view.dataset.task = plan.task;
    view.dataset.mode = plan.mode;
    progress.finish("Finished");
  } catch (e) {
    view.dataset.state = "failed";
    progress.finish("Failed");
    errorBox.textContent = (e as Error).message;
  } finally {
    results.removeAttribute("aria-busy");
    runButton.disabled = false;
  }
}

function render(plan: Plan, body: Record<string, unknown>, result: Result): HTMLElement {
  if (plan.mode === "attack") return attackView(result);
  switch (plan.task) {
    case "sequence-classification":
      return classificationView(body, result);
    case "token-classification":
      return tokensView(body, result);
    case "question-answering":
      return qaView(body, result);
    case "embedding":
      return embeddingView(body, result);
    default:
      return h("p", { text: "This task has no view: see the raw JSON below." });
  }
}

modelSelect.addEventListener("change", fillTasks);
taskSelect.addEventListener("change", () => showFieldsFor(taskSelect.value));
for (const id of ["attack-method"]) byId(id).addEventListener("change", () => showFieldsFor(taskSelect.value));
for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="mode"]')) radio.addEventListener("change", () => showFieldsFor(taskSelect.value));
byId("reload-models").addEventListener("click", () => void loadModels());
byId("request-form").addEventListener("submit", (e) => {
  e.preventDefault();
  void run();
});
void loadModels().then(() => document.body.setAttribute("data-ready", "true"));
