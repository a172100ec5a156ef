// Network addresses as CCF's configuration writes them: "host:port", or "[ipv6]:port".

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" or "[ipv6]:port" (port 0-65535; 0 lets the OS pick); undefined for anything else. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

/** The inverse of parseHostPort: brackets an IPv6 host. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
