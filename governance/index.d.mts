/** The default constitution's source: one ES module exporting validate, resolve and apply. */
export function defaultConstitution(): string;
