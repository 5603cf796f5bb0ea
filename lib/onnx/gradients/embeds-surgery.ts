/**
 * Surgery that lets a gradient flow to the word embeddings: the word-embedding lookup
 * `Gather(table, input_ids)` is replaced by a new graph input `inputs_embeds` (batch, sequence,
 * hidden). `input_ids` stays an input only when other nodes still read it (BERT's Shape for
 * position ids, RoBERTa's position ids computed from the ids); the table stays only when other
 * nodes read it. Returns the table so callers can look up embeddings (ids → rows) themselves.
 *
 * Separate from ../graph-surgery.ts (attention/hidden-state outputs); it reuses that file's
 * structural match for attention probabilities so `attentions.N` means the same layer in both.
 */
import { DataType, tensorFloats, makeNode, valueInfo, type ModelProto, type NodeProto, type TensorProto } from "../graph-io.ts";
import { findAttentionSoftmaxes, GraphIndex } from "../graph-surgery.ts";
import { GradientGraphError } from "./errors.ts";

export const INPUTS_EMBEDS = "inputs_embeds";
const INPUT_IDS = "input_ids";

export interface EmbeddingTable {
  /** The initializer's name in the original model. */
  name: string;
  rows: number;
  hidden: number;
  /** Row-major rows × hidden values. */
  data: Float32Array | Float64Array;
}

export interface EmbedsSurgery {
  /** The edited model (the input object, mutated). */
  model: ModelProto;
  table: EmbeddingTable;
  /** Element type of the embeddings (FLOAT or DOUBLE). */
  elemType: number;
  /** Whether the edited graph still reads `input_ids`. */
  keepsInputIds: boolean;
  /** Attention-probability tensors, one per layer in graph order. */
  attentions: string[];
}

/** The indices tensor, looking through Casts (some exports cast ids to int32 first). */
function indicesSource(index: GraphIndex, tensor: string): string {
  const node = index.producer.get(tensor);
  return node?.opType === "Cast" ? indicesSource(index, node.input[0]) : tensor;
}

function findWordEmbeddingGather(model: ModelProto, index: GraphIndex): NodeProto {
  const tables = new Map(model.graph.initializer.map((t) => [t.name ?? "", t]));
  const candidates = model.graph.node.filter((n) => {
    if (n.opType !== "Gather" || (n.attribute?.find((a) => a.name === "axis")?.i ?? 0) !== 0) return false;
    const table = tables.get(n.input[0]);
    return table !== undefined && table.dims.length === 2 && indicesSource(index, n.input[1]) === INPUT_IDS;
  });
  if (candidates.length !== 1) {
    throw new GradientGraphError(
      candidates.length === 0 ? "no word-embedding lookup Gather(table, input_ids) was found" : `${candidates.length} Gathers read input_ids; the word-embedding lookup is ambiguous`,
    );
  }
  return candidates[0];
}

function tableValues(t: TensorProto): Float32Array | Float64Array {
  if (t.dataLocation === 1 || t.externalData?.length) throw new GradientGraphError(`embedding table ${t.name} is stored as external data, which is not supported`);
  if (t.dataType === DataType.FLOAT) return tensorFloats(t);
  if (t.dataType === DataType.DOUBLE) {
    if (t.rawData?.length) return new Float64Array(new Uint8Array(t.rawData).buffer);
    return Float64Array.from(t.doubleData ?? []);
  }
  throw new GradientGraphError(`embedding table ${t.name} has element type ${t.dataType}; gradients need FLOAT or DOUBLE`);
}

/** Replaces the word-embedding lookup by the `inputs_embeds` input. Mutates `model`. */
export function replaceWordEmbeddings(model: ModelProto): EmbedsSurgery {
  const graph = model.graph;
  const index = new GraphIndex(model);
  const gather = findWordEmbeddingGather(model, index);
  const tensor = graph.initializer.find((t) => t.name === gather.input[0])!;
  const table: EmbeddingTable = { name: tensor.name!, rows: Number(tensor.dims[0]), hidden: Number(tensor.dims[1]), data: tableValues(tensor) };
  const attentions = findAttentionSoftmaxes(index).map((n) => n.output[0]);

  // An Identity keeps the lookup's output name, so every consumer reads inputs_embeds unchanged.
  graph.node[graph.node.indexOf(gather)] = makeNode("Identity", [INPUTS_EMBEDS], [gather.output[0]], [], "/gradients/inputs_embeds");

  const stillRead = (name: string) => graph.node.some((n) => n.input.includes(name)) || graph.output.some((o) => o.name === name);
  const keepsInputIds = stillRead(INPUT_IDS);
  if (!stillRead(table.name)) graph.initializer = graph.initializer.filter((t) => t !== tensor);
  const ids = graph.input.find((i) => i.name === INPUT_IDS);
  const dims = ids?.type?.tensorType?.shape?.dim ?? [];
  const embeds = valueInfo(INPUTS_EMBEDS, tensor.dataType, [dims[0]?.dimParam ?? dims[0]?.dimValue ?? "batch_size", dims[1]?.dimParam ?? dims[1]?.dimValue ?? "sequence_length", table.hidden]);
  const at = graph.input.findIndex((i) => i.name === INPUT_IDS);
  graph.input.splice(at, keepsInputIds ? 0 : 1, embeds);
  return { model, table, elemType: tensor.dataType, keepsInputIds, attentions };
}

/** Rows of `ids` from the table, as one tokens × hidden array. */
export function embeddingRows(table: EmbeddingTable, ids: ArrayLike<number | bigint>): Float32Array {
  const out = new Float32Array(ids.length * table.hidden);
  for (let i = 0; i < ids.length; i++) {
    const id = Number(ids[i]);
    if (!(id >= 0 && id < table.rows)) throw new RangeError(`token id ${id} is outside the embedding table (${table.rows} rows)`);
    out.set(table.data.subarray(id * table.hidden, (id + 1) * table.hidden), i * table.hidden);
  }
  return out;
}
