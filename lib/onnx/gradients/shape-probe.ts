/**
 * One run of the (surgered) forward graph with every intermediate tensor added as an output,
 * to learn each tensor's rank, dims and element type. The batch size and sequence length are
 * chosen to differ from 1, from each other and from every size written in the model, so a
 * dim of 1 in the probe is a true broadcast axis and never a batch of one.
 */
import ort from "onnxruntime-node";
import { DataType, encodeModel, tensorInt64s, type ModelProto } from "../graph-io.ts";
import { INPUTS_EMBEDS } from "./embeds-surgery.ts";

export interface ProbedTensor {
  dims: number[];
  elemType: number;
}

export interface ShapeProbe {
  batch: number;
  sequence: number;
  tensors: Map<string, ProbedTensor>;
}

const ELEM_TYPES: Record<string, number> = {
  float32: DataType.FLOAT, float64: DataType.DOUBLE, float16: DataType.FLOAT16, int64: DataType.INT64, int32: DataType.INT32,
  int8: DataType.INT8, uint8: DataType.UINT8, bool: DataType.BOOL,
};

/** Every size the model states: initializer dims and small int64 constants (reshape targets, ...). */
function sizesInModel(model: ModelProto): Set<number> {
  const sizes = new Set<number>();
  for (const t of model.graph.initializer) {
    t.dims.forEach((d) => sizes.add(Number(d)));
    if (t.dataType === DataType.INT64 && t.dims.reduce((a, b) => a * Number(b), 1) <= 16) tensorInt64s(t).forEach((v) => sizes.add(Math.abs(Number(v))));
  }
  for (const n of model.graph.node) {
    const t = n.opType === "Constant" ? n.attribute?.find((a) => a.name === "value")?.t : undefined;
    if (t?.dataType === DataType.INT64 && t.dims.reduce((a, b) => a * Number(b), 1) <= 16) tensorInt64s(t).forEach((v) => sizes.add(Math.abs(Number(v))));
  }
  return sizes;
}

/** The smallest of `candidates` not in `avoid`. */
function pick(candidates: number[], avoid: Set<number>): number {
  const found = candidates.find((c) => !avoid.has(c));
  if (found === undefined) throw new Error("no probe size differs from every size in the model");
  return found;
}

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47];

/** Runs the probe; `tokenId` fills input_ids (any id that is not padding). */
export async function probeShapes(model: ModelProto, tokenId: number): Promise<ShapeProbe> {
  const avoid = sizesInModel(model);
  avoid.add(1);
  const batch = pick(PRIMES, avoid);
  const sequence = pick(PRIMES.filter((p) => p >= 3), new Set([...avoid, batch]));

  const initializers = new Set(model.graph.initializer.map((t) => t.name));
  const tensors = new Map<string, ProbedTensor>();
  for (const t of model.graph.initializer) tensors.set(t.name!, { dims: t.dims.map(Number), elemType: t.dataType });

  const feeds: Record<string, ort.Tensor> = {};
  for (const input of model.graph.input) {
    if (initializers.has(input.name)) continue;
    const elemType = input.type?.tensorType?.elemType ?? DataType.FLOAT;
    const dims = (input.type?.tensorType?.shape?.dim ?? []).map((d, axis) => d.dimValue ?? (axis === 0 ? batch : sequence));
    const size = dims.reduce((a, b) => a * b, 1);
    const fill = input.name === INPUTS_EMBEDS ? Float64Array.from({ length: size }, (_, i) => Math.sin(i) * 0.1) : undefined;
    feeds[input.name] = probeFeed(input.name, elemType, dims, size, tokenId, fill);
    tensors.set(input.name, { dims, elemType });
  }

  const produced = [...new Set(model.graph.node.flatMap((n) => n.output).filter((o) => o && !tensors.has(o)))];
  const probeModel: ModelProto = { ...model, graph: { ...model.graph, output: produced.map((name) => ({ name })) } };
  const session = await ort.InferenceSession.create(encodeModel(probeModel), { graphOptimizationLevel: "disabled", intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const results = await session.run(feeds);
    for (const [name, t] of Object.entries(results)) tensors.set(name, { dims: [...t.dims], elemType: ELEM_TYPES[t.type] ?? DataType.UNDEFINED });
  } finally {
    await session.release();
  }
  return { batch, sequence, tensors };
}

function probeFeed(name: string, elemType: number, dims: number[], size: number, tokenId: number, fill?: Float64Array): ort.Tensor {
  switch (elemType) {
    case DataType.FLOAT: return new ort.Tensor("float32", fill ? Float32Array.from(fill) : new Float32Array(size).fill(1), dims);
    case DataType.DOUBLE: return new ort.Tensor("float64", fill ?? new Float64Array(size).fill(1), dims);
    case DataType.INT32: return new ort.Tensor("int32", new Int32Array(size).fill(name === "input_ids" ? tokenId : name === "attention_mask" ? 1 : 0), dims);
    case DataType.INT64: return new ort.Tensor("int64", new BigInt64Array(size).fill(BigInt(name === "input_ids" ? tokenId : name === "attention_mask" ? 1 : 0)), dims);
    default: throw new Error(`cannot make a probe value for input ${name} of element type ${elemType}`);
  }
}
