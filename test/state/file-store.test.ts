import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStateStore, MAX_HISTORY } from '../../src/state/file-store.js';
import type { PersistedState } from '../../src/state/types.js';
import { waitFor } from '../helpers/wait.js';

const STORE_MODULE = fileURLToPath(new URL('../../src/state/file-store.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sampleState(generation: number): PersistedState {
  return {
    version: 1,
    generation,
    live: generation % 2 === 0 ? 'blue' : 'green',
    previous: generation === 0 ? null : 'blue',
    weights: { blue: 100, green: 0 },
    maintenance: false,
    servers: { blue: { '127.0.0.1:9001': { state: 'drain', weight: 2 } }, green: {} },
    history: [
      { at: '2024-05-01T12:00:00.000Z', action: 'switch', from: 'blue', to: 'green', generation, who: 'cli' },
    ],
  };
}

async function tempFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.tmp'));
}

t.test('a saved state loads back unchanged', async (t) => {
  const file = join(t.testdir(), 'state.json');
  const store = new FileStateStore(file);
  const state = sampleState(7);
  await store.save(state);
  t.same(await store.load(), { state });
  t.same(await new FileStateStore(file).load(), { state }, 'a fresh store reads it too');
  t.same(JSON.parse(await readFile(file, 'utf8')), state, 'the file is plain JSON');
  await store.close();
});

t.test('a missing file loads as no state and no problem', async (t) => {
  const store = new FileStateStore(join(t.testdir(), 'nope.json'));
  t.same(await store.load(), {});
});

t.test('corrupt JSON is reported as a problem naming the file, not thrown', async (t) => {
  const file = join(t.testdir({ 'state.json': '{"version": 1, "generation": ' }), 'state.json');
  const result = await new FileStateStore(file).load();
  t.equal(result.state, undefined);
  t.match(result.problem, file);
  t.match(result.problem, /not valid JSON/);
});

t.test('an unreadable path (a directory) is reported as a problem', async (t) => {
  const file = join(t.testdir({ 'state.json': {} }), 'state.json');
  const result = await new FileStateStore(file).load();
  t.equal(result.state, undefined);
  t.match(result.problem, /cannot read the state file/);
});

t.test('a wrong shape is reported as a problem naming each bad field', async (t) => {
  const bad = { ...sampleState(1), generation: 'x', maintenance: 'no', weights: { blue: -1 } };
  const file = join(t.testdir({ 'state.json': JSON.stringify(bad) }), 'state.json');
  const result = await new FileStateStore(file).load();
  t.equal(result.state, undefined);
  t.match(result.problem, file);
  t.match(result.problem, /generation must be a non-negative integer \(got "x"\)/);
  t.match(result.problem, /maintenance must be true or false/);
  t.match(result.problem, /weights\.blue must be a non-negative number/);
});

t.test('nested fields are validated: server overrides and history entries', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['version 2', { ...sampleState(1), version: 2 }, /version must be 1/],
    ['previous a number', { ...sampleState(1), previous: 3 }, /previous must be a string or null/],
    ['live missing', { ...sampleState(1), live: undefined }, /live must be a string/],
    ['unknown admin state', { ...sampleState(1), servers: { blue: { a: { state: 'off' } } } }, /servers\.blue\.a\.state/],
    ['fractional weight', { ...sampleState(1), servers: { blue: { a: { weight: 1.5 } } } }, /servers\.blue\.a\.weight/],
    ['servers pool not a record', { ...sampleState(1), servers: { blue: [] } }, /servers\.blue must be/],
    ['history not an array', { ...sampleState(1), history: {} }, /history must be an array/],
    [
      'history entry with a bad action and time',
      { ...sampleState(1), history: [{ at: 'yesterday', action: 'jump', from: null, to: 'b', generation: 1, who: 'x' }] },
      /history\[0\]\.at must be an ISO-8601 time.*history\[0\]\.action/,
    ],
    ['an array', [], /the state must be a JSON object/],
    ['null', null, /the state must be a JSON object/],
  ];
  for (const [name, value, problem] of cases) {
    const file = join(t.testdir(), `${name.replace(/\W+/g, '-')}.json`);
    await writeFile(file, JSON.stringify(value));
    const result = await new FileStateStore(file).load();
    t.match(result, { problem }, name);
    t.equal(result.state, undefined, `${name}: no state`);
  }
});

t.test('a long list of problems is capped', async (t) => {
  const history = Array.from({ length: 50 }, () => ({ bogus: true }));
  const file = join(t.testdir({ 'state.json': JSON.stringify({ ...sampleState(1), history }) }), 'state.json');
  const result = await new FileStateStore(file).load();
  t.match(result.problem, /and \d+ more$/);
  t.ok((result.problem ?? '').length < 2000, 'the message stays readable');
});

