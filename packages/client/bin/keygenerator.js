#!/usr/bin/env node
// CCF's keygenerator.sh (/opt/ccf_virtual/bin), run in-process through tsx.
import { register } from "tsx/esm/api";

register();
const { keygeneratorMain } = await import(new URL("../src/ccf-tools/keygenerator.ts", import.meta.url).href);
process.exitCode = await keygeneratorMain(process.argv.slice(2));
