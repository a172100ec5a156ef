// Runs one of this package's TypeScript entry points in-process through tsx, so the
// `confide-*` bin entries work from any directory without a build step.
import { register } from "tsx/esm/api";

export async function launch(entry) {
  register();
  await import(entry);
}
