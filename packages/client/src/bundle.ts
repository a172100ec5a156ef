// JS app bundles for set_js_app: a bundle.json file, or an app directory
// (app.json + src/**/*.js, modules named relative to src/ as CCF's
// build_bundle names them). The node reads js_app_bundle with the same code.
import { readBundle, type Bundle } from "@confide/node";

export { BundleError, type Bundle } from "@confide/node";

/** Reads and checks a bundle; a missing file or malformed bundle throws BundleError naming the path. */
export function loadBundle(path: string): Bundle {
  return readBundle(path);
}
