// Installs the host side of ccf.strToBuf / ccf.bufToStr (UTF-8, as CCF).
import type { HostFunction, Vm } from "../vm.ts";

export function converterHostFunctions(vm: Vm): Record<string, HostFunction> {
  return {
    // The prelude has checked the argument is a string: the engine's own UTF-8 encoding is used.
    strToBuf: (text) => vm.preludeStringToArrayBuffer(text),
    bufToStr: (bytes) => vm.preludeArrayBufferToString(bytes),
  };
}
