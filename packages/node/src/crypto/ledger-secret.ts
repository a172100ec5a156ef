// The ledger secret: the AES-256-GCM key that encrypts every private write set,
// and the root of the commit-evidence nonces (revealed only in receipts of
// committed transactions, so a Pending transaction cannot be passed off as
// committed).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomFillSync, type Cipher } from "node:crypto";
import { sha256 } from "./hash.ts";

export const LEDGER_SECRET_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Ciphertext layout: IV ‖ GCM tag ‖ encrypted bytes. */
export const SEAL_OVERHEAD_BYTES = IV_BYTES + TAG_BYTES;

export class DecryptionError extends Error {}

/** IVs are drawn from the CSPRNG in batches: a fresh random 96-bit IV per entry, without a syscall per entry. */
class IvPool {
  private pool = Buffer.alloc(0);
  private used = 0;
  next(): Buffer {
    if (this.used + IV_BYTES > this.pool.length) {
      this.pool = randomFillSync(Buffer.allocUnsafe(IV_BYTES * 4096));
      this.used = 0;
    }
    const iv = this.pool.subarray(this.used, this.used + IV_BYTES);
    this.used += IV_BYTES;
    return iv;
  }
}

export class LedgerSecret {
  private readonly ivs = new IvPool();
  /** Key of the commit-evidence PRF, derived so the encryption key is never used for anything else. */
  private readonly commitKey: Buffer;
  private readonly noncePrf: Cipher;
  /** Nonces (in hex) of NONCE_BATCH consecutive seqnos of one view, made by one cipher call (commits ask in order). */
  private nonces: { view: number; first: number; hex: string } | undefined;
  /** A short public fingerprint, to name the secret in errors without revealing it. */
  readonly fingerprint: string;

  constructor(readonly key: Buffer) {
    if (key.length !== LEDGER_SECRET_BYTES) throw new Error(`ledger secret must be ${LEDGER_SECRET_BYTES} bytes`);
    this.commitKey = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "confide commit evidence", 32));
    this.noncePrf = createCipheriv("aes-256-ecb", this.commitKey, null);
    this.noncePrf.setAutoPadding(false);
    this.fingerprint = sha256(Buffer.concat([Buffer.from("confide ledger secret id:"), key])).toString("hex").slice(0, 16);
  }

  static generate(): LedgerSecret {
    return new LedgerSecret(randomBytes(LEDGER_SECRET_BYTES));
  }

  /** AES-256-GCM with a random IV; `aad` (the transaction id) is authenticated, not encrypted. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Buffer {
    return sealWithKey(this.key, this.ivs.next(), plaintext, aad);
  }

  open(sealed: Uint8Array, aad: Uint8Array): Buffer {
    return openWithKey(this.key, sealed, aad);
  }

  /**
   * CCF's commit evidence "ce:<view>.<seqno>:<64 hex nonce>". The nonce is a PRF
   * of the tx id under the commit key: only the secret holder can produce it.
   */
  commitEvidence(view: number, seqno: number): string {
    return `ce:${view}.${seqno}:${this.nonceHex(view, seqno)}`;
  }

  /** SHA-256 of commitEvidence(view, seqno): this runs on every commit. */
  commitEvidenceDigest(view: number, seqno: number): Buffer {
    return sha256(this.commitEvidence(view, seqno));
  }

  private nonceHex(view: number, seqno: number): string {
    const batch = this.nonces;
    const offset = batch !== undefined && batch.view === view ? seqno - batch.first : -1;
    if (offset >= 0 && offset < NONCE_BATCH) return batch!.hex.slice(offset * NONCE_HEX_CHARS, (offset + 1) * NONCE_HEX_CHARS);
    // Commits move forward: a tx id past the batch starts the next one. One behind it (a receipt
    // for an older transaction) gets its nonce on its own, leaving the batch for the commits.
    const ahead = batch === undefined || view > batch.view || offset >= NONCE_BATCH;
    const hex = this.noncePrf.update(nonceBlocks(view, seqno, ahead ? NONCE_BATCH : 1)).toString("hex");
    if (ahead) this.nonces = { view, first: seqno, hex };
    return hex.slice(0, NONCE_HEX_CHARS);
  }
}

/** AES-256-GCM under `key` with the given fresh IV: IV ‖ tag ‖ ciphertext. */
export function sealWithKey(key: Buffer, iv: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  cipher.final();
  const out = Buffer.allocUnsafe(SEAL_OVERHEAD_BYTES + body.length);
  iv.copy(out, 0);
  cipher.getAuthTag().copy(out, IV_BYTES);
  body.copy(out, SEAL_OVERHEAD_BYTES);
  return out;
}

/** Opens what sealWithKey sealed; DecryptionError if the key, the AAD or the bytes differ. */
export function openWithKey(key: Buffer, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (sealed.length < SEAL_OVERHEAD_BYTES) throw new DecryptionError("ciphertext shorter than IV and tag");
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(bytes.subarray(IV_BYTES, SEAL_OVERHEAD_BYTES));
  const body = decipher.update(bytes.subarray(SEAL_OVERHEAD_BYTES));
  try {
    decipher.final();
  } catch {
    throw new DecryptionError("authentication tag mismatch (wrong ledger secret, or altered ciphertext)");
  }
  return body;
}

/** A fresh random IV, for seals too rare to need the pool. */
export function randomIv(): Buffer {
  return randomBytes(IV_BYTES);
}

const NONCE_BYTES = 32;
const NONCE_HEX_CHARS = 2 * NONCE_BYTES;
const NONCE_BATCH = 1024;

/**
 * The PRF inputs of `count` consecutive seqnos: for each, two distinct AES blocks naming the tx
 * id, whose encryptions under the commit key are its 32-byte nonce. AES is a PRF on distinct
 * inputs, and one ECB call over many blocks costs far less than a call (or a hash) per nonce.
 */
function nonceBlocks(view: number, firstSeqno: number, count: number): Buffer {
  const blocks = Buffer.alloc(count * NONCE_BYTES);
  for (let i = 0; i < count; i++) {
    const at = i * NONCE_BYTES;
    blocks.writeUIntLE(firstSeqno + i, at, 6);
    blocks.writeUIntLE(view, at + 6, 6);
    blocks.copy(blocks, at + 16, at, at + 15);
    blocks[at + 31] = 1;
  }
  return blocks;
}
