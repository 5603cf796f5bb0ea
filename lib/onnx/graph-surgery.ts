/**
 * Graph surgery for `model_kwargs.output_attentions` / `output_hidden_states` (SPEC §3): find, in
 * an encoder's ONNX graph, each layer's attention probabilities and the hidden states between
 * layers, and expose them as extra graph outputs `attentions.0..L-1` and `hidden_states.0..L`
 * (the Hugging Face `attentions` / `hidden_states` tuples).
 *
 * Matching is structural, never by node or tensor name, so it works on our fixtures and on
 * `torch.onnx.export` / Optimum exports of post-LayerNorm encoders (BERT, RoBERTa, DistilBERT):
 *  - attention probabilities: a Softmax over the last axis whose result is the left operand of a
 *    MatMul (probs · V), possibly through Cast/Dropout/Identity; one per layer, in graph order;
 *  - LayerNorm: a LayerNormalization node, or its decomposition
 *    ReduceMean → Sub → Pow|Mul → ReduceMean → Add(eps) → Sqrt → Div [→ Mul(γ)] [→ Add(β)];
 *  - hidden states: the residual stream. hidden_states.0 is the last LayerNorm feeding the first
 *    Softmax; from there each step goes LayerNorm → residual Add → next LayerNorm. hidden_states.l
 *    is the last stream LayerNorm before layer l's Softmax, hidden_states.L the stream's end. The
 *    number of stream LayerNorms per layer must be the same in every layer.
 * Anything else (pre-LN models, fused Attention ops, no Softmax) is "not recognised": callers
 * leave the graph untouched.
 */
import { DataType, getAttribute, makeNode, valueInfo, type ModelProto, type NodeProto, type ValueInfoProto } from "./graph-io.ts";

export interface ExtraOutputPlan {
  /** Graph tensors holding each layer's attention probabilities (batch, heads, seq, seq). */
  attentions: string[];
  /** Graph tensors holding the embedding output and each layer's output (batch, seq, hidden). */
  hiddenStates: string[];
  /** ONNX element type of these tensors. */
  elemType: number;
  /** Hidden size when the LayerNorm weights tell it. */
  hiddenSize?: number;
}

export type ExtraOutputAnalysis = { ok: true; plan: ExtraOutputPlan } | { ok: false; reason: string };

export const attentionOutputName = (layer: number) => `attentions.${layer}`;
export const hiddenStateOutputName = (index: number) => `hidden_states.${index}`;

/** Ops that pass a tensor through unchanged in an inference graph. */
const PASS_THROUGH = new Set(["Identity", "Dropout", "Cast"]);

/** Producer, consumers and topological position of every tensor / node. */
export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly position = new Map<NodeProto, number>();
  readonly initializers: Map<string, { dims: number[]; dataType: number }>;

  constructor(readonly model: ModelProto) {
    model.graph.node.forEach((node, i) => {
      this.position.set(node, i);
      for (const out of node.output) this.producer.set(out, node);
      for (const input of node.input) if (input) (this.consumers.get(input) ?? this.consumers.set(input, []).get(input)!).push(node);
    });
    this.initializers = new Map(model.graph.initializer.map((t) => [t.name ?? "", { dims: t.dims.map(Number), dataType: t.dataType }]));
  }

  /** Consumers of `tensor`, looking through pass-through ops. */
  usersOf(tensor: string): NodeProto[] {
    return (this.consumers.get(tensor) ?? []).flatMap((n) => (PASS_THROUGH.has(n.opType) ? this.usersOf(n.output[0]) : [n]));
  }

  /** The only user of `tensor` with this op type, if exactly one exists. */
  soleUser(tensor: string, opType: string): NodeProto | undefined {
    const users = this.usersOf(tensor).filter((n) => n.opType === opType);
    return users.length === 1 ? users[0] : undefined;
  }

  /** The node producing `tensor`, looking through pass-through ops. */
  sourceOf(tensor: string): NodeProto | undefined {
    const node = this.producer.get(tensor);
    return node && PASS_THROUGH.has(node.opType) ? this.sourceOf(node.input[0]) : node;
  }

  /** Every tensor `node` depends on (its inputs, their producers' inputs, ...). */
  ancestorTensors(node: NodeProto): Set<string> {
    const seen = new Set<string>();
    const stack = [...node.input];
    while (stack.length) {
      const t = stack.pop()!;
      if (!t || seen.has(t)) continue;
      seen.add(t);
      const p = this.producer.get(t);
      if (p) stack.push(...p.input);
    }
    return seen;
  }

  opsetVersion(): number {
    return this.model.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx")?.version ?? 0;
  }
}

