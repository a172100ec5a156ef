// Installs the host side of ccf.strToBuf / ccf.bufToStr (UTF-8, as CCF).
import type { HostFunction, Vm } from "../vm.ts";

export function converterHostFunctions(vm: Vm): Record<string, HostFunction> {
  return {
    strToBuf: (text) => Buffer.from(vm.string(text), "utf8"),
    bufToStr: (bytes) => vm.bytes(bytes).toString("utf8"),
  };
}
