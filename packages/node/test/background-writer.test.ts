// The ledger's background writer on real files: writes land in order, a step
// handed over after writes runs once they are in the file, writeNow puts
// everything in the file synchronously, and a failed write fails every later step.
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { BackgroundWriter, QUEUED_WRITES_MAX } from "../src/ledger/background-writer.ts";

const dir = mkdtempSync(join(tmpdir(), "confide-writer-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `count` buffers of `size` bytes, each filled with its index, and their concatenation. */
function pieces(count: number, size: number): { buffers: Buffer[]; all: Buffer } {
  const buffers = Array.from({ length: count }, (_, i) => Buffer.alloc(size, i % 256));
  return { buffers, all: Buffer.concat(buffers) };
}

describe("background writer", () => {
  it("writes handed over in one turn land in order; a later step sees them all in the file", async () => {
    const path = join(dir, "order");
    const fd = openSync(path, "w+");
    const errors: Error[] = [];
    const writer = new BackgroundWriter((error) => errors.push(error));
    const { buffers, all } = pieces(6, 70_000);
    const landed: number[] = [];
    let position = 0;
    buffers.forEach((bytes, i) => {
      writer.write(fd, bytes, position, () => landed.push(i));
      position += bytes.length;
    });
    assert.equal(readFileSync(path).length, 0, "nothing is written synchronously below the queue limit");
    let seen: Buffer | undefined;
    await writer.after(async () => {
      seen = readFileSync(path);
    });
    assert.deepEqual(seen, all);
    assert.deepEqual(landed, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(errors, []);
    closeSync(fd);
  });

  it("writeNow puts queued writes in the file at once, and a full queue is written synchronously", async () => {
    const path = join(dir, "now");
    const fd = openSync(path, "w+");
    const writer = new BackgroundWriter(() => {});
    const { buffers, all } = pieces(3, 1000);
    writer.write(fd, buffers[0]!, 0);
    writer.write(fd, buffers[1]!, 1000);
    writer.writeNow();
    assert.deepEqual(readFileSync(path), all.subarray(0, 2000));
    writer.write(fd, buffers[2]!, 2000);
    await writer.idle();
    assert.deepEqual(readFileSync(path), all);

    const many = pieces(20, 100);
    for (let i = 0; i < 20; i++) writer.write(fd, many.buffers[i]!, 3000 + i * 100);
    // More than the queue may hold: the excess forced a synchronous write of everything queued.
    assert.ok(readFileSync(path).length > 3000, "a full queue is written without waiting for the event loop");
    await writer.idle();
    assert.deepEqual(readFileSync(path), Buffer.concat([all, many.all]));
    closeSync(fd);
  });

  it("a burst that never yields holds at most the queue bound of buffers unwritten (memory stays flat)", async () => {
    const path = join(dir, "bound");
    const fd = openSync(path, "w+");
    const writer = new BackgroundWriter(() => {});
    const burst = pieces(100, 4096);
    let handedOver = 0;
    let landed = 0;
    let mostUnwritten = 0;
    burst.buffers.forEach((bytes, i) => {
      writer.write(fd, bytes, i * 4096, () => landed++);
      handedOver++;
      mostUnwritten = Math.max(mostUnwritten, handedOver - landed);
    });
    assert.equal(mostUnwritten, QUEUED_WRITES_MAX);
    await writer.idle();
    assert.equal(landed, 100);
    assert.deepEqual(readFileSync(path), burst.all);
    closeSync(fd);
  });

  it("writeNow also covers a write a running step has taken; its buffer is released once, after the step", async () => {
    const path = join(dir, "running");
    const fd = openSync(path, "w+");
    const writer = new BackgroundWriter(() => {});
    const big = pieces(8, 1 << 20);
    let landed = 0;
    writer.write(fd, big.all, 0, () => landed++);
    await new Promise((resolve) => setImmediate(resolve)); // the step has taken the write
    writer.writeNow();
    assert.deepEqual(readFileSync(path), big.all, "in the file when writeNow returns");
    await writer.idle();
    assert.equal(landed, 1);
    assert.deepEqual(readFileSync(path), big.all);
    closeSync(fd);
  });

  it("a failed write is reported once, and every later step and write fails with it", async () => {
    const fd = openSync("/dev/full", "w");
    const errors: Error[] = [];
    const writer = new BackgroundWriter((error) => errors.push(error));
    writer.write(fd, Buffer.alloc(4096, 1), 0);
    await assert.rejects(writer.after(async () => {}), /ENOSPC/);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /ENOSPC/);
    assert.throws(() => writer.write(fd, Buffer.alloc(10), 0), /ENOSPC/);
    await assert.rejects(writer.after(async () => {}), /ENOSPC/);
    assert.equal(errors.length, 1, "reported once");
    closeSync(fd);
  });
});