t.test('concurrent saves land in call order: the last one is on disk', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'state.json');
  const store = new FileStateStore(file);
  const finished: number[] = [];
  await Promise.all(
    Array.from({ length: 25 }, (_, i) => store.save(sampleState(i + 1)).then(() => finished.push(i + 1))),
  );
  t.same(finished, Array.from({ length: 25 }, (_, i) => i + 1), 'saves resolve in the order they were asked');
  t.equal((await store.load()).state?.generation, 25);
  t.same(await tempFiles(dir), [], 'no temp files are left behind');
});

t.test('close waits for the pending save', async (t) => {
  const file = join(t.testdir(), 'state.json');
  const store = new FileStateStore(file);
  let saved = false;
  const pending = store.save(sampleState(3)).then(() => {
    saved = true;
  });
  await store.close();
  t.ok(saved, 'the save had resolved when close resolved');
  await pending;
});

t.test('saving into a missing directory rejects clearly and leaves no temp file', async (t) => {
  const root = t.testdir();
  const dir = join(root, 'not-there');
  const file = join(dir, 'state.json');
  const store = new FileStateStore(file);
  await t.rejects(store.save(sampleState(1)), {
    code: 'SY_ERR_STATE_WRITE',
    message: new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the directory .*not-there does not exist`),
  });
  t.same(await tempFiles(root), []);

  // The queue is not stuck behind the failure.
  await mkdir(dir);
  await store.save(sampleState(2));
  t.equal((await store.load()).state?.generation, 2);
  t.same(await tempFiles(dir), []);
});

t.test('a state that cannot be serialised rejects naming the file', async (t) => {
  const file = join(t.testdir(), 'state.json');
  const store = new FileStateStore(file);
  const bad = { ...sampleState(1), generation: 10n } as unknown as PersistedState;
  await t.rejects(store.save(bad), { code: 'SY_ERR_STATE_WRITE', message: /state\.json: cannot serialise/ });
  await store.save(sampleState(2));
  t.equal((await store.load()).state?.generation, 2);
});

t.test('temp files left by a crashed save are removed on load', async (t) => {
  const dir = t.testdir({
    'state.json': JSON.stringify(sampleState(4)),
    // a dead process (pids never go this high) and our own pid from an earlier run (pid 1 in a container)
    'state.json.4000000000.1.tmp': '{"half": ',
    [`state.json.${process.pid}.999999.tmp`]: '{"half": ',
    // not ours: another file's temp, and a name that only looks similar
    'other.json.4000000000.1.tmp': 'keep',
    'state.json.tmp': 'keep',
  });
  const result = await new FileStateStore(join(dir, 'state.json')).load();
  t.equal(result.state?.generation, 4);
  t.same((await readdir(dir)).sort(), ['other.json.4000000000.1.tmp', 'state.json', 'state.json.tmp']);
});

t.test('a temp file of a live process is left alone', async (t) => {
  // process.ppid is alive for the whole test: it stands for another instance mid-save.
  const dir = t.testdir({ [`state.json.${process.ppid}.1.tmp`]: '{}' });
  t.same(await new FileStateStore(join(dir, 'state.json')).load(), {});
  t.same(await readdir(dir), [`state.json.${process.ppid}.1.tmp`]);
});

t.test('the store writes history as given; MAX_HISTORY is the callers’ cap', async (t) => {
  t.equal(MAX_HISTORY, 1000);
  const file = join(t.testdir(), 'state.json');
  const store = new FileStateStore(file);
  const entry = sampleState(1).history[0]!;
  const history = Array.from({ length: MAX_HISTORY + 5 }, (_, i) => ({ ...entry, generation: i }));
  await store.save({ ...sampleState(1), history });
  t.equal((await store.load()).state?.history.length, MAX_HISTORY + 5);
});

t.test('a state saved just before SIGKILL is still readable', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'state.json');
  const script = join(dir, 'child.mts');
  await writeFile(
    script,
    [
      `import { FileStateStore } from ${JSON.stringify(STORE_MODULE)};`,
      `const store = new FileStateStore(${JSON.stringify(file)});`,
      `await store.save(${JSON.stringify(sampleState(42))});`,
      `process.stdout.write('saved\\n');`,
      `setInterval(() => {}, 60_000);`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });

  await waitFor(() => stdout.includes('saved') || child.exitCode !== null, {
    timeoutMs: 30_000,
    message: 'the child to print "saved"',
  });
  t.ok(stdout.includes('saved'), `child saved (stderr: ${stderr})`);
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL');

  t.same(await new FileStateStore(file).load(), { state: sampleState(42) });
  t.same(await tempFiles(dir), []);
});
