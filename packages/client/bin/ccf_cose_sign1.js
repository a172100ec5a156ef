#!/usr/bin/env node
// CCF's ccf_cose_sign1 (python `ccf` package), run in-process through tsx.
import { register } from "tsx/esm/api";

register();
const { coseSign1Main } = await import(new URL("../src/ccf-tools/cose-sign1.ts", import.meta.url).href);
process.exitCode = await coseSign1Main(process.argv.slice(2));
