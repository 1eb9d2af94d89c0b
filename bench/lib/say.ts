/** bench/lib/say — progress lines go to stderr, so stdout carries only the Markdown report. */

/** say — one progress line. */
export function say(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}
