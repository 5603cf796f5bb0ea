/**
 * Request parsing as a table: a body for a task → the 422 problems it gets, or the typed options
 * the task's pipeline (and the request's add-ons) parse it into. No model files: the model is its
 * metadata, as at the gateway.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import Moleculer from "moleculer";
import { parseRequest } from "../../lib/validation/validate-request.ts";
import type { ModelMeta } from "../../lib/model/metadata.ts";
import type { TaskName } from "../../lib/request/task-names.ts";
import { toErrorBody, type FieldProblem } from "../../lib/errors.ts";

const MODEL: ModelMeta = {
  id: "m",
  tasks: ["sequence-classification", "token-classification", "embedding", "question-answering"],
  embeddingModes: ["mean", "max", "cls", "token"],
  maxLength: 128,
  specialTokens: { single: 2, pair: 3 },
  outputNames: ["logits", "start_logits", "end_logits", "last_hidden_state", "attentions.1", "attentions.0"],
  maxInput: 32,
  maxQueue: 100,
  vocabSize: 1000,
  device: "cpu",
  adapters: [],
  inputNames: ["input_ids", "attention_mask"],
};

interface Row {
  task: TaskName;
  body: Record<string, unknown>;
  /** The task's typed options, or the problems of the 422. */
  options?: unknown;
  problems?: FieldProblem[];
  /** Add-ons the request asks for, by name, with their options. */
  addOns?: Record<string, unknown>;
}

/** Tokenizer options from empty `preprocessing_kwargs` on this model. */
const TOKENIZE = { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false };

const QA_PLAN = { maxSeqLen: 128, questionLimit: 64, docStride: undefined, firstWindowOnly: false };

