// Stack traces in the app's own sources: a module built with an inline source map (esbuild's
// `sourcemap: "inline"`, as `npm run build` writes the dev bundle) carries the map from its
// generated lines back to the TypeScript it came from. A trace line "at fn (/endpoints/x.js:12:5)"
// becomes "at fn (src/endpoints/x.ts:30:7)". Modules without a map keep their frames as they are.
import { SourceMapConsumer, type RawSourceMap } from "source-map-js";

const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json(?:;charset=[^;,]+)?;base64,([A-Za-z0-9+/=]+)\s*$/;
/** A QuickJS frame: "    at name (/module.js:line:column)". */
const FRAME = /\(\/?([^():]+):(\d+):(\d+)\)/;

export class SourceMaps {
  /** Parsed on first use; null: the module has no (usable) inline map. */
  private readonly consumers = new Map<string, SourceMapConsumer | null>();

  constructor(private readonly modules: ReadonlyMap<string, string>) {}

  /** The trace with every frame of a mapped module pointing into the original sources. */
  mapTrace(trace: string): string {
    return trace
      .split("\n")
      .map((line) =>
        line.replace(FRAME, (frame, module: string, line: string, column: string) => {
          const original = this.consumer(module)?.originalPositionFor({ line: Number(line), column: Number(column) - 1 });
          if (!original?.source || original.line === null) return frame;
          return `(${original.source}:${original.line}:${(original.column ?? 0) + 1})`;
        }),
      )
      .join("\n");
  }

  private consumer(module: string): SourceMapConsumer | null {
    const cached = this.consumers.get(module);
    if (cached !== undefined) return cached;
    const source = this.modules.get(module) ?? this.modules.get(`/${module}`) ?? this.modules.get(module.replace(/^\/+/, ""));
    const match = source === undefined ? null : INLINE_MAP.exec(source);
    let consumer: SourceMapConsumer | null = null;
    if (match) {
      try {
        consumer = new SourceMapConsumer(JSON.parse(Buffer.from(match[1]!, "base64").toString("utf8")) as RawSourceMap);
      } catch {
        consumer = null; // a broken map: the trace stays as QuickJS gave it
      }
    }
    this.consumers.set(module, consumer);
    return consumer;
  }
}
