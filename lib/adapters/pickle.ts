/**
 * A restricted unpickler: it reads the data opcodes a torch.save state dict uses (protocols 2–4) and
 * resolves globals only through an allowlist the caller gives, with a pure-data JavaScript implementation
 * for each callable one. Nothing in the stream is ever executed: an unknown global is refused when the
 * GLOBAL / STACK_GLOBAL opcode names it (the error names it), REDUCE is refused unless its callee is an
 * allowlisted callable, and the object-building opcodes (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT*) and text
 * protocol-0 opcodes are refused outright. BUILD is accepted only to set a dict's attributes
 * (the `_metadata` of a state dict's OrderedDict), which are dropped.
 */
import { AdapterError } from "./errors.ts";

/** A Python tuple (arrays are lists). */
export class PickleTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** An allowlisted global that is a value, not a callable (e.g. torch.FloatStorage). */
export class PickleGlobal {
  constructor(readonly name: string) {}
}

export interface UnpickleOptions {
  /** Allowlisted callables by dotted name ("collections.OrderedDict"): called by REDUCE with the argument tuple's items. */
  callables: Readonly<Record<string, (args: readonly unknown[]) => unknown>>;
  /** Allowlisted non-callable globals by dotted name: they become PickleGlobal values. */
  values?: readonly string[];
  /** BINPERSID: the persistent id (already unpickled) → the object it stands for. Without it BINPERSID is refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** For error messages. */
  file?: string;
}

const MARK = Symbol("mark");

/** A callable allowlisted global, as it sits on the stack until REDUCE. */
class Callable {
  constructor(readonly name: string, readonly fn: (args: readonly unknown[]) => unknown) {}
}

