// The consortium's identities, made once with the SDK's keygen (CCF's
// keygenerator.sh) and read back on every later start: one member per bank
// with signing and encryption keys, and each bank's users.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { certId } from "@confide/node";
import { keygen, readIdentity, type Identity } from "../keys.ts";
import { PARTIES, partySlug, type Party } from "./demo.ts";

export interface SandboxMember {
  name: string;
  party: Party;
  id: string;
  identity: Identity;
  encryptionPublicKeyPem: string;
  files: { cert: string; privateKey: string; encryptionPublicKey: string; encryptionPrivateKey: string };
}

export interface SandboxUser {
  name: string;
  party: Party;
  /** Index among its bank's users. */
  index: number;
  id: string;
  identity: Identity;
  files: { cert: string; privateKey: string };
}

export interface Consortium {
  members: SandboxMember[];
  users: SandboxUser[];
  /** How many identities were made on this start (0 when all were reused). */
  created: number;
}

const files = (dir: string, name: string) => ({
  cert: join(dir, `${name}_cert.pem`),
  privateKey: join(dir, `${name}_privk.pem`),
  encryptionPublicKey: join(dir, `${name}_enc_pubk.pem`),
  encryptionPrivateKey: join(dir, `${name}_enc_privk.pem`),
});

/** Reads each identity from `dir`, making (and writing) those that are missing. */
export async function loadOrCreateConsortium(dir: string, usersPerBank: number): Promise<Consortium> {
  let created = 0;
  const members: SandboxMember[] = [];
  const users: SandboxUser[] = [];
  for (const party of PARTIES) {
    const name = partySlug(party);
    const paths = files(dir, name);
    if (![paths.cert, paths.privateKey, paths.encryptionPublicKey, paths.encryptionPrivateKey].every((path) => existsSync(path))) {
      await keygen(name, { dir, encryption: true });
      created++;
    }
    const identity = readIdentity(paths.cert, paths.privateKey);
    members.push({ name, party, id: certId(identity.certPem), identity, encryptionPublicKeyPem: readFileSync(paths.encryptionPublicKey, "utf8"), files: paths });
  }
  for (const party of PARTIES) {
    for (let index = 0; index < usersPerBank; index++) {
      const name = `${partySlug(party)}_user${index}`;
      const { cert, privateKey } = files(dir, name);
      if (!existsSync(cert) || !existsSync(privateKey)) {
        await keygen(name, { dir });
        created++;
      }
      const identity = readIdentity(cert, privateKey);
      users.push({ name, party, index, id: certId(identity.certPem), identity, files: { cert, privateKey } });
    }
  }
  return { members, users, created };
}
