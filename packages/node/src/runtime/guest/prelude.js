// Runs inside the app's QuickJS context, once, before any app module: builds the
// `ccf` global of CCF's JS runtime on top of the host functions in `host`, and
// returns the entry points the host calls per request. Nothing of Node is
// reachable from here: only what `host` offers.
(function (host) {
  "use strict";
  const NOT_AN_ARRAY_BUFFER = "Argument must be an ArrayBuffer";

  function arrayBuffer(value) {
    if (!(value instanceof ArrayBuffer)) throw new TypeError(NOT_AN_ARRAY_BUFFER);
    return value;
  }

  function strToBuf(value) {
    if (typeof value !== "string") throw new TypeError("Argument must be a string");
    return host.strToBuf(value);
  }

  function bufToStr(value) {
    return host.bufToStr(arrayBuffer(value));
  }

  // ccf.kv: maps of ArrayBuffer keys to ArrayBuffer values. `store` 0 is the
  // current request's transaction; other numbers are historical states.
  // A map is named to the host once (kvMapId); its operations then pass the id.
  // Both numbers are private fields: app code cannot point a map elsewhere.
  class KvMap {
    #store;
    #map;
    constructor(store, name) {
      this.#store = store;
      this.#map = host.kvMapId(name);
    }
    has(key) {
      return host.kvHas(this.#store, this.#map, arrayBuffer(key));
    }
    get(key) {
      return host.kvGet(this.#store, this.#map, arrayBuffer(key));
    }
    getVersionOfPreviousWrite(key) {
      return host.kvVersion(this.#store, this.#map, arrayBuffer(key));
    }
    set(key, value) {
      host.kvSet(this.#store, this.#map, arrayBuffer(key), arrayBuffer(value));
      return this;
    }
    delete(key) {
      host.kvDelete(this.#store, this.#map, arrayBuffer(key));
    }
    clear() {
      host.kvClear(this.#store, this.#map);
    }
    forEach(callback) {
      if (typeof callback !== "function") throw new TypeError("forEach expects a function");
      const entries = host.kvEntries(this.#store, this.#map);
      for (let i = 0; i < entries.length; i += 2) callback(entries[i + 1], entries[i], this);
    }
    get size() {
      return host.kvSize(this.#store, this.#map);
    }
  }

  function kvMaps(store) {
    const handles = new Map();
    return new Proxy(
      {},
      {
        get(_, name) {
          if (typeof name !== "string") return undefined;
          let handle = handles.get(name);
          if (handle === undefined) {
            handle = new KvMap(store, name);
            handles.set(name, handle);
          }
          return handle;
        },
      },
    );
  }

  function historicalState(state) {
    return { transactionId: state.transactionId, receipt: state.receipt, kv: kvMaps(state.store) };
  }

  const crypto = host.crypto;
  const ccf = {
    strToBuf,
    bufToStr,
    jsonCompatibleToBuf: (value) => strToBuf(JSON.stringify(value)),
    bufToJsonCompatible: (value) => JSON.parse(bufToStr(value)),
    kv: kvMaps(0),
    crypto,
    rpc: {
      setApplyWrites: (force) => host.setApplyWrites(Boolean(force)),
      setClaimsDigest: (digest) => host.setClaimsDigest(arrayBuffer(digest)),
    },
    consensus: {
      getLastCommittedTxId: () => JSON.parse(host.lastCommittedTxId()),
      getStatusForTxId: (view, seqno) => host.statusForTxId(Number(view), Number(seqno)),
      getViewForSeqno: (seqno) => host.viewForSeqno(Number(seqno)),
    },
    historical: {
      getStateRange(handle, startSeqno, endSeqno, secondsUntilExpiry) {
        const states = host.getStateRange(Number(handle), Number(startSeqno), Number(endSeqno), Number(secondsUntilExpiry));
        return states === null ? null : JSON.parse(states).map(historicalState);
      },
      dropCachedStates: (handle) => host.dropCachedStates(Number(handle)),
    },
    historicalState: undefined,
    enableUntrustedDateTime: (enable) => host.enableUntrustedDateTime(Boolean(enable)),
    enableMetricsLogging: (enable) => host.enableMetricsLogging(Boolean(enable)),
    // Deprecated aliases CCF still offers directly on `ccf`.
    generateAesKey: crypto.generateAesKey,
    generateRsaKeyPair: crypto.generateRsaKeyPair,
    generateEcdsaKeyPair: crypto.generateEcdsaKeyPair,
    wrapKey: crypto.wrapKey,
    digest: crypto.digest,
    isValidX509CertBundle: crypto.isValidX509CertBundle,
    isValidX509CertChain: crypto.isValidX509CertChain,
  };
  // The governance-only APIs CCF gives the constitution (absent from app contexts).
  if (host.gov !== undefined) {
    const gov = host.gov;
    const optionalBuffer = (value) => (value === undefined || value === null ? undefined : arrayBuffer(value));
    ccf.pemToId = (pem) => gov.pemToId(pem);
    ccf.refreshAppBytecodeCache = () => gov.refreshAppBytecodeCache();
    ccf.setJwtPublicSigningKeys = (issuer, metadata, jwks) => gov.setJwtPublicSigningKeys(issuer, JSON.stringify(metadata), JSON.stringify(jwks));
    ccf.removeJwtPublicSigningKeys = (issuer) => gov.removeJwtPublicSigningKeys(issuer);
    ccf.node = {
      triggerLedgerChunk: () => gov.triggerLedgerChunk(),
      triggerSnapshot: () => gov.triggerSnapshot(),
      transitionServiceToOpen: (previous, next) => gov.transitionServiceToOpen(optionalBuffer(previous), arrayBuffer(next)),
      // One ledger secret and no recovery shares yet: nothing to rekey or refresh.
      triggerLedgerRekey: () => gov.triggerLedgerRekey(),
      triggerRecoverySharesRefresh: () => gov.triggerRecoverySharesRefresh(),
      triggerACMERefresh: () => gov.notSupported("triggerACMERefresh"),
    };
    ccf.network = {
      getLatestLedgerSecretSeqno: () => gov.getLatestLedgerSecretSeqno(),
      generateEndorsedCertificate: (csr, validFrom, validityPeriodDays) => gov.generateEndorsedCertificate(csr, validFrom, validityPeriodDays),
      generateNetworkCertificate: () => gov.notSupported("generateNetworkCertificate"),
    };
  }
  globalThis.ccf = ccf;
  globalThis.snp_attestation = {
    verifySnpAttestation() {
      throw new Error("SEV-SNP attestation is not available on the virtual platform");
    },
  };

  // Time is the host's untrusted clock only when the app asks for it, as in CCF.
  Date.now = () => host.now();
  // CCF seeds Math.random from the platform's entropy source.
  Math.random = () => host.random();

  function show(value) {
    if (typeof value === "string") return value;
    try {
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch {
      return String(value);
    }
  }
  const log = (level) => (...args) => host.log(level, args.map(show).join(" "));
  globalThis.console = { log: log("info"), info: log("info"), debug: log("debug"), warn: log("warn"), error: log("error") };

  function attachCoseContent(caller, content) {
    if (caller === null || typeof caller !== "object") return;
    if (caller.cose !== undefined) caller.cose = { content };
    for (const key of Object.keys(caller)) {
      if (key !== "cose" && typeof caller[key] === "object") attachCoseContent(caller[key], content);
    }
  }

  function makeRequest(meta, body, coseContent) {
    const request = JSON.parse(meta);
    if (coseContent !== undefined) attachCoseContent(request.caller, coseContent);
    request.body = {
      text: () => bufToStr(body),
      json: () => JSON.parse(bufToStr(body)),
      arrayBuffer: () => body.slice(0),
    };
    return request;
  }

  // CCF's serialisation of a handler's return value: [status, headers, content type, body], as one
  // JSON string when the body is short text (one read for the host), as an array otherwise.
  const LONG_TEXT = 4096;
  function serialise(response) {
    if (response === null || typeof response !== "object") {
      throw new TypeError("Invalid endpoint function return value (not an object).");
    }
    let status = response.statusCode;
    if (status === undefined || status === null) status = 200;
    else if (!Number.isInteger(status)) throw new TypeError("Invalid endpoint function return value (status code type).");
    let body = response.body;
    let contentType = null;
    if (body === undefined) {
      body = null;
    } else if (body instanceof ArrayBuffer) {
      contentType = "application/octet-stream";
    } else if (ArrayBuffer.isView(body)) {
      body = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
      contentType = "application/octet-stream";
    } else if (typeof body === "string") {
      contentType = "text/plain";
    } else {
      body = JSON.stringify(body);
      if (body === undefined) throw new TypeError("Invalid endpoint function return value (body is not JSON-serialisable).");
      contentType = "application/json";
    }
    const headers = {};
    if (response.headers !== undefined && response.headers !== null) {
      for (const name of Object.keys(response.headers)) headers[name] = String(response.headers[name]);
    }
    // A long text body goes beside the rest rather than inside one JSON string, which would escape it again.
    if (body instanceof ArrayBuffer || (typeof body === "string" && body.length > LONG_TEXT)) {
      return [status, JSON.stringify(headers), contentType, body];
    }
    return JSON.stringify([status, headers, contentType, body]);
  }

  return {
    invoke(handler, meta, body, coseContent, historical) {
      ccf.historicalState = historical === undefined ? undefined : historicalState(JSON.parse(historical));
      try {
        return serialise(handler(makeRequest(meta, body, coseContent)));
      } finally {
        ccf.historicalState = undefined;
      }
    },
  };
});