const OPCODE_NAMES: Record<number, string> = {
  0x69: "INST", 0x6f: "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
  0x50: "PERSID", 0x49: "INT", 0x4c: "LONG", 0x46: "FLOAT", 0x53: "STRING", 0x56: "UNICODE", 0x70: "PUT", 0x67: "GET",
  0x64: "DICT", 0x6c: "LIST", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER", 0x8b: "LONG4",
};

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const file = options.file ?? "pickle";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let pos = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const fail = (what: string, key?: string): never => {
    throw new AdapterError(`${file}: ${what}`, key);
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > bytes.byteLength) fail(`truncated pickle: needs ${n} more bytes at offset ${pos}, has ${bytes.byteLength - pos}`);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = () => take(1)[0];
  const u16 = () => (take(2), view.getUint16(pos - 2, true));
  const u32 = () => (take(4), view.getUint32(pos - 4, true));
  const i32 = () => (take(4), view.getInt32(pos - 4, true));
  const u64 = () => {
    take(8);
    const v = view.getBigUint64(pos - 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} too large at offset ${pos - 8}`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`truncated pickle: unterminated line at offset ${pos}`);
    const text = new TextDecoder("latin1").decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const text = (n: number): string => {
    const raw = take(n);
    try {
      return utf8.decode(raw);
    } catch {
      return fail(`invalid UTF-8 string at offset ${pos - n}`);
    }
  };
  const pop = (): unknown => {
    if (!stack.length) fail(`stack underflow at offset ${pos - 1}`);
    const v = stack.pop();
    if (v === MARK) fail(`unexpected MARK on the stack at offset ${pos - 1}`);
    return v;
  };
  const top = (): unknown => {
    if (!stack.length || stack[stack.length - 1] === MARK) fail(`stack underflow at offset ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    if (!metastack.length) fail(`no MARK to pop to at offset ${pos - 1}`);
    stack = metastack.pop()!;
    return items;
  };
  const resolveGlobal = (module: string, name: string): unknown => {
    const dotted = `${module}.${name}`;
    const fn = Object.hasOwn(options.callables, dotted) ? options.callables[dotted] : undefined;
    if (fn) return new Callable(dotted, fn);
    if (options.values?.includes(dotted)) return new PickleGlobal(dotted);
    return fail(`pickle global ${dotted} is not allowed (only tensor-rebuilding globals are; nothing was executed)`, dotted);
  };
  const asMap = (target: unknown, op: string): Map<unknown, unknown> => {
    if (!(target instanceof Map)) fail(`${op} on a ${describe(target)} at offset ${pos - 1} (only dicts take items)`);
    return target as Map<unknown, unknown>;
  };
  const asList = (target: unknown, op: string): unknown[] => {
    if (!Array.isArray(target)) fail(`${op} on a ${describe(target)} at offset ${pos - 1} (only lists take items)`);
    return target as unknown[];
  };
  const dictKey = (key: unknown): unknown => {
    if (typeof key === "string" || typeof key === "number" || typeof key === "bigint" || typeof key === "boolean" || key === null) return key;
    return fail(`unsupported dict key of type ${describe(key)} at offset ${pos - 1}`);
  };

  for (;;) {
    if (pos >= bytes.byteLength) fail(`truncated pickle: no STOP opcode (ended at offset ${pos})`);
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) fail(`unsupported pickle protocol ${proto}`);
        break;
      }
      case 0x95: // FRAME (protocol 4): an 8-byte length, the frame's contents follow inline
        u64();
        break;
      case 0x2e: { // STOP
        const result = pop();
        if (stack.length || metastack.length) fail(`STOP at offset ${at} with ${stack.length} item(s) left on the stack`);
        return result;
      }
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const raw = take(u8());
        let v = 0n;
        for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
        if (raw.length && raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        take(8);
        stack.push(view.getFloat64(pos - 8, false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x55: // SHORT_BINSTRING (protocol-2 str of Python 2)
        stack.push(new TextDecoder("latin1").decode(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(new TextDecoder("latin1").decode(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PickleTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PickleTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push(new PickleTuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PickleTuple([pop(), b, c]));
        break;
      }
      case 0x74: { // TUPLE (popMark replaces `stack`: take the items first)
        const items = popMark();
        stack.push(new PickleTuple(items));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x61: { // APPEND
        const v = pop();
        asList(top(), "APPEND").push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        asList(top(), "APPENDS").push(...items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        asMap(top(), "SETITEM").set(dictKey(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail(`SETITEMS with an odd number of items at offset ${at}`);
        const map = asMap(top(), "SETITEMS");
        for (let i = 0; i < items.length; i += 2) map.set(dictKey(items[i]), items[i + 1]);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const index = op === 0x68 ? u8() : u32();
        if (!memo.has(index)) fail(`memo entry ${index} is not defined (offset ${at})`);
        stack.push(memo.get(index));
        break;
      }
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        stack.push(resolveGlobal(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail(`STACK_GLOBAL with non-string operands at offset ${at}`);
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callee = pop();
        if (!(callee instanceof Callable)) {
          fail(`REDUCE of ${describe(callee)} at offset ${at}: only allowlisted callables may be called (nothing was executed)`, callee instanceof PickleGlobal ? callee.name : undefined);
        }
        if (!(args instanceof PickleTuple)) fail(`REDUCE of ${(callee as Callable).name} with non-tuple arguments at offset ${at}`);
        stack.push((callee as Callable).fn((args as PickleTuple).items));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail(`BINPERSID at offset ${at}: persistent ids are not allowed here`);
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case 0x62: { // BUILD: only a dict's attribute state (OrderedDict._metadata), which is dropped
        const state = pop();
        const target = top();
        if (!(target instanceof Map) || !(state instanceof Map || state === null)) {
          fail(`BUILD of a ${describe(target)} with ${describe(state)} at offset ${at}: only a dict's attributes may be set`);
        }
        break;
      }
      default:
        fail(`pickle opcode 0x${op.toString(16).padStart(2, "0")}${OPCODE_NAMES[op] ? ` (${OPCODE_NAMES[op]})` : ""} at offset ${at} is not allowed`);
    }
  }
}

function describe(value: unknown): string {
  if (value === MARK) return "MARK";
  if (value instanceof Callable) return `callable ${value.name}`;
  if (value instanceof PickleGlobal) return `global ${value.name}`;
  if (value instanceof PickleTuple) return "tuple";
  if (value instanceof Map) return "dict";
  if (Array.isArray(value)) return "list";
  if (value instanceof Uint8Array) return "bytes";
  if (value === null) return "None";
  return typeof value === "object" ? "object" : typeof value;
}
