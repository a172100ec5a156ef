// How module names resolve, as CCF's module loader does: names are absolute
// ("/" + the path in the bundle); a relative import resolves against the
// importing module's name.

/** The full name of the module `requested` by the module named `base`. */
export function resolveModuleName(base: string, requested: string): string {
  if (!requested.startsWith(".")) return requested.startsWith("/") ? requested : `/${requested}`;
  return new URL(requested, `file://${base}`).pathname;
}
