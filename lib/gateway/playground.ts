/**
 * The playground page (issue #18, web/playground/): a static page built by `npm run build` (vite)
 * into dist/web/playground/ and served by the gateway at `{prefix}/playground`, under the same
 * access as predictions. Its Content-Security-Policy allows only itself: its own script, style
 * sheet and API calls, nothing inline, nothing from another origin.
 */
import { readFile, access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { notFound, unavailable } from "../errors.ts";
import { PACKAGE_ROOT } from "../package-paths.ts";
import { OnceCache } from "../base/once-cache.ts";

export const PLAYGROUND_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The built files, by name (vite's output names are fixed in web/playground/vite.config.ts). */
const ASSET_TYPES: Readonly<Record<string, string>> = Object.freeze({
  "playground.js": "text/javascript; charset=utf-8",
  "playground.css": "text/css; charset=utf-8",
  "playground.svg": "image/svg+xml",
});

/** The build, in both layouts (sources through tsx, compiled dist/): the package's dist/web/playground/. */
const BUILT_DIR = fileURLToPath(new URL("dist/web/playground/", PACKAGE_ROOT));

let built: Promise<boolean> | undefined;
const files = new OnceCache<string, string>();

async function builtDir(): Promise<string> {
  built ??= access(join(BUILT_DIR, "playground.js")).then(() => true, () => false);
  if (!(await built)) {
    built = undefined; // a build made later is found on the next request
    throw unavailable("the playground is not built: run `npm run build`");
  }
  return BUILT_DIR;
}

async function builtFile(name: string): Promise<string> {
  const dir = await builtDir();
  return files.get(name, () => readFile(join(dir, name), "utf8"));
}

/** The page, its script, style sheet and icon addressed under `{prefix}/playground/` (vite writes them relative). */
export async function playgroundPage(prefix: string): Promise<string> {
  const html = await builtFile("index.html");
  return html.replace(/(src|href)="\.\/(playground\.(?:js|css|svg))"/g, (_, attr: string, file: string) => `${attr}="${prefix}/playground/${file}"`);
}

export async function playgroundAsset(name: string): Promise<{ type: string; body: string }> {
  const type = Object.hasOwn(ASSET_TYPES, name) ? ASSET_TYPES[name] : undefined;
  if (!type) throw notFound(`no playground file ${JSON.stringify(name)}`);
  return { type, body: await builtFile(name) };
}