/** A LayerNorm found in the graph: where it reads, what it writes, its node position. */
export interface LayerNormMatch {
  input: string;
  output: string;
  position: number;
  gamma?: string;
}

/** Softmax nodes over the last axis that weight a MatMul: attention probabilities. */
export function findAttentionSoftmaxes(index: GraphIndex): NodeProto[] {
  const lastAxis = (n: NodeProto) => {
    const axis = getAttribute(n, "axis")?.i;
    return axis === undefined ? index.opsetVersion() >= 13 : axis === -1 || axis === 3;
  };
  return index.model.graph.node.filter(
    (n) => n.opType === "Softmax" && lastAxis(n) && index.usersOf(n.output[0]).some((u) => u.opType === "MatMul" && index.sourceOf(u.input[0]) === n),
  );
}

/** LayerNormalization nodes and decomposed LayerNorms, in graph order. */
export function findLayerNorms(index: GraphIndex): LayerNormMatch[] {
  const found: LayerNormMatch[] = [];
  for (const node of index.model.graph.node) {
    if (node.opType === "LayerNormalization") found.push({ input: node.input[0], output: node.output[0], position: index.position.get(node)!, gamma: node.input[1] });
    else if (node.opType === "ReduceMean") {
      const m = matchDecomposedLayerNorm(index, node);
      if (m) found.push(m);
    }
  }
  return found.sort((a, b) => a.position - b.position);
}

/** mean = ReduceMean(x) → d = Sub(x, mean) → Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps))) [→ Mul γ] [→ Add β]. */
function matchDecomposedLayerNorm(index: GraphIndex, mean: NodeProto): LayerNormMatch | undefined {
  const x = mean.input[0];
  const sub = index.usersOf(mean.output[0]).find((n) => n.opType === "Sub" && n.input[0] === x);
  if (!sub) return undefined;
  const d = sub.output[0];
  const div = index.usersOf(d).find((n) => n.opType === "Div" && n.input[0] === d);
  if (!div || !isStdOf(index, div.input[1], d)) return undefined;
  let output = div.output[0];
  let gamma: string | undefined;
  const constOperand = (n: NodeProto, t: string) => n.input.find((i) => i !== t && (index.initializers.has(i) || index.producer.get(i)?.opType === "Constant"));
  const scale = index.usersOf(output).length === 1 ? index.soleUser(output, "Mul") : undefined;
  if (scale && constOperand(scale, output)) {
    gamma = constOperand(scale, output);
    output = scale.output[0];
  }
  const shift = index.usersOf(output).length === 1 ? index.soleUser(output, "Add") : undefined;
  if (shift && constOperand(shift, output)) output = shift.output[0];
  return { input: x, output, position: index.position.get(index.producer.get(output)!)!, gamma };
}

/** `std` = Sqrt(Add(ReduceMean(Pow(d, 2) or Mul(d, d)), eps)). */
function isStdOf(index: GraphIndex, std: string, d: string): boolean {
  const sqrt = index.sourceOf(std);
  const addEps = sqrt?.opType === "Sqrt" ? index.sourceOf(sqrt.input[0]) : undefined;
  if (addEps?.opType !== "Add") return false;
  const variance = addEps.input.map((i) => index.sourceOf(i)).find((n) => n?.opType === "ReduceMean");
  const square = variance && index.sourceOf(variance.input[0]);
  if (!square) return false;
  return (square.opType === "Pow" && square.input[0] === d) || (square.opType === "Mul" && square.input[0] === d && square.input[1] === d);
}

/** The LayerNorm that reads `residual + from`: the next step along the residual stream. */
function nextOnStream(index: GraphIndex, from: LayerNormMatch, norms: LayerNormMatch[]): LayerNormMatch | "ambiguous" | undefined {
  const adds = index.usersOf(from.output).filter((n) => n.opType === "Add");
  const next = norms.filter((ln) => ln.position > from.position && adds.some((a) => sourceIs(index, ln.input, a)));
  return next.length > 1 ? "ambiguous" : next[0];
}

