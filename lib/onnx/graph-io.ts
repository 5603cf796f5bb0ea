/**
 * Reading and writing ONNX models with protobufjs and lib/onnx/onnx.proto, plus small helpers
 * to make tensors, value infos and nodes. Used by the fixture builder and graph surgery.
 */
import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";

export const DATA_TYPE = Object.freeze({ FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 });
export const ATTRIBUTE_TYPE = Object.freeze({ FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 });

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int64Data?: (number | bigint)[];
}
export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
}
export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeProto[];
}
export type Dim = number | string;
export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType: number; shape?: { dim: { dimValue?: number; dimParam?: string }[] } } };
}
export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}
export interface ModelProto {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  graph: GraphProto;
}

const root = protobuf.loadSync(fileURLToPath(new URL("./onnx.proto", import.meta.url)));
const Model = root.lookupType("onnx.ModelProto");

export function encodeModel(model: ModelProto): Uint8Array {
  const message = Model.fromObject(model as unknown as Record<string, unknown>);
  return Model.encode(message).finish();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  const message = Model.decode(bytes);
  return Model.toObject(message, { longs: Number, bytes: Buffer, defaults: false, arrays: true }) as unknown as ModelProto;
}

export function floatTensor(name: string, dims: number[], values: Float32Array | number[]): TensorProto {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return { name, dims, dataType: DATA_TYPE.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int64Tensor(name: string, dims: number[], values: number[]): TensorProto {
  const data = BigInt64Array.from(values.map(BigInt));
  return { name, dims, dataType: DATA_TYPE.INT64, rawData: new Uint8Array(data.buffer) };
}

/** Float32 values of an initializer, whichever field holds them. */
export function tensorFloats(t: TensorProto): Float32Array {
  if (t.rawData && t.rawData.length) {
    const copy = new Uint8Array(t.rawData); // aligned copy
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

export function valueInfo(name: string, elemType: number, dims: Dim[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export const intAttr = (name: string, i: number): AttributeProto => ({ name, type: ATTRIBUTE_TYPE.INT, i });
export const floatAttr = (name: string, f: number): AttributeProto => ({ name, type: ATTRIBUTE_TYPE.FLOAT, f });
export const intsAttr = (name: string, ints: number[]): AttributeProto => ({ name, type: ATTRIBUTE_TYPE.INTS, ints });
