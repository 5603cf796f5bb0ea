/** A minimal n-dimensional array: C-order data plus a shape. The currency between ONNX Runtime and tasks. */
export type DType = "float32" | "float64" | "int32" | "int64";
export type TypedData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface NdArray {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function ndarray(dtype: DType, shape: number[], data?: TypedData): NdArray {
  const n = sizeOf(shape);
  const buf = data ?? allocate(dtype, n);
  if (buf.length !== n) throw new Error(`data has ${buf.length} elements, shape ${JSON.stringify(shape)} needs ${n}`);
  return { dtype, shape, data: buf };
}

function allocate(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case "float32": return new Float32Array(n);
    case "float64": return new Float64Array(n);
    case "int32": return new Int32Array(n);
    case "int64": return new BigInt64Array(n);
  }
}

export const float32 = (shape: number[], values?: ArrayLike<number>): NdArray =>
  ndarray("float32", shape, values ? Float32Array.from(values) : undefined);

/** Nested JSON lists of the array (int64 as numbers; ids never exceed 2^53). */
export function toNested(a: NdArray): unknown {
  const values = a.data instanceof BigInt64Array ? Array.from(a.data, Number) : Array.from(a.data as ArrayLike<number>);
  if (a.shape.length === 0) return values[0];
  const build = (axis: number, offset: number): unknown[] => {
    const len = a.shape[axis];
    const stride = sizeOf(a.shape.slice(axis + 1));
    const out = new Array(len);
    for (let i = 0; i < len; i++) out[i] = axis === a.shape.length - 1 ? values[offset + i] : build(axis + 1, offset + i * stride);
    return out;
  };
  return build(0, 0);
}

/** The sub-array at `index` along axis 0 (shares no memory with the source). */
export function row(a: NdArray, index: number): NdArray {
  const inner = a.shape.slice(1);
  const n = sizeOf(inner);
  return ndarray(a.dtype, inner, a.data.slice(index * n, (index + 1) * n) as TypedData);
}

/** Keep the first `length` entries of each of the given axes (used to drop padding). */
export function cropAxes(a: NdArray, axes: readonly number[], length: number): NdArray {
  if (axes.every((ax) => a.shape[ax] === length)) return a;
  return copyCorner(a, a.shape.map((d, ax) => (axes.includes(ax) ? Math.min(d, length) : d)));
}

/**
 * A new array of `shape` (same rank) holding the source's leading corner: the region of
 * min(source, target) size along every axis; the rest is zero. Crops and pads alike.
 */
function copyCorner(a: NdArray, shape: number[]): NdArray {
  const out = ndarray(a.dtype, shape);
  const region = shape.map((d, ax) => Math.min(d, a.shape[ax]));
  const regionStrides = strides(region);
  const srcStrides = strides(a.shape);
  const dstStrides = strides(shape);
  const total = sizeOf(region);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    let src = 0;
    let dst = 0;
    for (let ax = 0; ax < region.length; ax++) {
      const coord = Math.floor(rem / regionStrides[ax]);
      rem -= coord * regionStrides[ax];
      src += coord * srcStrides[ax];
      dst += coord * dstStrides[ax];
    }
    (out.data as Float32Array)[dst] = (a.data as Float32Array)[src];
  }
  return out;
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let ax = shape.length - 2; ax >= 0; ax--) s[ax] = s[ax + 1] * shape[ax + 1];
  return s;
}

/** Stack equally shaped arrays along a new axis 0. */
export function stack(items: readonly NdArray[]): NdArray {
  if (items.length === 0) throw new Error("cannot stack zero arrays");
  const first = items[0];
  const n = sizeOf(first.shape);
  const out = ndarray(first.dtype, [items.length, ...first.shape]);
  items.forEach((it, i) => {
    if (sizeOf(it.shape) !== n) throw new Error("cannot stack arrays of different shapes");
    (out.data as Float32Array).set(it.data as Float32Array, i * n);
  });
  return out;
}

/** Stack arrays of equal rank along a new axis 0, zero-padding every axis to the largest size. */
export function padStack(items: readonly NdArray[]): NdArray {
  if (items.length === 0) throw new Error("cannot stack zero arrays");
  const rank = items[0].shape.length;
  const maxShape = Array.from({ length: rank }, (_, ax) => Math.max(...items.map((it) => it.shape[ax])));
  const padded = items.map((it) => (it.shape.every((d, ax) => d === maxShape[ax]) ? it : copyCorner(it, maxShape)));
  return stack(padded);
}
