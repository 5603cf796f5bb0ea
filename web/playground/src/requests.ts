/** The "Request and raw JSON" section: per request its curl command (with a copy button) and the result with arrays decoded. */
import { h } from "./dom.ts";
import { curlCommand } from "./curl.ts";
import type { PlannedRequest } from "./form.ts";

export interface RequestEntry {
  el: HTMLElement;
  setTaskId(id: string): void;
  setResult(json: unknown): void;
}

export function requestEntry(req: PlannedRequest, index: number, auth: boolean): RequestEntry {
  const curl = curlCommand(req.path, req.body, { stream: req.stream, auth });
  const curlId = `curl-${index}`;
  const copied = h("span", { class: "copied", role: "status" });
  const copy = h("button", { type: "button", class: "copy", "aria-describedby": curlId }, "Copy curl command");
  copy.addEventListener("click", () => {
    void copyText(curl, document.getElementById(curlId)).then((ok) => (copied.textContent = ok ? "Copied." : "Selected: press Ctrl+C to copy."));
  });
  const taskId = h("p", { class: "note task-id" });
  const raw = h("pre", { class: "raw-json", tabindex: "0", "aria-label": `Raw JSON result of request ${index + 1}` }, "(waiting for the result)");
  const el = h(
    "article",
    { class: "request", "data-request": index },
    h("h3", { text: `${req.label}: POST ${req.path}` }),
    h("pre", { class: "curl", id: curlId, tabindex: "0", "aria-label": "curl command" }, h("code", { text: curl })),
    h("div", { class: "row" }, copy, copied),
    h("details", { class: "body-details" }, h("summary", { text: "Request body (JSON)" }), h("pre", { class: "request-body", text: JSON.stringify(req.body, null, 2) })),
    taskId,
    h("details", { class: "raw-details", open: true }, h("summary", { text: "Raw JSON result (arrays decoded from .npy)" }), raw),
  );
  return {
    el,
    setTaskId: (id) => (taskId.textContent = `task_id ${id}`),
    setResult: (json) => (raw.textContent = prettyJson(json)),
  };
}

async function copyText(text: string, fallback: HTMLElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallback) {
      const range = document.createRange();
      range.selectNodeContents(fallback);
      const sel = window.getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
    }
    return false;
  }
}

/** JSON indented by two, with arrays of numbers, strings or booleans kept on one line (model outputs stay readable). */
export function prettyJson(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== "object")) return `[${value.map((v) => JSON.stringify(v) ?? "null").join(", ")}]`;
    const inner = indent + "  ";
    return `[\n${value.map((v) => inner + prettyJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    const inner = indent + "  ";
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${prettyJson(v, inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value) ?? "null";
}
