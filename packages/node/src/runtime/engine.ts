// QuickJS WebAssembly instances, one per interpreter, so that one app's engine
// can be thrown away without touching another's. Instantiating one takes
// 5–30 ms; a spare is made ahead of time and handed to the next deployment.
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSWASMModule } from "quickjs-emscripten";

let spare: Promise<QuickJSWASMModule> | undefined;

function instantiate(): Promise<QuickJSWASMModule> {
  return newQuickJSWASMModule(RELEASE_SYNC);
}

/** A fresh QuickJS engine; starts preparing the next one. */
export async function takeEngine(): Promise<QuickJSWASMModule> {
  const engine = spare ?? instantiate();
  spare = undefined;
  const taken = await engine;
  spare = instantiate();
  // A failed spare is not an error until someone takes it.
  spare.catch(() => undefined);
  return taken;
}
