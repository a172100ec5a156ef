// Installs the host side of ccf.crypto: each function reads its guest
// arguments (ArrayBuffers, PEM strings, algorithm objects) and calls the
// matching operation in crypto-ops.ts.
import type { GuestRef } from "../engine.ts";
import * as ops from "../crypto-ops.ts";
import type { HostFunction, HostValue, Vm } from "../vm.ts";

export function cryptoHostFunctions(vm: Vm): Record<string, HostFunction> {
  const optionalString = (handle: GuestRef | undefined) => (vm.isUndefined(handle) ? undefined : vm.string(handle));
  /** Wrap parameters: plain fields, plus the label, which is an ArrayBuffer. */
  const wrapParams = (handle: GuestRef | undefined): ops.WrapAlgoParams => {
    const params = vm.plain(handle) as Record<string, unknown> | undefined;
    if (params === undefined || params === null || typeof params !== "object") throw new TypeError("Wrap algorithm parameters must be an object");
    if (handle !== undefined && "label" in params) {
      const label = vm.engine.getProperty(handle, "label");
      try {
        params["label"] = vm.isUndefined(label) ? undefined : vm.bytes(label);
      } finally {
        vm.engine.free(label);
      }
    }
    return params as unknown as ops.WrapAlgoParams;
  };
  const jwk = <T>(handle: GuestRef | undefined) => vm.plain(handle) as T;
  const asHost = (value: object) => value as unknown as HostValue;
  return {
    digest: (algorithm, data) => ops.digest(vm.string(algorithm, "Algorithm") as ops.DigestAlgorithm, vm.bytes(data)),
    sign: (algorithm, key, data) => ops.sign(vm.plain(algorithm) as ops.SigningAlgorithm, vm.string(key, "Key"), vm.bytes(data)),
    verifySignature: (algorithm, key, signature, data) =>
      ops.verifySignature(vm.plain(algorithm) as ops.SigningAlgorithm, vm.string(key, "Key"), vm.bytes(signature), vm.bytes(data)),
    generateAesKey: (size) => ops.generateAesKey(vm.number(size, "Key size")),
    generateRsaKeyPair: (size, exponent) =>
      asHost(ops.generateRsaKeyPair(vm.number(size, "Key size"), vm.isUndefined(exponent) ? undefined : vm.number(exponent, "Exponent"))),
    generateEcdsaKeyPair: (curve) => asHost(ops.generateEcdsaKeyPair(vm.string(curve, "Curve"))),
    generateEddsaKeyPair: (curve) => asHost(ops.generateEddsaKeyPair(vm.string(curve, "Curve"))),
    wrapKey: (key, wrappingKey, params) => ops.wrapKey(vm.bytes(key), vm.bytes(wrappingKey), wrapParams(params)),
    unwrapKey: (key, unwrappingKey, params) => ops.unwrapKey(vm.bytes(key), vm.bytes(unwrappingKey), wrapParams(params)),
    isValidX509CertBundle: (pem) => ops.isValidX509CertBundle(vm.string(pem, "PEM")),
    isValidX509CertChain: (chain, trusted) => ops.isValidX509CertChain(vm.string(chain, "Chain"), vm.string(trusted, "Trusted")),
    pubPemToJwk: (pem, kid) => asHost(ops.pubPemToJwk(vm.string(pem, "PEM"), optionalString(kid))),
    pemToJwk: (pem, kid) => asHost(ops.pemToJwk(vm.string(pem, "PEM"), optionalString(kid))),
    pubRsaPemToJwk: (pem, kid) => asHost(ops.pubRsaPemToJwk(vm.string(pem, "PEM"), optionalString(kid))),
    rsaPemToJwk: (pem, kid) => asHost(ops.rsaPemToJwk(vm.string(pem, "PEM"), optionalString(kid))),
    pubEddsaPemToJwk: (pem, kid) => asHost(ops.pubEddsaPemToJwk(vm.string(pem, "PEM"), optionalString(kid))),
    eddsaPemToJwk: (pem, kid) => asHost(ops.eddsaPemToJwk(vm.string(pem, "PEM"), optionalString(kid))),
    pubJwkToPem: (key) => ops.pubJwkToPem(jwk(key)),
    jwkToPem: (key) => ops.jwkToPem(jwk(key)),
    pubRsaJwkToPem: (key) => ops.pubRsaJwkToPem(jwk(key)),
    rsaJwkToPem: (key) => ops.rsaJwkToPem(jwk(key)),
    pubEddsaJwkToPem: (key) => ops.pubEddsaJwkToPem(jwk(key)),
    eddsaJwkToPem: (key) => ops.eddsaJwkToPem(jwk(key)),
  };
}
