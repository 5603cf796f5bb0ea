#!/usr/bin/env node
// Part of `npm run build`: files tsc does not emit but the compiled server reads at run time.
import { copyFileSync } from "node:fs";

const ASSETS = ["lib/onnx/onnx.proto", "lib/attacks/english-stopwords.txt"];
for (const file of ASSETS) copyFileSync(new URL(`../${file}`, import.meta.url), new URL(`../dist/${file}`, import.meta.url));
