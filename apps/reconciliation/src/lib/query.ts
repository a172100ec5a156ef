// Query-string parameters of the report endpoints (request.query is the raw
// string, as CCF hands it to JS).
export function parseQuery(query: string): Map<string, string> | undefined {
  const params = new Map<string, string>();
  if (query === "") return params;
  try {
    for (const part of query.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const name = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, " "));
      params.set(name, eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, " ")));
    }
  } catch {
    return undefined;
  }
  return params;
}
