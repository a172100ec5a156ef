#!/usr/bin/env node
import { launch } from "./launch.js";

await launch(new URL("./confide-node.ts", import.meta.url).href);
