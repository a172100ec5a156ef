#!/usr/bin/env node
// `npx confide-ledger`: runs confide-ledger.ts in-process through tsx (see launch.js);
// its exit status is the process's (0 verified, 1 inconsistent, 2 usage error).
import { launch } from "./launch.js";

await launch(new URL("./confide-ledger.ts", import.meta.url).href);
