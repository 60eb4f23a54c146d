// The kubeha release package (scripts/package.mjs) as apply sees it: a tarball for / whose
// opt/kubeha/VERSION-ARCH/RELEASE holds the line `kubeha version` prints from it. apply installs the
// package on an LB host whose `kubeha version` says something else.
import { execFile } from 'node:child_process';

/** Reads the RELEASE line of a package; rejects with what is wrong with the file. */
export function packageRelease(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tar', ['-xzOf', file, '--wildcards', 'opt/kubeha/*/RELEASE'], { encoding: 'utf8', maxBuffer: 1 << 16 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n')[0] ?? '';
      if (err || !/^kubeha \S+ \(node v\d/.test(line)) reject(new Error(`${file} is not a kubeha release package (npm run package makes one): ${(stderr || line || String(err)).trim()}`));
      else resolve(line);
    });
  });
}
