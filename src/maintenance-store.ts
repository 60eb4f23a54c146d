// Maintenance survives a restart, like keepalived's track_file: the runbook is "maintenance on,
// patch, reboot", and a node that forgot it would take the VIP back the moment it came up.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The names (VRRP instances, the VIP election) in maintenance, kept in `DIR/maintenance.json`. */
export class MaintenanceStore {
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, 'maintenance.json');
  }

  /** The names saved by the last run; none when there is no file. Throws on a file that cannot be read or parsed. */
  load(): string[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed: unknown = JSON.parse(text);
    const names = (parsed as { maintenance?: unknown }).maintenance;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new Error(`${this.path}: expected {"maintenance": ["name", ...]}`);
    return names;
  }

  /** Saves `names` atomically (a crash mid-write leaves the old file, never half a file). */
  save(names: Iterable<string>): void {
    const dir = join(this.path, '..');
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ maintenance: [...names].sort(), savedAt: new Date().toISOString() })}\n`);
    renameSync(tmp, this.path);
  }
}
