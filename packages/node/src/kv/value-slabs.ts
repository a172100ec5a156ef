// Where the store keeps its values: copied into large slabs that hold nothing
// else, so a value neither costs an allocation of its own (slow: each one is
// external memory V8 accounts for) nor pins a chunk of Node's shared Buffer pool
// full of a transaction's throwaway buffers (measured: ~0.7 KB per stored key).
// Overwritten values leave garbage in their slab; the store compacts (copies its
// live values into fresh slabs) once the slabs it allocated exceed twice its live
// bytes, so memory stays proportional to the data, at amortised O(1) per byte.

const SLAB_BYTES = 64 * 1024;
/** Values this large get an allocation each: a slab would hold too few of them. */
const OWN_ALLOCATION_BYTES = 4096;

export class ValueSlabs {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;
  /** Bytes of slabs and own allocations made so far. */
  allocatedBytes = SLAB_BYTES;

  copy(bytes: Uint8Array): Buffer {
    const length = bytes.length;
    if (length >= OWN_ALLOCATION_BYTES) {
      const own = Buffer.allocUnsafeSlow(length);
      own.set(bytes);
      this.allocatedBytes += length;
      return own;
    }
    if (this.used + length > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
      this.allocatedBytes += SLAB_BYTES;
    }
    const copy = this.slab.subarray(this.used, this.used + length);
    copy.set(bytes);
    this.used += length;
    return copy;
  }
}

/** Compaction pays once the slabs hold this much more than the live values. */
export function needsCompaction(slabs: ValueSlabs, liveBytes: number): boolean {
  return slabs.allocatedBytes > 2 * liveBytes + 4 * SLAB_BYTES;
}
