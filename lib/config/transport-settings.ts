/**
 * Credentials and TLS for the NATS transporter (issue #14): Moleculer nodes on the transporter
 * are trusted, so the transporter's own authentication is what keeps an untrusted node out.
 * Passed through to the NATS client unchanged; credentials may also sit in the URL
 * (nats://user:password@host:4222).
 */
import type { Option } from "./option.ts";

export interface TransportSettings {
  transporterUser?: string;
  transporterPassword?: string;
  transporterToken?: string;
  /** PEM files: the CA that signed the NATS server's certificate, and this node's client certificate and key. */
  transporterTlsCa?: string;
  transporterTlsCert?: string;
  transporterTlsKey?: string;
}

export const TRANSPORT_OPTIONS: readonly Option<keyof TransportSettings>[] = Object.freeze([
  { flag: "--transporter-user", env: "TRANSPORTER_USER", key: "transporterUser", help: "NATS user name" },
  { env: "TRANSPORTER_PASSWORD", key: "transporterPassword", help: "NATS password (environment only: a flag would show in ps)" },
  { env: "TRANSPORTER_TOKEN", key: "transporterToken", help: "NATS authentication token (environment only)" },
  { flag: "--transporter-tls-ca", env: "TRANSPORTER_TLS_CA", key: "transporterTlsCa", help: "PEM file of the CA that signed the NATS server's certificate (turns TLS on)" },
  { flag: "--transporter-tls-cert", env: "TRANSPORTER_TLS_CERT", key: "transporterTlsCert", help: "PEM client certificate for NATS mutual TLS" },
  { flag: "--transporter-tls-key", env: "TRANSPORTER_TLS_KEY", key: "transporterTlsKey", help: "PEM private key of --transporter-tls-cert" },
]);

/** NATS client options from the settings; undefined when none are set (the URL alone is used). */
export function natsAuthOptions(s: TransportSettings): Record<string, unknown> | undefined {
  const tls = s.transporterTlsCa || s.transporterTlsCert || s.transporterTlsKey
    ? { ...(s.transporterTlsCa ? { caFile: s.transporterTlsCa } : {}), ...(s.transporterTlsCert ? { certFile: s.transporterTlsCert } : {}), ...(s.transporterTlsKey ? { keyFile: s.transporterTlsKey } : {}) }
    : undefined;
  const options = { user: s.transporterUser, pass: s.transporterPassword, token: s.transporterToken, tls };
  const set = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return Object.keys(set).length ? set : undefined;
}

export function checkTransportSettings(s: TransportSettings & { transporter?: string }): void {
  const any = Object.values(natsAuthOptions(s) ?? {}).length > 0;
  if (any && !s.transporter) throw new Error("transporter credentials or TLS are set but --transporter is not");
  if (any && s.transporter && !/^nats:\/\//.test(s.transporter)) throw new Error("transporter credentials and TLS apply to a nats:// transporter only");
  if (!!s.transporterTlsCert !== !!s.transporterTlsKey) throw new Error("--transporter-tls-cert and --transporter-tls-key go together");
}