const ROWS: Row[] = [
  // Sequence classification (SPEC §6.1)
  { task: "sequence-classification", body: { input: ["a"] }, options: { isRegression: false, extraOutputs: [], tokenize: TOKENIZE } },
  { task: "sequence-classification", body: { input: [["a", "b"]], task_kwargs: { is_regression: true } }, options: { isRegression: true, extraOutputs: [], tokenize: TOKENIZE } },
  { task: "sequence-classification", body: { input: ["a"], model_kwargs: { output_attentions: true } }, options: { isRegression: false, extraOutputs: ["attentions.0", "attentions.1"], tokenize: TOKENIZE } },
  { task: "sequence-classification", body: { input: ["a"], task_kwargs: { is_regression: "yes" } }, problems: [{ field: "task_kwargs.is_regression", message: "must be a boolean" }] },
  { task: "sequence-classification", body: { input: ["a"], task_kwargs: { topk: 1 } }, problems: [{ field: "task_kwargs.topk", message: "unknown option for this task; known: is_regression" }] },
  { task: "sequence-classification", body: { input: ["a"], model_kwargs: { output_hidden_states: true } }, problems: [{ field: "model_kwargs.output_hidden_states", message: "this model's ONNX export has no hidden_states outputs and none can be added: its graph structure was not recognised (post-LayerNorm encoders with a Softmax per attention layer are supported)" }] },
  // Token classification (SPEC §6.2)
  // Found by the route fuzzer: an empty text without special tokens has no token to run; a huge topk made decoding quadratic.
  { task: "embedding", body: { input: ["a", ""], preprocessing_kwargs: { add_special_tokens: false } }, problems: [{ field: "input.1", message: "is empty; with add_special_tokens false it would have no tokens at all" }] },
  { task: "question-answering", body: { input: [["q", "c"]], task_kwargs: { topk: 10_001 } }, problems: [{ field: "task_kwargs.topk", message: "is 10001; must be between 1 and 10000" }] },
  { task: "token-classification", body: { input: ["a b"] }, options: { aggregation: "none", extraOutputs: [], tokenize: TOKENIZE } },
  { task: "token-classification", body: { input: ["a b"], task_kwargs: { aggregation: "simple" } }, options: { aggregation: "simple", extraOutputs: [], tokenize: TOKENIZE } },
  { task: "token-classification", body: { input: ["a b"], task_kwargs: { aggregation: "best" } }, problems: [{ field: "task_kwargs.aggregation", message: 'unknown strategy "best"; use none, simple, first, average, max' }] },
  // Embedding (SPEC §6.3)
  { task: "embedding", body: { input: ["a"] }, options: { mode: "mean", normalize: false, extraOutputs: [], tokenize: TOKENIZE } },
  { task: "embedding", body: { input: ["a"], task_kwargs: { embedding_mode: "token", normalize: true } }, options: { mode: "token", normalize: true, extraOutputs: [], tokenize: TOKENIZE } },
  { task: "embedding", body: { input: ["a"], task_kwargs: { embedding_mode: "pooler" } }, problems: [{ field: "task_kwargs.embedding_mode", message: 'this model has no pooler output: "pooler"; this model supports mean, max, cls, token' }] },
  { task: "embedding", body: { input: [["a", "b"]] }, problems: [{ field: "input.0", message: "embedding expects each item to be a string" }] },
  { task: "embedding", body: { input: ["a"], explain_kwargs: { method: "attention" } }, problems: [{ field: "explain_kwargs", message: "this task cannot be explained; explanations exist for sequence-classification and question-answering" }] },
  // Question answering (SPEC §6.4): defaults in one place, the window plan resolved once.
  { task: "question-answering", body: { input: [["q", "c"]] }, options: { topk: 1, maxAnswerLen: 128, showNullAnswers: true, plan: QA_PLAN, extraOutputs: [] } },
  { task: "question-answering", body: { input: [["q", "c"]], task_kwargs: { topk: 3, max_answer_len: 10, show_null_answers: false, max_seq_len: 64, doc_stride: 16 } }, options: { topk: 3, maxAnswerLen: 10, showNullAnswers: false, plan: { maxSeqLen: 64, questionLimit: 44, docStride: { value: 16, field: "task_kwargs.doc_stride" }, firstWindowOnly: false }, extraOutputs: [] } },
  { task: "question-answering", body: { input: [["q", "c"]], task_kwargs: { topk: 0 } }, problems: [{ field: "task_kwargs.topk", message: "must be ≥ 1" }] },
  { task: "question-answering", body: { input: [["q", "c"]], task_kwargs: { max_seq_len: 4 } }, problems: [{ field: "task_kwargs.max_seq_len", message: "is 4; must be between 5 and 128: the pair's 3 special tokens, one question and one context token, and this model accepts at most 128 tokens" }] },
  { task: "question-answering", body: { input: ["q"] }, problems: [{ field: "input.0", message: "question-answering expects each item to be a pair [text, text_pair] of strings" }] },
  { task: "question-answering", body: { input: { input_ids: [[1, 2, 3]], attention_mask: [[1, 1, 1]] }, is_preprocessed: true }, options: { topk: 1, maxAnswerLen: 128, showNullAnswers: true, plan: undefined, extraOutputs: [] } },
  // Preprocessing options: windowing tasks (QA) and one-row-per-item tasks follow different rules; text-only task options are refused without text
  { task: "sequence-classification", body: { input: ["a"], preprocessing_kwargs: { max_length: 16, truncation: false, add_special_tokens: false } }, options: { isRegression: false, extraOutputs: [], tokenize: { maxLength: 16, truncation: "do_not_truncate", addSpecialTokens: false, stride: 0, returnOverflowing: false } } },
  { task: "sequence-classification", body: { input: ["a"], preprocessing_kwargs: { return_overflowing_tokens: true } }, problems: [{ field: "preprocessing_kwargs.return_overflowing_tokens", message: "sequence-classification returns one row per item; long inputs are truncated (question answering windows long contexts itself)" }] },
  { task: "question-answering", body: { input: [["q", "c"]], preprocessing_kwargs: { add_special_tokens: false } }, problems: [{ field: "preprocessing_kwargs.add_special_tokens", message: "must stay true for question answering: the special tokens separate question and context" }] },
  { task: "question-answering", body: { input: { input_ids: [[1, 2, 3]], attention_mask: [[1, 1, 1]] }, is_preprocessed: true, task_kwargs: { doc_stride: 8 } }, problems: [{ field: "task_kwargs.doc_stride", message: "windows texts; with is_preprocessed each row is one window already" }] },
  { task: "token-classification", body: { input: { input_ids: [[1, 2, 3]], attention_mask: [[1, 1, 1]] }, is_preprocessed: true, task_kwargs: { aggregation: "first" } }, problems: [{ field: "task_kwargs.aggregation", message: 'groups words of the text; with is_preprocessed there is no text, only "none" is available' }] },
  { task: "token-classification", body: { input: { input_ids: [[1, 2, 3]], attention_mask: [[1, 1, 1]] }, is_preprocessed: true, task_kwargs: { aggregation: "none" } }, options: { aggregation: "none", extraOutputs: [], tokenize: TOKENIZE } },
  // Request add-ons and features that are not add-ons yet
  { task: "sequence-classification", body: { input: ["a"], explain_kwargs: { method: "simple_grads" } }, options: { isRegression: false, extraOutputs: [], tokenize: TOKENIZE }, addOns: { explanations: { method: "simple_grads", topK: 10, mode: "all", steps: 10, samples: 10, noise: 0.01, seed: undefined } } },
  { task: "sequence-classification", body: { input: ["a"], explain_kwargs: { top_k: 3 } }, problems: [{ field: "explain_kwargs.method", message: "is required; one of simple_grads, integrated_grads, smooth_grads, attention, scaled_attention" }] },
  { task: "sequence-classification", body: { input: ["a"], attack_kwargs: { method: "hotflip" } }, options: { isRegression: false, extraOutputs: [], tokenize: TOKENIZE }, addOns: { attacks: { method: "hotflip", saliencyMethod: "simple_grads", maxFlips: 10, includeAnswer: false, maxReductions: 10, maxTokens: 10 } } },
  { task: "sequence-classification", body: { input: [["c", "q"]], attack_kwargs: { method: "input_reduction", saliency_method: "attention", max_reductions: 3 } }, options: { isRegression: false, extraOutputs: [], tokenize: TOKENIZE }, addOns: { attacks: { method: "input_reduction", saliencyMethod: "attention", maxFlips: 10, includeAnswer: false, maxReductions: 3, maxTokens: 10 } } },
  { task: "sequence-classification", body: { input: ["a"], attack_kwargs: { max_flips: 0, include_answer: "yes", saliency_method: "lime" } }, problems: [
    { field: "attack_kwargs.method", message: "is required; one of hotflip, input_reduction, sub_span, topk_tokens" },
    { field: "attack_kwargs.max_flips", message: "must be an integer from 1 to 100" },
    { field: "attack_kwargs.include_answer", message: "must be true or false" },
    { field: "attack_kwargs.saliency_method", message: "must be one of simple_grads, integrated_grads, smooth_grads, attention, scaled_attention" },
  ] },
  { task: "sequence-classification", body: { input: { input_ids: [[1, 2, 3]], attention_mask: [[1, 1, 1]] }, is_preprocessed: true, attack_kwargs: { method: "sub_span" } }, problems: [{ field: "attack_kwargs", message: "attacks edit the words of the text; send text, not is_preprocessed input" }] },
  { task: "sequence-classification", body: { input: ["a"], adapter_name: "x" }, problems: [{ field: "adapter_name", message: "this model has no adapters" }] },
  // Before any task option: the task itself and the body's shape
  { task: "generation", body: { input: ["a"] }, problems: [{ field: "task", message: "this model does not support generation; it supports sequence-classification, token-classification, embedding, question-answering" }] },
];

