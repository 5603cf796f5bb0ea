/**
 * The one error an adapter folder can raise while being read: a file that is malformed, a config
 * value that is not supported, a pickle that asks for something other than tensors. `key` names the
 * config key, tensor name or pickle global at fault, so callers can report it (a 4xx or a load error).
 */
export class AdapterError extends Error {
  readonly key: string | undefined;
  constructor(message: string, key?: string) {
    super(message);
    this.name = "AdapterError";
    this.key = key;
  }
}
