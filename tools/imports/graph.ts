/**
 * The import graph of the server's own code (lib/, services/, moleculer.config.ts): which file
 * imports which, the strongly connected components (import circles), and the imports between
 * top-level folders. `npm run imports` prints it; test/unit/import-graph.test.ts asserts on it.
 * Type-only imports count too: a circle of types still ties the modules together.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^"'`;]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

export interface ImportGraph {
  /** File → the files it imports (paths relative to the root, e.g. "lib/orchestration/execute.ts"). */
  edges: Map<string, string[]>;
}

export function importGraph(root: string, dirs = ["lib", "services"], files = ["moleculer.config.ts"]): ImportGraph {
  const all = [...dirs.flatMap((d) => tsFiles(join(root, d))), ...files.map((f) => join(root, f))];
  const edges = new Map<string, string[]>();
  for (const file of all) {
    const source = readFileSync(file, "utf8");
    const targets: string[] = [];
    for (const m of source.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith(".")) continue;
      targets.push(relative(root, resolve(dirname(file), spec)));
    }
    edges.set(relative(root, file), [...new Set(targets)]);
  }
  return { edges };
}

/** Strongly connected components with more than one file (or a file importing itself): the circles. */
export function circles({ edges }: ImportGraph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!indices.has(v)) visit(v);
  return out;
}

/** The folder a file belongs to for layering: "services", "lib/tasks", "lib" (files directly in lib/). */
export const folderOf = (file: string): string => {
  const parts = file.split("/");
  if (parts[0] !== "lib") return parts[0].replace(/\.ts$/, "");
  return parts.length > 2 ? `lib/${parts[1]}` : "lib";
};

/** Imports between folders: "lib/tasks → lib/model" with the files that make each one. */
export function folderImports({ edges }: ImportGraph): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [from, targets] of edges) {
    for (const to of targets) {
      const [a, b] = [folderOf(from), folderOf(to)];
      if (a === b) continue;
      const key = `${a} → ${b}`;
      out.set(key, [...(out.get(key) ?? []), `${from} → ${to}`]);
    }
  }
  return new Map([...out].sort(([x], [y]) => x.localeCompare(y)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const graph = importGraph(resolve(dirname(new URL(import.meta.url).pathname), "../.."));
  const found = circles(graph);
  console.log(`${graph.edges.size} files; ${found.length} import circle(s)`);
  for (const c of found) console.log(`  circle: ${c.join(", ")}`);
  for (const [pair, files] of folderImports(graph)) console.log(`${pair} (${files.length})`);
}