const sourceIs = (index: GraphIndex, tensor: string, node: NodeProto) => index.sourceOf(tensor) === node;

/** Finds the attention and hidden-state tensors, or says why the graph is not recognised. */
export function analyseExtraOutputs(model: ModelProto): ExtraOutputAnalysis {
  const index = new GraphIndex(model);
  const softmaxes = findAttentionSoftmaxes(index);
  if (softmaxes.length === 0) return { ok: false, reason: "no attention Softmax feeding a MatMul was found" };
  const norms = findLayerNorms(index);
  const firstInputs = index.ancestorTensors(softmaxes[0]);
  const embedding = norms.filter((ln) => ln.position < index.position.get(softmaxes[0])! && firstInputs.has(ln.output)).at(-1);
  if (!embedding) return { ok: false, reason: "no LayerNorm feeds the first attention layer (not a post-LayerNorm encoder)" };

  const stream: LayerNormMatch[] = [embedding];
  for (;;) {
    const next = nextOnStream(index, stream.at(-1)!, norms);
    if (next === "ambiguous") return { ok: false, reason: "the residual stream branches into several LayerNorms" };
    if (!next) break;
    stream.push(next);
  }

  const hidden: LayerNormMatch[] = [embedding];
  for (let l = 1; l < softmaxes.length; l++) {
    const at = index.position.get(softmaxes[l])!;
    const h = stream.filter((ln) => ln.position < at).at(-1)!;
    if (h === hidden.at(-1) || !index.ancestorTensors(softmaxes[l]).has(h.output)) return { ok: false, reason: `layer ${l}'s attention does not read the residual stream` };
    hidden.push(h);
  }
  const last = stream.at(-1)!;
  if (last.position < index.position.get(softmaxes.at(-1)!)!) return { ok: false, reason: "no LayerNorm follows the last attention layer" };
  hidden.push(last);

  const steps = hidden.slice(1).map((h, l) => stream.indexOf(h) - stream.indexOf(hidden[l]));
  if (steps.some((s) => s !== steps[0])) return { ok: false, reason: `layers have different numbers of LayerNorms (${steps.join(", ")})` };

  const gamma = index.initializers.get(embedding.gamma ?? "");
  const width = gamma?.dims.length === 1 ? gamma.dims[0] : undefined;
  return {
    ok: true,
    plan: { attentions: softmaxes.map((s) => s.output[0]), hiddenStates: hidden.map((h) => h.output), elemType: gamma?.dataType ?? DataType.FLOAT, hiddenSize: width },
  };
}

/** The value infos of the extra outputs, with the batch and sequence dims of `input_ids`. */
export function extraOutputInfos(model: ModelProto, plan: ExtraOutputPlan): ValueInfoProto[] {
  const ids = model.graph.input.find((i) => i.name === "input_ids")?.type?.tensorType?.shape?.dim ?? [];
  const batch = ids[0]?.dimParam ?? "batch_size";
  const sequence = ids[1]?.dimParam ?? "sequence_length";
  return [
    ...plan.attentions.map((_, l) => valueInfo(attentionOutputName(l), plan.elemType, [batch, "num_attention_heads", sequence, sequence])),
    ...plan.hiddenStates.map((_, i) => valueInfo(hiddenStateOutputName(i), plan.elemType, [batch, sequence, plan.hiddenSize ?? "hidden_size"])),
  ];
}

/** Adds the planned tensors as graph outputs (through Identity nodes, so existing outputs keep their names). Mutates `model`. */
export function addExtraOutputs(model: ModelProto, plan: ExtraOutputPlan): ModelProto {
  const infos = extraOutputInfos(model, plan);
  const sources = [...plan.attentions, ...plan.hiddenStates];
  infos.forEach((info, k) => model.graph.node.push(makeNode("Identity", [sources[k]], [info.name], [], `/extra_outputs/${info.name}`)));
  model.graph.output.push(...infos);
  return model;
}

/** True when the export already has attention or hidden-state outputs: nothing to add. */
export const hasExtraOutputs = (model: ModelProto): boolean =>
  model.graph.output.some((o) => o.name.startsWith("attentions") || o.name.startsWith("hidden_states"));
