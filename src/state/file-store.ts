/**
 * state/file-store — PersistedState in one JSON file, replaced atomically.
 *
 * A save writes a temp file beside the target, fsyncs it, renames it over the
 * target and fsyncs the directory, so after a crash or power loss the file is
 * either the old state or the new one, never a torn mix (rename(2) is atomic
 * within a filesystem; the directory fsync makes the rename itself durable).
 * Saves run one at a time in call order, so a slow older save can never land
 * after a newer one.
 *
 * History is not trimmed here: the store writes exactly what it is given.
 * Callers keep `history` to at most MAX_HISTORY entries before saving.
 */
import { open, readFile, readdir, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SwitchyardError } from '../errors.js';
import type { LoadResult, PersistedState, StateStore } from './types.js';
import { validatePersistedState } from './validate.js';

/** MAX_HISTORY — the most history entries callers should keep; the store itself writes what it gets. */
export const MAX_HISTORY = 1000;

/**
 * Directory fsync is refused on some platforms and filesystems (Windows gives
 * EISDIR/EPERM, some network and FUSE filesystems EINVAL/ENOTSUP). There the
 * rename is as durable as the platform allows, so those codes are not failures.
 */
const DIR_SYNC_UNSUPPORTED: ReadonlySet<string> = new Set(['EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP']);

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Is the process with this id gone? Unknown (EPERM: someone else's process) counts as alive. */
function processGone(pid: number): boolean {
  if (pid > 0x7fffffff) return true; // no such pid can exist; process.kill would throw a type error
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return errorCode(err) === 'ESRCH';
  }
}

/**
 * Shared by every store in this process, so two stores on the same file never
 * pick the same temp name nor clean up each other's temp files mid-save.
 */
let tempCounter = 0;
const writing = new Set<string>();

/** FileStateStore — a StateStore backed by one JSON file written with temp file + fsync + rename. */
export class FileStateStore implements StateStore {
  readonly #file: string;
  readonly #dir: string;
  /** Matches `<name>.<pid>.<counter>.tmp`, the temp names save() uses for this file. */
  readonly #tmpPattern: RegExp;
  /** The tail of the save queue; never rejects, so one failed save does not block the next. */
  #tail: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.#file = resolve(file);
    this.#dir = dirname(this.#file);
    this.#tmpPattern = new RegExp(`^${escapeRegExp(basename(this.#file))}\\.(\\d+)\\.\\d+\\.tmp$`);
  }

  /** file — the absolute path of the state file. */
  get file(): string {
    return this.#file;
  }

  /** load — reads and validates the file: `{}` when missing, `{ problem }` when unusable; never throws. */
  async load(): Promise<LoadResult> {
    await this.#removeStaleTemps();
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return {};
      return { problem: `${this.#file}: cannot read the state file: ${errorMessage(err)}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { problem: `${this.#file}: not valid JSON: ${errorMessage(err)}` };
    }
    const check = validatePersistedState(parsed);
    if (!check.ok) return { problem: `${this.#file}: ${check.problems.join('; ')}` };
    return { state: check.state };
  }

  /** save — durably replaces the file with `state`; queued behind any running save; rejects with SY_ERR_STATE_WRITE. */
  save(state: PersistedState): Promise<void> {
    let json: string;
    try {
      // Serialise now, not when the queue reaches us: the caller's object is
      // captured as it was at call time.
      json = `${JSON.stringify(state, null, 2)}\n`;
    } catch (err) {
      return Promise.reject(this.#fail('cannot serialise the state', err));
    }
    const run = this.#tail.then(() => this.#write(json));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** close — resolves once every save already asked for has finished (succeeded or failed). */
  async close(): Promise<void> {
    await this.#tail;
  }

  async #write(json: string): Promise<void> {
    tempCounter += 1;
    const tmp = `${this.#file}.${process.pid}.${tempCounter}.tmp`;
    writing.add(tmp);
    let fh: FileHandle | undefined;
    try {
      try {
        // 'wx': never reuse a file someone else left under this name.
        fh = await open(tmp, 'wx');
      } catch (err) {
        if (errorCode(err) === 'ENOENT') throw this.#fail(`the directory ${this.#dir} does not exist`, err);
        throw err;
      }
      await fh.writeFile(json, 'utf8');
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, this.#file);
      await this.#syncDir();
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err instanceof SwitchyardError ? err : this.#fail('cannot write the state file', err);
    } finally {
      writing.delete(tmp);
    }
  }

  async #syncDir(): Promise<void> {
    let dh: FileHandle | undefined;
    try {
      dh = await open(this.#dir, 'r');
      await dh.sync();
    } catch (err) {
      const code = errorCode(err);
      if (code === undefined || !DIR_SYNC_UNSUPPORTED.has(code)) throw err;
    } finally {
      await dh?.close().catch(() => undefined);
    }
  }

  /**
   * Best effort: deletes `<name>.<pid>.<n>.tmp` files a crashed save left
   * behind. Skips temps this process is writing, and temps of a process that
   * is still alive (another instance mid-save); a pid equal to ours but not in
   * `writing` is a leftover from an earlier run that had the same pid (pid 1 in
   * a container).
   */
  async #removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return;
    }
    await Promise.all(
      names.map(async (name) => {
        const m = this.#tmpPattern.exec(name);
        if (m === null) return;
        const path = join(this.#dir, name);
        if (writing.has(path)) return;
        const pid = Number(m[1]);
        if (pid !== process.pid && !processGone(pid)) return;
        await rm(path, { force: true }).catch(() => undefined);
      }),
    );
  }

  #fail(what: string, cause: unknown): SwitchyardError {
    return new SwitchyardError('SY_ERR_STATE_WRITE', `${this.#file}: ${what}: ${errorMessage(cause)}`, { cause });
  }
}
