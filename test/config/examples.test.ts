/**
 * Every shipped config — config/*.yaml and config/examples/*.yaml — passes
 * `switchyard validate` (the real CLI, exit 0), so an example never drifts
 * from the schema.
 */
import t from 'tap';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, startCli } from '../helpers/cli.js';

async function yamlFiles(dir: string): Promise<string[]> {
  return (await readdir(join(REPO_ROOT, dir))).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).map((f) => join(dir, f));
}

t.test('every config in config/ and config/examples/ passes switchyard validate', async (t) => {
  const files = [...(await yamlFiles('config')), ...(await yamlFiles('config/examples'))];
  t.ok(files.includes(join('config', 'examples', 'websocket.yaml')), 'the WebSocket example is among them');
  const results = await Promise.all(files.map(async (file) => ({ file, result: await startCli(['validate', '--config', file]).exited })));
  for (const { file, result } of results) {
    t.equal(result.code, 0, `${file}: exit 0${result.code === 0 ? '' : `\n${result.stdout}${result.stderr}`}`);
    t.match(result.stdout, /: ok \(/, `${file}: reported ok`);
  }
});
