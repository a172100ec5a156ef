// GET /<frontend>/api: an OpenAPI 3 document of a frontend's endpoints. For the
// app it is built from app.json: each endpoint's `openapi` operation fragment
// (if any) under its path, unless `openapi_hidden`.

export interface DocumentedEndpoint {
  method: string;
  /** Full path template, e.g. "/app/records/{id}". */
  path: string;
  /** OpenAPI Operation Object fragment; a minimal one is made if absent. */
  operation?: Record<string, unknown> | undefined;
}

export function openApiDocument(title: string, version: string, endpoints: DocumentedEndpoint[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const endpoint of [...endpoints].sort((a, b) => a.path.localeCompare(b.path))) {
    const item = (paths[endpoint.path] ??= {});
    const parameters = [...endpoint.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    item[endpoint.method.toLowerCase()] = {
      ...(parameters.length > 0 ? { parameters } : {}),
      responses: { default: { description: "Default response" } },
      ...endpoint.operation,
    };
  }
  return { openapi: "3.0.0", info: { title, description: `${title} (served by Confide)`, version }, components: {}, paths };
}
