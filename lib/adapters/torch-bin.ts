/**
 * Reader of torch.save's zip format (torch ≥ 1.6; pytorch_adapter.bin, pytorch_model_head.bin): one root
 * folder holding data.pkl (the state dict, pickled) and data/<key> (each storage's raw little-endian bytes).
 * data.pkl goes through the restricted unpickler (pickle.ts) with only the globals torch.save uses for a
 * state dict of tensors; each tensor is rebuilt from its storage with its offset, size and stride.
 * The legacy (pre-1.6) format is refused.
 */
import { AdapterError } from "./errors.ts";
import { PickleGlobal, PickleTuple, unpickle } from "./pickle.ts";
import { DTYPE_BYTES, elementCount, elementReader } from "./tensor.ts";
import type { StoredDtype, WeightTensor } from "./tensor.ts";
import { isZip, readZip } from "./zip.ts";

/** Storage classes torch.save names, and the dtype of each (null: allowlisted but not a float adapter weight). */
const STORAGES: Record<string, StoredDtype | null> = {
  "torch.FloatStorage": "float32",
  "torch.HalfStorage": "float16",
  "torch.BFloat16Storage": "bfloat16",
  "torch.DoubleStorage": "float64",
  "torch.LongStorage": null,
  "torch.IntStorage": null,
  "torch.ShortStorage": null,
  "torch.CharStorage": null,
  "torch.ByteStorage": null,
  "torch.BoolStorage": null,
};

/** Every global a torch.save state-dict pickle may name; anything else is refused by name. */
export const TORCH_PICKLE_GLOBALS: readonly string[] = Object.freeze([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  ...Object.keys(STORAGES),
]);

