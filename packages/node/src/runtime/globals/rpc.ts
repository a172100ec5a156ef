// Installs the host side of ccf.rpc: what the app asks of its own transaction.
import type { CallState } from "../call-state.ts";
import type { HostFunction, Vm } from "../vm.ts";

const SHA256_BYTES = 32;

export function rpcHostFunctions(vm: Vm, call: () => CallState): Record<string, HostFunction> {
  return {
    setApplyWrites: (force) => {
      call().applyWrites = vm.preludeBoolean(force);
    },
    setClaimsDigest: (digest) => {
      const bytes = vm.bytes(digest);
      if (bytes.length !== SHA256_BYTES) throw new TypeError(`Claims digest must be a SHA-256 digest (${SHA256_BYTES} bytes), got ${bytes.length} bytes`);
      call().claimsDigest = bytes;
    },
  };
}
