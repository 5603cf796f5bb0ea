/**
 * Several gateway processes behind one address (`--reuse-port`, issue #17): each listens on the
 * same host and port with SO_REUSEPORT, and the kernel spreads incoming connections over them
 * (Linux 3.9+, FreeBSD 12+, DragonFly BSD; Node's net `listen({ reusePort: true })` from 22.12 and
 * 23.1; an unsupported platform makes the listen fail). Every gateway reads the same task store,
 * so a client may submit through one process and poll its result through another. The processes
 * must run as the same user; a process without the option still finds the port in use.
 *
 * moleculer-web listens in its `started` with `server.listen(port, host, callback)`; this
 * replaces that server's `listen` with one that adds the option.
 */
import type { Server } from "node:net";

/** Node versions whose net `listen` knows `reusePort` (older ones ignore it silently). */
export function nodeSupportsReusePort(version: string = process.versions.node): boolean {
  const [major, minor] = version.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** Makes `server` listen with SO_REUSEPORT when moleculer-web calls `listen(port, host, callback)`. */
export function listenWithReusePort(server: Server): void {
  if (!nodeSupportsReusePort()) throw new Error(`--reuse-port needs Node 22.12, 23.1 or later (this is ${process.versions.node})`);
  const listen = server.listen.bind(server) as (options: object, callback?: () => void) => Server;
  server.listen = ((port: number, host?: string, callback?: () => void) => listen({ port, host, reusePort: true }, callback)) as Server["listen"];
}
