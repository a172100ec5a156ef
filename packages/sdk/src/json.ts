// A response body as JSON when it is JSON: node, gov and app replies are usually JSON, but an
// error page, a CBOR receipt or an empty 204 is not, and the caller still wants the text.

/** `text` parsed as JSON, or undefined if it is not JSON. */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