function parse(row: Row): { options?: unknown; addOns?: Record<string, unknown>; problems?: FieldProblem[] } {
  try {
    const parsed = parseRequest(row.body, row.task, MODEL);
    return { options: parsed.options, addOns: Object.fromEntries(parsed.addOns.map((a) => [a.addOn.name, a.options])) };
  } catch (err) {
    return { problems: (err as { data?: FieldProblem[] }).data };
  }
}

for (const row of ROWS) {
  test(`${row.task} ${JSON.stringify(row.body)}`, () => {
    const got = parse(row);
    if (row.problems) assert.deepEqual(got.problems, row.problems);
    else {
      assert.equal(got.problems, undefined, JSON.stringify(got.problems));
      assert.deepEqual(got.options, row.options);
      assert.deepEqual(got.addOns, row.addOns ?? {});
    }
  });
}

test("Moleculer's parameter ValidationError (internal actions' params schemas) is a 422 naming the field", () => {
  const err = new Moleculer.Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [{ type: "required", field: "input", message: "The 'input' field is required." }]);
  const { status, body } = toErrorBody(err as never);
  assert.equal(status, 422);
  assert.deepEqual((body as { detail: unknown }).detail, [{ loc: ["body", "input"], msg: "The 'input' field is required.", type: "value_error" }]);
});
