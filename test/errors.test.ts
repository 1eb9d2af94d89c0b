import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest } from 'undici';
import {
  ERROR_CATALOGUE,
  SwitchyardError,
  classifyUpstreamError,
  statusForError,
  upstreamErrorKind,
  type ErrorCode,
} from '../src/errors.js';
import { freePort } from './helpers/http.js';
import { startUpstream } from './helpers/upstream.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** errorCodesSection — the text under README's "Error codes" heading, up to the next heading of the same or a higher level. */
function errorCodesSection(readme: string): string | undefined {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => /^#{1,6}\s+Error codes\b/i.test(l));
  if (start < 0) return undefined;
  const level = /^(#+)/.exec(lines[start] as string)?.[1]?.length ?? 1;
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => {
    const m = /^(#+)\s/.exec(l);
    return m !== null && (m[1] as string).length <= level;
  });
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

t.test('every catalogue code is documented in the README "Error codes" section', async (t) => {
  let readme: string;
  try {
    readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  } catch (err) {
    t.fail(`README.md cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); it must list every SY_ERR_* code under an "Error codes" heading`);
    return;
  }
  const section = errorCodesSection(readme);
  if (section === undefined) {
    t.fail('README.md has no "Error codes" heading');
    return;
  }
  const missing = CODES.filter((code) => !new RegExp(`\\b${code}\\b`).test(section));
  t.same(missing, [], 'codes missing from README "Error codes"');
});

t.test('every SY_ERR_* code the source uses is in the catalogue', async (t) => {
  const used = new Map<string, string>();
  for (const file of await sourceFiles(join(ROOT, 'src'))) {
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/\bSY_ERR_[A-Z0-9_]+\b/g)) used.set(m[0], relative(ROOT, file));
  }
  t.ok(used.size >= CODES.length / 2, 'the scan found the codes the source uses');
  const unknown = [...used].filter(([code]) => !(code in ERROR_CATALOGUE)).map(([code, file]) => `${code} (${file})`);
  t.same(unknown, [], 'codes used in src/ but missing from ERROR_CATALOGUE');
});

t.test('catalogue entries are well formed and upstream faults never map to 500', async (t) => {
  for (const code of CODES) {
    const e = ERROR_CATALOGUE[code];
    t.match(code, /^SY_ERR_[A-Z_]+$/);
    t.ok(e.description.length > 10, `${code} has a description`);
    t.ok(e.statusCode >= 400 && e.statusCode <= 599, `${code} maps to an error status`);
    if (e.source === 'upstream') t.ok(e.statusCode === 502 || e.statusCode === 504, `${code} is 502 or 504`);
  }
});

t.test('SwitchyardError carries its catalogue entry and keeps the cause', async (t) => {
  const cause = new Error('disk full');
  const err = new SwitchyardError('SY_ERR_STATE_WRITE', 'not saved', { cause });
  t.equal(err.code, 'SY_ERR_STATE_WRITE');
  t.equal(err.statusCode, 500);
  t.equal(err.source, 'internal');
  t.equal(err.retryable, false);
  t.equal(err.cause, cause);
  t.equal(err.name, 'SwitchyardError');
  t.ok(err instanceof Error);
});

t.test('timeouts classify as 504 codes', async (t) => {
  const cases: [string, ErrorCode][] = [
    ['UND_ERR_CONNECT_TIMEOUT', 'SY_ERR_UPSTREAM_CONNECT_TIMEOUT'],
    ['UND_ERR_HEADERS_TIMEOUT', 'SY_ERR_UPSTREAM_HEADERS_TIMEOUT'],
    ['UND_ERR_BODY_TIMEOUT', 'SY_ERR_UPSTREAM_BODY_TIMEOUT'],
  ];
  for (const [undiciCode, expected] of cases) {
    for (const sent of [false, true]) {
      const code = classifyUpstreamError(Object.assign(new Error('x'), { code: undiciCode }), sent);
      t.equal(code, expected, `${undiciCode} (sent=${sent})`);
      t.equal(statusForError(new SwitchyardError(code, 'x')), 504);
      t.equal(upstreamErrorKind(code), 'timeout');
    }
  }
  t.equal(ERROR_CATALOGUE.SY_ERR_UPSTREAM_CONNECT_TIMEOUT.retryable, true, 'a connect timeout sent nothing: retryable');
  t.equal(ERROR_CATALOGUE.SY_ERR_UPSTREAM_HEADERS_TIMEOUT.retryable, false, 'a headers timeout may have been processed: not retryable');
});

