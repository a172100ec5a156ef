// Matches a method and path against endpoint templates as CCF dispatches:
// an exact path first, then templates whose `{name}` segments each match one
// path segment (filling params; a segment may carry a literal suffix, as in
// CCF's `{proposalId}:withdraw`); a path known under other methods is a 405
// listing the allowed ones.
import { CcfError, ErrorCode } from "../errors.ts";

interface Template<T> {
  method: string;
  template: string;
  /** Literal segments, or the literal suffix (often "") after a `{name}` parameter. */
  segments: Array<string | { suffix: string }>;
  names: string[];
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  /** The endpoint's template (with its prefix), CCF's request.route. */
  route: string;
  params: Record<string, string>;
}

const PARAMETER = /^\{([^{}/]+)\}([^{}/]*)$/;

export class Router<T> {
  private readonly exact = new Map<string, Map<string, T>>();
  private readonly templates: Template<T>[] = [];

  add(method: string, template: string, value: T): this {
    const parts = template.split("/");
    if (!parts.some((part) => PARAMETER.test(part))) {
      let byMethod = this.exact.get(template);
      if (!byMethod) this.exact.set(template, (byMethod = new Map()));
      byMethod.set(method, value);
      return this;
    }
    const names: string[] = [];
    const segments = parts.map((part) => {
      const match = PARAMETER.exec(part);
      if (match === null) return part;
      names.push(match[1]!);
      return { suffix: match[2]! };
    });
    this.templates.push({ method, template, segments, names, value });
    return this;
  }

  /** The endpoint for method+path, undefined if the path is unknown; throws 405 if only the method is wrong. */
  match(method: string, path: string): RouteMatch<T> | undefined {
    const exact = this.exact.get(path);
    const value = exact?.get(method);
    if (value !== undefined) return { value, route: path, params: {} };

    const parts = path.split("/");
    const matches: RouteMatch<T>[] = [];
    const allowed = new Set(exact?.keys() ?? []);
    for (const template of this.templates) {
      const params = matchSegments(template, parts);
      if (params === undefined) continue;
      if (template.method === method) matches.push({ value: template.value, route: template.template, params });
      else allowed.add(template.method);
    }
    if (matches.length > 1) {
      throw new CcfError(500, ErrorCode.InternalError, `Request path ${path} matches several endpoint templates: ${matches.map((m) => m.route).join(", ")}`);
    }
    if (matches[0]) return matches[0];
    if (allowed.size > 0) {
      throw new CcfError(405, ErrorCode.UnsupportedHttpVerb, `Allowed methods for '${path}' are: ${[...allowed].join(", ")}.`, undefined, {
        allow: [...allowed].join(", "),
      });
    }
    return undefined;
  }

  /** Every (method, template) registered, for OpenAPI. */
  *entries(): Generator<{ method: string; template: string; value: T }> {
    for (const [template, byMethod] of this.exact) for (const [method, value] of byMethod) yield { method, template, value };
    for (const { method, template, value } of this.templates) yield { method, template, value };
  }
}

function matchSegments<T>(template: Template<T>, parts: string[]): Record<string, string> | undefined {
  if (template.segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const segment = template.segments[i]!;
    const part = parts[i]!;
    if (typeof segment === "string") {
      if (segment !== part) return undefined;
    } else {
      if (part.length <= segment.suffix.length || !part.endsWith(segment.suffix)) return undefined;
      params[template.names[n++]!] = part.slice(0, part.length - segment.suffix.length);
    }
  }
  return params;
}
