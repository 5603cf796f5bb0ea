/**
 * Gradient models: an ONNX model's own graph extended with its backward pass, run by ONNX
 * Runtime (which has no autograd in Node). Explanations (SPEC §7) and HotFlip (§8) use them.
 *
 * API
 *   buildGradientModel(modelBytes, { targets?, attentions? }) → GradientModel
 *     bytes           the gradient model (.onnx bytes), opened as an ordinary session;
 *     inputs          its inputs: `inputs_embeds` (batch, seq, hidden) in place of the word
 *                     embedding lookup, the model's other inputs (`attention_mask`,
 *                     `token_type_ids`, and `input_ids` only when the graph still reads it: BERT
 *                     takes the length from it, RoBERTa its position ids), then `grad_<target>`
 *                     per target: the cotangent, shaped like that output (e.g. a one-hot of the
 *                     explained label over `logits`);
 *     outputs         each target's forward value, `grad_inputs_embeds` (∂ Σ cotangent·target /
 *                     ∂ inputs_embeds, shaped like inputs_embeds), then `attentions.N` (layer N's
 *                     attention probabilities, batch × heads × seq × seq) and `grad_attentions.N`
 *                     (their cotangents), for every layer, only the last, or none (`attentions`);
 *     embeddingTable  the word-embedding matrix (rows × hidden) the lookup read; feeding
 *                     `embeddingRows(table, ids)` as inputs_embeds reproduces the original model.
 *   Targets default to every float output (QA: start_logits and end_logits, so a span target is
 *   a pair of one-hot cotangents). Batch size and sequence length stay dynamic.
 *   GradientModelCache (./cache.ts): build once per model, in memory and on disk keyed by the
 *   model file's sha256.
 *
 * Operators with rules (./rules): MatMul, Gemm, Add, Sub, Mul, Div, Sum, Neg, Pow, Sqrt,
 * Reciprocal, Exp, Log, Erf, Gelu, Tanh, Sigmoid, Relu, Softmax, LogSoftmax, LayerNormalization,
 * Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Concat, Split, Gather (data), Slice,
 * Where, Cast, ReduceSum, ReduceMean, Identity, Dropout; shape/compare/index operators carry no
 * gradient. Opset 11 or newer, FLOAT or DOUBLE weights.
 *
 * Errors: UnsupportedOperatorError (an operator on the path has no rule, e.g. the fused
 * com.microsoft Attention / SkipLayerNormalization / FastGelu of ORT-optimised exports: use an
 * unoptimised export), GradientGraphError (no word-embedding lookup, old opset, ...). Both mean
 * "no gradients for this model"; predictions are unaffected.
 *
 * Cost (MiniLM-sized BERT, 91 MB): about 0.9 s to build, of which ~0.5 s is synchronous JS in
 * three pieces of up to ~0.2 s (copying the table, encoding the probe model, encoding the
 * result): build it off the main thread (in the session worker). A forward+gradient run costs
 * 2.3–2.9 forward passes.
 */
import { DataType, decodeModel, encodeModel, valueInfo, type ModelProto } from "../graph-io.ts";
import { differentiate, tensorFacts, type DifferentiateRequest, type Differentiated } from "./differentiate.ts";
import { INPUTS_EMBEDS, replaceWordEmbeddings, type EmbeddingTable } from "./embeds-surgery.ts";
import { GradientGraphError } from "./errors.ts";
import { probeShapes } from "./shape-probe.ts";

export { embeddingRows, INPUTS_EMBEDS, type EmbeddingTable } from "./embeds-surgery.ts";
export { UnsupportedOperatorError, GradientGraphError } from "./errors.ts";
export { cotangentInputName } from "./differentiate.ts";

export const GRAD_INPUTS_EMBEDS = "grad_inputs_embeds";
export const attentionOutput = (layer: number) => `attentions.${layer}`;
export const attentionGradOutput = (layer: number) => `grad_attentions.${layer}`;

export interface GradientModelOptions {
  /** Outputs to differentiate (default: every float output). */
  targets?: string[];
  /**
   * Which layers get attentions.N / grad_attentions.N outputs (default "all"). "last" suits
   * scaled_attention and saves output copies (measured up to ~25% of a run at 128 tokens).
   */
  attentions?: "all" | "last" | "none";
}

