/**
 * Which route of the table a method and path reach, before moleculer-web resolves it: the
 * gateway authenticates (and answers OPTIONS) ahead of body parsing. The first match wins, as
 * moleculer-web's alias order does; `accessOfAction` re-checks the resolved action afterwards.
 */
import { ROUTES, RouteSpec } from "./routes.ts";
import { routeRegex } from "./route-guard.ts";

export { pathUnder } from "./route-guard.ts";

interface Pattern {
  route: RouteSpec;
  regex: RegExp;
}

const PATTERNS: readonly Pattern[] = ROUTES.map((route) => ({ route, regex: routeRegex(route.path) }));

export function matchRoute(method: string | undefined, path: string): RouteSpec | undefined {
  return PATTERNS.find((p) => p.route.method === method && p.regex.test(path))?.route;
}

/** Methods served at a path (for OPTIONS and its Allow header). */
export function methodsAt(path: string): string[] {
  return [...new Set(PATTERNS.filter((p) => p.regex.test(path)).map((p) => p.route.method))];
}
