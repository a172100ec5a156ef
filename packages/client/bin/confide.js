#!/usr/bin/env node
// Runs the TypeScript CLI in-process through tsx, so `confide` works from any
// directory without a build step (as packages/node/bin does).
import { register } from "tsx/esm/api";

register();
await import(new URL("./confide.ts", import.meta.url).href);
