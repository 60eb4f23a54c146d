#!/usr/bin/env node
// Entry point for `npx kubeha`: the compiled CLI lives in dist/ (built by `npm ci` through `prepare`).
import { main } from '../dist/src/cli/main.js';

/**
 * `kubeha lint ... | head`: once the reader of stdout (or stderr) went away, writing to it fails with
 * EPIPE. That is no error of ours, so no stack trace: what is not written yet is dropped, and the next
 * write ends the process with the exit code so far. A command that writes nothing more (render --diff
 * stops writing itself) still finishes and exits with its own code.
 */
function quietWhenReaderGone(stream) {
  stream.on('error', (err) => {
    if (err?.code !== 'EPIPE' && err?.code !== 'ERR_STREAM_DESTROYED') throw err;
    stream.write = () => {
      process.exit(process.exitCode ?? 0);
    };
  });
}
quietWhenReaderGone(process.stdout);
quietWhenReaderGone(process.stderr);

main(process.argv).catch((err) => {
  process.stderr.write(`kubeha: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
