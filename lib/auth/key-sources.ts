/**
 * Where `--auth jwt` gets its verification key, and which algorithms that key allows. One source:
 *  - a JWKS URL (RS256/ES256; jose caches it, refetches on an unknown `kid` at most once per
 *    cooldown, and gives up after the timeout),
 *  - a key file: PEM public key or X.509 certificate (the algorithm follows the key type) or a
 *    JWKS JSON file,
 *  - an HS256 shared secret.
 * The allowed algorithms always match the key's kind, so an HS256 token "signed" with a public
 * key (algorithm confusion) and `alg: none` are refused before any key is used.
 */
import { createPublicKey, KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRemoteJWKSet, createLocalJWKSet, errors, type JWTVerifyGetKey, type JSONWebKeySet } from "jose";
import type { SecuritySettings } from "../config/security-settings.ts";

/** Asymmetric algorithms accepted from a key set (SPEC §12: RS256/ES256). */
export const ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"] as const;

export interface KeySource {
  key: KeyObject | Uint8Array | JWTVerifyGetKey;
  algorithms: string[];
  /** For the start-up log line. */
  describe: string;
  /** Fetches a remote key set once, so that a wrong URL shows at start (remote sources only). */
  warmUp?: () => Promise<void>;
}

/** A key set that could not be fetched or read: a 503, unlike a token that matches no key (401). */
export class KeySetUnavailable extends Error {
  constructor(cause: unknown) {
    super("JWKS unavailable", { cause });
    this.name = "KeySetUnavailable";
  }
}

/** Errors of a remote key set that are the token's fault (no such `kid`, several matches, an algorithm the set lacks). */
const TOKEN_FAULTS = [errors.JWKSNoMatchingKey, errors.JWKSMultipleMatchingKeys, errors.JOSEAlgNotAllowed, errors.JOSENotSupported];

export interface RemoteOptions {
  timeoutMs: number;
  /** Least time between two refetches for unknown `kid`s (jose's default 30 s; tests lower it). */
  cooldownMs?: number;
}

export function remoteKeySource(url: string, options: RemoteOptions): KeySource {
  const set = createRemoteJWKSet(new URL(url), { timeoutDuration: options.timeoutMs, cooldownDuration: options.cooldownMs ?? 30_000, cacheMaxAge: 10 * 60_000 });
  const key: JWTVerifyGetKey = async (header, token) => {
    try {
      return await set(header, token);
    } catch (err) {
      if (TOKEN_FAULTS.some((E) => err instanceof E)) throw err;
      throw new KeySetUnavailable(err);
    }
  };
  return { key, algorithms: [...ASYMMETRIC_ALGORITHMS], describe: `JWKS ${url}`, warmUp: () => set.reload() };
}

export function secretKeySource(secret: string): KeySource {
  return { key: new TextEncoder().encode(secret), algorithms: ["HS256"], describe: "HS256 shared secret" };
}

export function fileKeySource(path: string): KeySource {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`--jwt-public-key ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (text.trimStart().startsWith("{")) return jwksFileSource(text, path);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error(`--jwt-public-key ${path}: holds a private key; give the server the public key (or certificate) only`);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (err) {
    throw new Error(`--jwt-public-key ${path}: not a PEM public key or certificate (${(err as Error).message})`);
  }
  return { key, algorithms: [algorithmOf(key, path)], describe: `public key file ${path}` };
}

function jwksFileSource(text: string, path: string): KeySource {
  let set: JSONWebKeySet;
  try {
    set = JSON.parse(text);
    return { key: createLocalJWKSet(set), algorithms: [...ASYMMETRIC_ALGORITHMS], describe: `JWKS file ${path}` };
  } catch (err) {
    throw new Error(`--jwt-public-key ${path}: not a valid JWKS document (${(err as Error).message})`);
  }
}

function algorithmOf(key: KeyObject, path: string): string {
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw new Error(`--jwt-public-key ${path}: a ${key.asymmetricKeyType} key${key.asymmetricKeyDetails?.namedCurve ? ` on ${key.asymmetricKeyDetails.namedCurve}` : ""}; use an RSA key (RS256) or an EC P-256 key (ES256)`);
}

export function keySourceOf(s: Pick<SecuritySettings, "jwksUrl" | "jwtPublicKey" | "jwtSecret" | "jwksTimeoutMs">, cooldownMs?: number): KeySource {
  if (s.jwksUrl) return remoteKeySource(s.jwksUrl, { timeoutMs: s.jwksTimeoutMs, cooldownMs });
  if (s.jwtPublicKey) return fileKeySource(s.jwtPublicKey);
  if (s.jwtSecret) return secretKeySource(s.jwtSecret);
  throw new Error("--auth jwt needs one key source: --jwks-url URL, --jwt-public-key FILE or --jwt-secret SECRET");
}
