// The default constitution, as the node's genesis stores it in
// public:ccf.gov.constitution: its four parts concatenated, in CCF's order, into
// one ES module exporting validate, resolve and apply.
import { readFileSync } from "node:fs";

const constitutionParts = ["actions.js", "validate.js", "resolve.js", "apply.js"];

const directory = new URL("./constitution/", import.meta.url);

export function defaultConstitution() {
  return constitutionParts.map((part) => readFileSync(new URL(part, directory), "utf8")).join("\n");
}
