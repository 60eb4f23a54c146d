/**
 * A free list of equal-size read buffers. A session takes one when its reads turn bulk and gives it
 * back when they are small again or it ends, so a list being relayed does not allocate (and later
 * garbage-collect) 64 KiB per session. A buffer still referenced by a pending write is never given back.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    private readonly maxFree: number,
  ) {}

  /** A buffer of `bufferBytes`, reused when one is free. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
  }

  /** Returns a buffer nobody references any more. */
  give(buf: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(buf);
  }
}