export interface GradientModel {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  targets: string[];
  embeddingTable: EmbeddingTable;
  /** Whether `input_ids` is still an input (fed alongside inputs_embeds). */
  keepsInputIds: boolean;
  /** Number of attention layers found (attentions.0 .. attentions.{n-1}), whether exposed or not. */
  attentionLayers: number;
  /** Milliseconds spent in each build step. */
  timings: { decode: number; surgery: number; probe: number; differentiate: number; encode: number };
}

const FLOAT_OUTPUT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE]);

export async function buildGradientModel(modelBytes: Uint8Array, options: GradientModelOptions = {}): Promise<GradientModel> {
  const clock = stopwatch();
  const model = decodeModel(modelBytes);
  const decode = clock();
  const outputInfos = new Map(model.graph.output.map((o) => [o.name, o]));
  const targets = options.targets ?? model.graph.output.filter((o) => FLOAT_OUTPUT_TYPES.has(o.type?.tensorType?.elemType ?? 0)).map((o) => o.name);
  for (const t of targets) if (!outputInfos.has(t)) throw new GradientGraphError(`the model has no output ${t}`);
  if (targets.length === 0) throw new GradientGraphError("the model has no float output to differentiate");

  const surgery = replaceWordEmbeddings(model);
  const surgeryMs = clock();
  const layers = exposedLayers(surgery.attentions.length, options.attentions ?? "all");
  const watch = layers.map((l) => surgery.attentions[l]);
  const { result, probeMs } = await appendBackwardPass(model, { wrt: INPUTS_EMBEDS, targets, watch }, Math.min(surgery.table.rows - 1, 7));
  const gradIds = exposeOutputs(model, targets, result.gradWrt, layers, watch, result.gradWatched, surgery.elemType);
  const differentiateMs = clock();
  const bytes = encodeModel(model);
  return {
    bytes,
    inputs: model.graph.input.map((i) => i.name),
    outputs: gradIds,
    targets,
    embeddingTable: surgery.table,
    keepsInputIds: surgery.keepsInputIds,
    attentionLayers: surgery.attentions.length,
    timings: { decode, surgery: surgeryMs, probe: probeMs, differentiate: Math.round((differentiateMs - probeMs) * 10) / 10, encode: clock() },
  };
}

/**
 * Probes the graph's shapes and appends its backward pass (mutates `model`; outputs untouched).
 * The building block of buildGradientModel, usable on any graph with a float input `wrt`.
 */
export async function appendBackwardPass(model: ModelProto, request: DifferentiateRequest, tokenId = 0): Promise<{ result: Differentiated; probeMs: number }> {
  const started = performance.now();
  const probe = await probeShapes(model, tokenId);
  const probeMs = Math.round((performance.now() - started) * 10) / 10;
  return { result: differentiate(model, tensorFacts(model, probe.tensors), request), probeMs };
}

function exposedLayers(count: number, which: "all" | "last" | "none"): number[] {
  if (which === "none" || count === 0) return [];
  return which === "last" ? [count - 1] : [...Array(count).keys()];
}

/** Sets the graph's outputs: targets, grad_inputs_embeds, attentions.N, grad_attentions.N. Returns their names. */
function exposeOutputs(
  model: ModelProto, targets: string[], gradWrt: string, layers: number[], attentions: string[], gradAttentions: string[], elemType: number,
): string[] {
  const graph = model.graph;
  const kept = targets.map((t) => graph.output.find((o) => o.name === t)!);
  const embeds = graph.input.find((i) => i.name === INPUTS_EMBEDS)!;
  const dims = embeds.type!.tensorType!.shape!.dim!;
  const [batch, sequence] = [dims[0].dimParam ?? "batch_size", dims[1].dimParam ?? "sequence_length"];
  const added = [
    { name: GRAD_INPUTS_EMBEDS, source: gradWrt, dims: dims.map((d) => d.dimValue ?? d.dimParam ?? "?") },
    ...attentions.map((source, k) => ({ name: attentionOutput(layers[k]), source, dims: [batch, "heads", sequence, sequence] })),
    ...gradAttentions.map((source, k) => ({ name: attentionGradOutput(layers[k]), source, dims: [batch, "heads", sequence, sequence] })),
  ];
  for (const a of added) graph.node.push({ opType: "Identity", input: [a.source], output: [a.name], name: `/gradients/${a.name}` });
  graph.output = [...kept, ...added.map((a) => valueInfo(a.name, elemType, a.dims))];
  return graph.output.map((o) => o.name);
}

function stopwatch(): () => number {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const ms = now - last;
    last = now;
    return Math.round(ms * 10) / 10;
  };
}
