/**
 * `--auth apikey`: static bearer keys, each with an identity and roles, from a JSON file or the
 * SQUARE_API_KEYS variable: {"keys": [{"key": "...", "identity": "...", "roles": ["user"]}]}.
 * A presented key is compared with every configured one in constant time (SHA-256 digests of
 * equal length, timingSafeEqual, no early exit), so timing tells nothing about how close a guess is.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Identity } from "./identity.ts";
import { invalidCredentials } from "./errors.ts";

/** Short keys can be guessed; 16 characters of a random alphabet is the least accepted. */
export const MIN_KEY_CHARS = 16;

interface StoredKey {
  digest: Buffer;
  identity: Identity;
}

const digest = (key: string): Buffer => createHash("sha256").update(key, "utf8").digest();

export class ApiKeyVerifier {
  private readonly keys: StoredKey[];

  constructor(document: unknown, source: string) {
    this.keys = parseKeys(document, source).map(({ key, identity, roles }) => ({ digest: digest(key), identity: Object.freeze({ id: identity, roles: Object.freeze([...roles]), via: "apikey" as const }) }));
  }

  static fromFile(path: string): ApiKeyVerifier {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`--api-keys ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
    return new ApiKeyVerifier(parseJson(text, `--api-keys ${path}`), `--api-keys ${path}`);
  }

  static fromJson(text: string): ApiKeyVerifier {
    return new ApiKeyVerifier(parseJson(text, "SQUARE_API_KEYS"), "SQUARE_API_KEYS");
  }

  get size(): number {
    return this.keys.length;
  }

  verify(token: string): Identity {
    const presented = digest(token);
    let found: Identity | undefined;
    for (const stored of this.keys) if (timingSafeEqual(presented, stored.digest) && !found) found = stored.identity;
    if (!found) throw invalidCredentials("unknown API key");
    return found;
  }
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
}

interface KeyEntry {
  key: string;
  identity: string;
  roles: string[];
}

function parseKeys(document: unknown, source: string): KeyEntry[] {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${source}: expected {"keys": [{"key": "...", "identity": "...", "roles": ["user"]}, ...]} with at least one key`);
  const seen = new Set<string>();
  return keys.map((entry: unknown, i) => {
    const e = entry as Partial<Record<keyof KeyEntry, unknown>> | null;
    const where = `${source}: keys[${i}]`;
    if (typeof e?.key !== "string" || e.key.length < MIN_KEY_CHARS) throw new Error(`${where}.key must be a string of at least ${MIN_KEY_CHARS} characters`);
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(e.key)) throw new Error(`${where}.key may contain only letters, digits and -._~+/ (it is sent as a bearer token)`);
    if (typeof e.identity !== "string" || e.identity.trim() === "") throw new Error(`${where}.identity must be a non-empty string`);
    if (!Array.isArray(e.roles) || !e.roles.every((r) => typeof r === "string")) throw new Error(`${where}.roles must be a list of role names, e.g. ["user"] or ["admin"]`);
    if (seen.has(e.key)) throw new Error(`${where}.key is the same as an earlier key`);
    seen.add(e.key);
    return { key: e.key, identity: e.identity, roles: e.roles as string[] };
  });
}
