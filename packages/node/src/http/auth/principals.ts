// Users and members as the authentication policies look them up: the
// certificate in `<kind>s.certs` (raw PEM) under the id, and the free-form
// `user_data` / `member_data` of `<kind>s.info` (JSON) that the caller carries
// (CCF's get_user_data_v1 / get_member_data_v1: null when there is none).
import { Tables } from "../../tables.ts";
import type { Caller, TableReader } from "./types.ts";

export type PrincipalKind = "user" | "member";

const TABLES = {
  user: { certs: Tables.usersCerts, info: Tables.usersInfo, dataField: "user_data" },
  member: { certs: Tables.membersCerts, info: Tables.membersInfo, dataField: "member_data" },
} as const;

/** The PEM certificate registered under the id (given as its key bytes), if any. */
export function registeredCertPem(kind: PrincipalKind, idKeyBytes: Buffer, read: TableReader): string | undefined {
  return read(TABLES[kind].certs, idKeyBytes)?.toString("utf8");
}

/** `{policy, id, data, cert}`: the caller of the cert and COSE policies. */
export function principalCaller(
  policy: string,
  kind: PrincipalKind,
  id: string,
  idKeyBytes: Buffer,
  certPem: string,
  read: TableReader,
): Caller {
  const info = read(TABLES[kind].info, idKeyBytes);
  const data = info === undefined ? null : ((JSON.parse(info.toString("utf8")) as Record<string, unknown>)[TABLES[kind].dataField] ?? null);
  return { policy, id, data, cert: certPem };
}