t.test('connection refused and unreachable classify as a retryable 502 connect error', async (t) => {
  for (const errno of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']) {
    const code = classifyUpstreamError(Object.assign(new Error(errno), { code: errno }), false);
    t.equal(code, 'SY_ERR_UPSTREAM_CONNECT', errno);
  }
  const refused = new SwitchyardError('SY_ERR_UPSTREAM_CONNECT', 'x');
  t.equal(statusForError(refused), 502);
  t.equal(refused.retryable, true);
  t.equal(upstreamErrorKind('SY_ERR_UPSTREAM_CONNECT'), 'connect');
});

t.test('a real refused connection from undici classifies as SY_ERR_UPSTREAM_CONNECT (502)', async (t) => {
  const port = await freePort();
  const err = await undiciRequest(`http://127.0.0.1:${port}/`).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err !== undefined, 'the request failed');
  const code = classifyUpstreamError(err, false);
  t.equal(code, 'SY_ERR_UPSTREAM_CONNECT');
  t.equal(statusForError(new SwitchyardError(code, 'refused', { cause: err })), 502);
});

t.test('a real headers timeout from undici classifies as SY_ERR_UPSTREAM_HEADERS_TIMEOUT (504)', async (t) => {
  const up = await startUpstream('slow');
  t.teardown(() => up.close());
  const err = await undiciRequest(`http://${up.address}/hold`, { headersTimeout: 50 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const code = classifyUpstreamError(err, true);
  t.equal(code, 'SY_ERR_UPSTREAM_HEADERS_TIMEOUT');
  t.equal(statusForError(new SwitchyardError(code, 'slow')), 504);
});

t.test('protocol errors classify as 502 protocol; unknown socket errors depend on whether the request was sent', async (t) => {
  for (const c of ['HPE_INVALID_CONSTANT', 'HPE_INVALID_STATUS', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']) {
    t.equal(classifyUpstreamError({ code: c }, true), 'SY_ERR_UPSTREAM_PROTOCOL', c);
  }
  t.equal(upstreamErrorKind('SY_ERR_UPSTREAM_PROTOCOL'), 'protocol');
  t.equal(classifyUpstreamError({ code: 'ECONNRESET' }, true), 'SY_ERR_UPSTREAM_RESET');
  t.equal(classifyUpstreamError({ code: 'ECONNRESET' }, false), 'SY_ERR_UPSTREAM_CONNECT');
  t.equal(classifyUpstreamError(null, true), 'SY_ERR_UPSTREAM_RESET', 'null does not throw');
  t.equal(classifyUpstreamError(undefined, false), 'SY_ERR_UPSTREAM_CONNECT', 'undefined does not throw');
  t.equal(upstreamErrorKind('SY_ERR_UPSTREAM_RESET'), 'reset');
  t.equal(upstreamErrorKind('SY_ERR_NO_SERVER'), 'other');
});

t.test('statusForError: 502 for anything unknown, the catalogue status otherwise, never 500 for upstream faults', async (t) => {
  t.equal(statusForError(new Error('boom')), 502);
  t.equal(statusForError('a string'), 502);
  t.equal(statusForError(undefined), 502);
  t.equal(statusForError(new SwitchyardError('SY_ERR_CLIENT_ABORTED', 'gone')), 499);
  t.equal(statusForError(new SwitchyardError('SY_ERR_NO_SERVER', 'none')), 503);
  t.equal(statusForError(new SwitchyardError('SY_ERR_MAINTENANCE', 'm')), 503);
  t.equal(statusForError(new SwitchyardError('SY_ERR_UPSTREAM_RESET', 'r')), 502);
});
