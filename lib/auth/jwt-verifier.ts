/**
 * `--auth jwt`: verifies a bearer token with jose (signature, `exp`, `nbf` with clock skew,
 * issuer, audience) and turns it into an Identity (`sub`, roles from `--jwt-roles-claim`).
 * Every failure is a 401 naming what is wrong, never the token itself; an unreachable key set
 * is a 503. Nothing a client sends can make this throw anything else.
 */
import { jwtVerify, decodeProtectedHeader, errors, type JWTPayload } from "jose";
import type { Identity } from "./identity.ts";
import { KeySource, KeySetUnavailable } from "./key-sources.ts";
import { rolesAt } from "./claims.ts";
import { invalidCredentials, keysUnavailable } from "./errors.ts";

export interface JwtOptions {
  issuer?: string;
  audience?: string[];
  rolesClaim: string;
  clockSkewS: number;
  /** Told the class name of an error no rule below expected (never the token). */
  warn?: (message: string) => void;
}

export class JwtVerifier {
  constructor(private readonly source: KeySource, private readonly options: JwtOptions) {}

  async verify(token: string): Promise<Identity> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.source.key as Parameters<typeof jwtVerify>[1], {
        algorithms: this.source.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience?.length ? this.options.audience : undefined,
        clockTolerance: this.options.clockSkewS,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      throw this.refusal(err, token);
    }
    if (typeof payload.sub !== "string" || payload.sub === "") throw invalidCredentials('the token\'s "sub" claim must be a non-empty string');
    return Object.freeze({ id: payload.sub, roles: Object.freeze(rolesAt(payload, this.options.rolesClaim)), via: "jwt" as const });
  }

  private refusal(err: unknown, token: string): Error {
    if (err instanceof KeySetUnavailable) return Object.assign(keysUnavailable(), { cause: err.cause }); // the cause is for the server's log only
    if (err instanceof errors.JWTExpired) return invalidCredentials("the token has expired");
    if (err instanceof errors.JWTClaimValidationFailed) return invalidCredentials(claimProblem(err.claim, err.reason));
    if (err instanceof errors.JOSEAlgNotAllowed) return invalidCredentials(algorithmProblem(token, this.source.algorithms));
    if (err instanceof errors.JWSSignatureVerificationFailed) return invalidCredentials("the token's signature does not verify");
    if (err instanceof errors.JWKSNoMatchingKey) return invalidCredentials("no signing key of the issuer matches the token's kid");
    if (err instanceof errors.JWKSMultipleMatchingKeys) return invalidCredentials("several signing keys match the token; it must name its kid");
    if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return invalidCredentials("the token is malformed (not a signed JWT: header.payload.signature in base64url, JSON inside)");
    if (err instanceof errors.JOSEError) return invalidCredentials("the token is not supported (algorithm or key type)");
    this.options.warn?.(`jwt: unexpected ${(err as Error)?.name ?? typeof err} while verifying a token; answered 401`);
    return invalidCredentials("the token could not be verified");
  }
}

function claimProblem(claim: string, reason: string): string {
  if (reason === "missing") return `the token has no "${claim}" claim`;
  if (claim === "iss") return "the token's issuer (iss) is not the one this server accepts";
  if (claim === "aud") return "the token's audience (aud) is not one this server accepts";
  if (claim === "nbf") return "the token is not valid yet (nbf)";
  if (claim === "iat") return "the token's issue time (iat) is in the future";
  return `the token's "${claim}" claim is invalid`;
}

/** Names the refused algorithm, read from the header (jose has already parsed it). */
function algorithmProblem(token: string, allowed: readonly string[]): string {
  let alg = "?";
  try {
    alg = String(decodeProtectedHeader(token).alg).slice(0, 20).replace(/[^A-Za-z0-9_-]/g, "?");
  } catch {
    /* the verifier refused it already; the name is only for the message */
  }
  const what = alg.toLowerCase() === "none" ? "unsigned tokens (alg none) are not accepted" : `algorithm ${JSON.stringify(alg)} is not accepted`;
  return `${what}; this server accepts ${allowed.join(", ")}`;
}