interface StorageRef {
  readonly kind: "storage";
  readonly dtype: StoredDtype;
  readonly key: string;
  readonly numel: number;
  readonly bytes: Uint8Array;
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Reads a torch.save zip archive of a flat state dict: tensor name → tensor. */
export function readTorchBin(bytes: Uint8Array, file = "torch file"): Map<string, WeightTensor> {
  if (!isZip(bytes)) {
    const legacy = bytes.byteLength >= 2 && bytes[0] === 0x80 && bytes[1] === 0x02;
    throw new AdapterError(`${file}: not a torch zip archive${legacy ? " (a legacy pre-1.6 torch.save pickle, which is not supported: re-save it with torch ≥ 1.6)" : ""}`);
  }
  const entries = readZip(bytes, file);
  const pkl = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pkl.length !== 1) throw new AdapterError(`${file}: expected one <root>/data.pkl entry, found ${pkl.length}`);
  const root = pkl[0].slice(0, -"data.pkl".length);
  const order = entries.get(`${root}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(order()).trim();
    if (text !== "little") throw new AdapterError(`${file}: byteorder ${text} is not supported`, "byteorder");
  }
  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const items = pid instanceof PickleTuple ? pid.items : [];
    const [tag, type, key, , numel] = items;
    if (items.length !== 5 || tag !== "storage" || !(type instanceof PickleGlobal) || typeof key !== "string" || !isInt(numel)) {
      throw new AdapterError(`${file}: persistent id is not a torch storage reference`);
    }
    const dtype = STORAGES[type.name];
    if (!dtype) throw new AdapterError(`${file}: storage ${key} is a ${type.name}; adapter weights must be float32, float16, bfloat16 or float64`, type.name);
    const cached = storages.get(key);
    if (cached) return cached;
    const entry = entries.get(`${root}data/${key}`);
    if (!entry) throw new AdapterError(`${file}: storage ${key} has no ${root}data/${key} entry`, key);
    const data = entry();
    if (data.byteLength < numel * DTYPE_BYTES[dtype]) throw new AdapterError(`${file}: storage ${key} has ${data.byteLength} bytes for ${numel} ${dtype} elements`, key);
    const ref: StorageRef = { kind: "storage", dtype, key, numel, bytes: data };
    storages.set(key, ref);
    return ref;
  };
  const rebuildTensor = (args: readonly unknown[]): WeightTensor => {
    const [storage, offset, size, stride] = args;
    if (args.length < 4 || (storage as StorageRef)?.kind !== "storage") throw new AdapterError(`${file}: _rebuild_tensor_v2 without a storage`);
    const sizes = size instanceof PickleTuple ? size.items : undefined;
    const strides = stride instanceof PickleTuple ? stride.items : undefined;
    if (!isInt(offset) || !sizes?.every(isInt) || !strides?.every(isInt) || sizes.length !== strides.length) {
      throw new AdapterError(`${file}: _rebuild_tensor_v2 with a bad offset, size or stride`);
    }
    return gather(storage as StorageRef, offset, sizes as number[], strides as number[], file);
  };
  const asTensor = (value: unknown, what: string): WeightTensor => {
    if (!(value && typeof value === "object" && "data" in value && (value as WeightTensor).data instanceof Float32Array)) {
      throw new AdapterError(`${file}: ${what} is not a tensor`);
    }
    return value as WeightTensor;
  };
  const result = unpickle(entries.get(pkl[0])!(), {
    file: `${file} (data.pkl)`,
    persistentLoad,
    values: Object.keys(STORAGES),
    callables: {
      "collections.OrderedDict": (args) => {
        if (args.length === 0) return new Map();
        throw new AdapterError(`${file}: OrderedDict called with arguments`, "collections.OrderedDict");
      },
      "torch._utils._rebuild_tensor_v2": rebuildTensor,
      "torch._utils._rebuild_parameter": (args) => asTensor(args[0], "_rebuild_parameter's data"),
      "torch._utils._rebuild_parameter_with_state": (args) => asTensor(args[0], "_rebuild_parameter_with_state's data"),
    },
  });
  if (!(result instanceof Map)) throw new AdapterError(`${file}: data.pkl does not hold a dict (a state dict of tensors)`);
  const tensors = new Map<string, WeightTensor>();
  for (const [name, value] of result) {
    if (typeof name !== "string") throw new AdapterError(`${file}: state dict key ${String(name)} is not a string`);
    tensors.set(name, asTensor(value, `state dict entry ${name}`));
  }
  return tensors;
}

/** The largest tensor rebuilt (2^28 float32 = 1 GiB; adapters are a few MB). */
export const MAX_ELEMENTS = 2 ** 28;

/** Copies a strided view of a storage into a row-major float32 tensor, every index bounds-checked. */
function gather(storage: StorageRef, offset: number, size: number[], stride: number[], file: string): WeightTensor {
  const count = elementCount(size);
  // A zero stride repeats elements: bound the expansion so a tiny file cannot ask for a huge allocation.
  if (count > MAX_ELEMENTS) throw new AdapterError(`${file}: tensor view of ${count} elements (size [${size}]) is over the ${MAX_ELEMENTS}-element limit`, storage.key);
  const data = new Float32Array(count);
  if (count > 0) {
    const last = offset + size.reduce((acc, s, i) => acc + (s - 1) * stride[i], 0);
    if (last >= storage.numel) {
      throw new AdapterError(`${file}: tensor view (offset ${offset}, size [${size}], stride [${stride}]) reaches element ${last} of storage ${storage.key} with ${storage.numel}`, storage.key);
    }
    const read = elementReader(storage.bytes, storage.dtype);
    const index = new Array<number>(size.length).fill(0);
    for (let i = 0; i < count; i++) {
      let at = offset;
      for (let d = 0; d < size.length; d++) at += index[d] * stride[d];
      data[i] = read(at);
      for (let d = size.length - 1; d >= 0; d--) {
        if (++index[d] < size[d]) break;
        index[d] = 0;
      }
    }
  }
  return { shape: size, data, dtype: storage.dtype };
}
