/**
 * test/helpers/promtool — lint a /metrics exposition with Prometheus's own
 * `promtool check metrics` (Debian package "prometheus"; .ci/run installs it).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Test } from 'tap';

const PROMTOOL = '/usr/bin/promtool';

/** promtoolCheck — runs `promtool check metrics` on the text; FAILS the test (no skip) when promtool is missing. */
export async function promtoolCheck(t: Test, text: string, what: string): Promise<void> {
  if (!existsSync(PROMTOOL)) {
    t.fail(`${PROMTOOL} not found: install promtool (Debian package "prometheus"; .ci installs it) to lint /metrics`);
    return;
  }
  const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  child.stdin.end(text);
  const code = await exited;
  t.equal(code, 0, `promtool check metrics passes on ${what}${out === '' ? '' : `:\n${out}`}`);
}

