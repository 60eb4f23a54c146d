import { PassThrough } from 'node:stream';

/** Runs a command function that writes to (out, err) and returns its exit code, with both texts. */
export async function runWithStreams(command: (out: NodeJS.WritableStream, err: NodeJS.WritableStream) => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const text = { out: '', err: '' };
  out.on('data', (c: Buffer) => (text.out += c.toString()));
  err.on('data', (c: Buffer) => (text.err += c.toString()));
  const code = await command(out, err);
  return { code, ...text };
}
