// keygenerator.sh, as CCF installs it in /opt/ccf_virtual/bin: makes a
// participant's identity in the current directory, <name>_privk.pem and
// <name>_cert.pem (P-384, self-signed), and with --gen-enc-key an RSA
// encryption key pair <name>_enc_privk.pem / <name>_enc_pubk.pem. The keys
// come from keys.ts (the SDK's keygen); this adds CCF's flags.
import { parseArgs } from "node:util";
import { keygen } from "../keys.ts";

const USAGE = `Usage: keygenerator.sh --name <name> [--curve secp384r1] [--gen-enc-key]

Generates a private key and self-signed certificate for a CCF participant (member or user).
  -n, --name         name of the participant (required): <name>_privk.pem, <name>_cert.pem
  -c, --curve        elliptic curve of the identity key; only secp384r1 (the default)
  -e, --gen-enc-key  also make an RSA encryption key pair, for recovery members`;

/** The command: 0 on success, 1 for bad arguments or when the files cannot be written. */
export async function keygeneratorMain(argv: string[]): Promise<number> {
  let values: { name?: string; curve?: string; "gen-enc-key"?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        name: { type: "string", short: "n" },
        curve: { type: "string", short: "c" },
        "gen-enc-key": { type: "boolean", short: "e" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 1;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.name === undefined) {
    process.stderr.write(`The name of the participant should be specified (e.g. member0 or user0)\n${USAGE}\n`);
    return 1;
  }
  if (values.curve !== undefined && values.curve !== "secp384r1") {
    process.stderr.write(`Curve ${values.curve} is not supported: Confide identities are secp384r1, as CCF's default\n`);
    return 1;
  }
  const name = values.name;
  try {
    process.stdout.write(`-- Generating identity private key and certificate for participant "${name}"...\nIdentity curve: secp384r1\n`);
    const { files } = await keygen(name, { encryption: values["gen-enc-key"] === true });
    process.stdout.write(`Identity private key generated at:   ${files.privateKey}\nIdentity certificate generated at:   ${files.cert} (to be registered in CCF)\n`);
    if (files.encryptionPublicKey !== undefined) {
      process.stdout.write(
        `-- Generating RSA encryption key pair for participant "${name}"...\nEncryption private key generated at:  ${files.encryptionPrivateKey}\nEncryption public key generated at:   ${files.encryptionPublicKey} (to be registered in CCF)\n`,
      );
    }
    return 0;
  } catch (error) {
    process.stderr.write(`keygenerator.sh: ${(error as Error).message}\n`);
    return 1;
  }
}
