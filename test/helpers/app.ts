/**
 * test/helpers/app — start a real Switchyard in the test process: proxy,
 * preview and admin listeners on 127.0.0.1 port 0, a temp state file, a silent
 * (or captured) logger, real upstreams given by the test. Stopped in teardown.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { pino, type Logger } from 'pino';
import { createApp, type App } from '../../src/app.js';
import { resolveConfig } from '../../src/config/load.js';
import { request, type TestResponse } from './http.js';

export const TOKEN = 'test-token';

/** SwitchyardUnderTest — a started app and handy URLs. */
export interface SwitchyardUnderTest {
  readonly app: App;
  /** http://127.0.0.1:PORT of the public proxy listener. */
  readonly url: string;
  readonly previewUrl: string | undefined;
  readonly adminUrl: string;
  readonly stateFile: string;
  readonly dir: string;
  /** api — call the admin API with the token (unless `token: null`). */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>, token?: string | null): Promise<TestResponse & { json: unknown }>;
  stop(): Promise<boolean>;
}

/** PoolSpec — pool name → upstream addresses (plus optional pool keys). */
export type PoolSpec = Record<string, { servers: ({ address: string; weight?: number; id?: string } | string)[]; balance?: string; hashKey?: string; passive?: Record<string, number>; health?: Record<string, unknown> }>;

/** startSwitchyard — build and start; `extra` merges over the generated config. */
export async function startSwitchyard(
  t: Test,
  pools: PoolSpec,
  extra: Record<string, unknown> = {},
  options: { log?: Logger; dir?: string; preview?: boolean } = {},
): Promise<SwitchyardUnderTest> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'switchyard-test-')));
  const stateFile = join(dir, 'state.json');
  const poolEntries = Object.fromEntries(
    Object.entries(pools).map(([name, p]) => [
      name,
      { ...p, servers: p.servers.map((s) => (typeof s === 'string' ? { address: s } : s)) },
    ]),
  );
  const raw: Record<string, unknown> = {
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0', ...(options.preview === false ? {} : { preview: '127.0.0.1:0' }) },
    admin: { token: TOKEN },
    state: { file: stateFile },
    live: Object.keys(pools)[0],
    pools: poolEntries,
    // Fast enough for tests that wait on health flips, slack enough not to flap on a loaded 2-core CI box.
    health: { intervalMs: 100, timeoutMs: 100, rise: 1, fall: 2 },
    log: { level: 'silent' },
    ...extra,
  };
  if (Object.keys(pools).length < 2) delete (raw.listen as Record<string, unknown>).preview;
  const config = resolveConfig(raw, join(dir, 'switchyard.yaml'), {});
  const app = await createApp(config, { log: options.log ?? pino({ level: 'silent' }), defaultMetrics: false });
  await app.start();
  let stopped: Promise<boolean> | undefined;
  const stop = (): Promise<boolean> => (stopped ??= app.stop());
  t.teardown(async () => {
    await stop();
    if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
  });
  const adminUrl = `http://${app.addresses.admin}`;
  return {
    app,
    url: `http://${app.addresses.http}`,
    previewUrl: app.addresses.preview === undefined ? undefined : `http://${app.addresses.preview}`,
    adminUrl,
    stateFile,
    dir,
    stop,
    async api(method, path, body, headers = {}, token = TOKEN) {
      const h: Record<string, string> = { ...headers };
      if (token !== null) h.authorization = `Bearer ${token}`;
      if (body !== undefined) h['content-type'] ??= 'application/json';
      const res = await request(`${adminUrl}${path}`, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      let json: unknown;
      try {
        json = JSON.parse(res.body);
      } catch {
        json = undefined;
      }
      return { ...res, json };
    },
  };
}
