/**
 * Reading and writing ONNX models (protobufjs + the schema subset in ./onnx.proto), with small
 * typed helpers to make tensors, value infos, attributes and nodes. Kept generic: the fixture
 * builder writes models with it and graph surgery reads, edits and re-writes them.
 *
 * Objects use protobufjs' camelCase field names (`opType`, `rawData`, `dimParam`, ...).
 * int64 fields are plain numbers: exact up to 2^53; INT64_MAX / INT64_MIN (common as Slice ends)
 * survive a decode/encode round trip because protobufjs saturates them back on encode.
 */
import protobuf from "protobufjs";
import { endianness } from "node:os";
import { fileURLToPath } from "node:url";

/** TensorProto.DataType values. */
export const DataType = Object.freeze({
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7,
  STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16,
});
/** AttributeProto.AttributeType values. */
export const AttributeType = Object.freeze({
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10,
});

export interface StringStringEntry { key: string; value: string }

export interface TensorProto {
  name?: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  externalData?: StringStringEntry[];
  dataLocation?: number;
  docString?: string;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  docString?: string;
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeProto[];
  docString?: string;
}

export interface Dimension { dimValue?: number; dimParam?: string; denotation?: string }
export interface TensorShapeProto { dim?: Dimension[] }
export interface TypeProto { tensorType?: { elemType: number; shape?: TensorShapeProto }; denotation?: string }
export interface ValueInfoProto { name: string; type?: TypeProto; docString?: string }

export interface GraphProto {
  name?: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  docString?: string;
}

export interface OperatorSetId { domain?: string; version: number }

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: GraphProto;
  metadataProps?: StringStringEntry[];
}

const root = protobuf.loadSync(fileURLToPath(new URL("./onnx.proto", import.meta.url)));
const ModelType = root.lookupType("onnx.ModelProto");

/** Serializes a model. Deterministic: the same object always gives the same bytes. */
export function encodeModel(model: ModelProto): Uint8Array {
  return ModelType.encode(ModelType.fromObject(model as unknown as Record<string, unknown>)).finish();
}

/**
 * Parses a model. Repeated fields are always arrays (possibly empty); absent optional fields are
 * absent. `rawData` may be a view into `bytes` (not copied).
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const message = ModelType.decode(bytes);
  const model = ModelType.toObject(message, { longs: Number, arrays: true, defaults: false }) as unknown as ModelProto;
  model.graph ??= { node: [], initializer: [], input: [], output: [] };
  return model;
}

// ---------------------------------------------------------------------------------------------
// Tensors. raw_data is little-endian by the ONNX spec.

const LITTLE_ENDIAN = endianness() === "LE";

function littleEndianBytes(view: Float32Array | BigInt64Array | Float64Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes);
  const w = view.BYTES_PER_ELEMENT;
  for (let i = 0; i < out.length; i += w) out.subarray(i, i + w).reverse();
  return out;
}

/** Aligned, host-endian copy of raw little-endian bytes. */
function hostBytes(raw: Uint8Array, width: number): ArrayBuffer {
  const copy = new Uint8Array(raw); // copy also fixes alignment of views into a larger buffer
  if (!LITTLE_ENDIAN) for (let i = 0; i < copy.length; i += width) copy.subarray(i, i + width).reverse();
  return copy.buffer;
}

const count = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

function checkCount(name: string, dims: number[], n: number): void {
  if (count(dims) !== n) throw new Error(`tensor ${name}: ${n} values for dims [${dims.join(", ")}]`);
}

/** A float32 tensor (raw_data). `dims: []` makes a scalar. */
export function floatTensor(name: string, dims: number[], values: Float32Array | readonly number[]): TensorProto {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  checkCount(name, dims, data.length);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: littleEndianBytes(data) };
}

/** An int64 tensor (raw_data). `dims: []` makes a scalar. */
export function int64Tensor(name: string, dims: number[], values: BigInt64Array | readonly (number | bigint)[]): TensorProto {
  const data = values instanceof BigInt64Array ? values : BigInt64Array.from(values, (v) => BigInt(v));
  checkCount(name, dims, data.length);
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: littleEndianBytes(data) };
}

/** Float32 values of a FLOAT tensor, whichever field holds them (external data is not resolved). */
export function tensorFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name}: data type ${t.dataType} is not FLOAT`);
  if (t.rawData && t.rawData.length) return new Float32Array(hostBytes(t.rawData, 4));
  return Float32Array.from(t.floatData ?? []);
}

/** Int64 values of an INT64 tensor, whichever field holds them. */
export function tensorInt64s(t: TensorProto): BigInt64Array {
  if (t.dataType !== DataType.INT64) throw new Error(`tensor ${t.name}: data type ${t.dataType} is not INT64`);
  if (t.rawData && t.rawData.length) return new BigInt64Array(hostBytes(t.rawData, 8));
  return BigInt64Array.from(t.int64Data ?? [], (v) => BigInt(v));
}

// ---------------------------------------------------------------------------------------------
// Value infos, attributes, nodes.

/** A tensor value info; numbers are fixed dims, strings symbolic ones ("batch_size"). */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): ValueInfoProto {
  const dim = dims.map((d): Dimension => (typeof d === "number" ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** The dims of a tensor value info: numbers, symbolic names, or null when unknown. */
export function valueInfoDims(info: ValueInfoProto): (number | string | null)[] | undefined {
  return info.type?.tensorType?.shape?.dim?.map((d) => d.dimValue ?? d.dimParam ?? null);
}

export const intAttr = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
export const floatAttr = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f });
export const stringAttr = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) });
export const intsAttr = (name: string, ints: readonly number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: [...ints] });
export const floatsAttr = (name: string, floats: readonly number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, floats: [...floats] });
export const tensorAttr = (name: string, t: TensorProto): AttributeProto => ({ name, type: AttributeType.TENSOR, t });

/** A node in the default (ai.onnx) domain unless `domain` is given. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: readonly AttributeProto[] = [],
  name?: string,
  domain?: string,
): NodeProto {
  const node: NodeProto = { opType, input: [...inputs], output: [...outputs] };
  if (name !== undefined) node.name = name;
  if (domain) node.domain = domain;
  if (attributes.length) node.attribute = [...attributes];
  return node;
}

/** The named attribute of a node, if present. */
export const getAttribute = (node: NodeProto, name: string): AttributeProto | undefined => node.attribute?.find((a) => a.name === name);
