/**
 * Where the package's own files are, in both layouts it runs in: the TypeScript sources
 * (development and tests, through tsx) and the compiled JavaScript under dist/ (production).
 */
import { fileURLToPath } from "node:url";

/** True when this module is the compiled JavaScript (its own URL ends in .js). */
export const RUNNING_COMPILED = import.meta.url.endsWith(".js");

/** The package root: lib/.. from the sources, dist/lib/../.. when compiled. */
export const PACKAGE_ROOT = new URL(RUNNING_COMPILED ? "../../" : "../", import.meta.url);

/** The command-line entry, for child processes. */
export const CLI_BIN = fileURLToPath(new URL("bin/square-inference.js", PACKAGE_ROOT));
