/**
 * tcp/proxy-protocol — the PROXY protocol header (HAProxy's spec,
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt) a TCP listener
 * writes to the upstream before any client byte, so servers behind an L4
 * proxy still see the client's address. Pure functions: addresses in, bytes out.
 *
 * Node reports IPv4 clients of a dual-stack listener as IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`); those are sent as TCP4 so servers see the plain IPv4
 * address. When the two ends are of different families (or unknown) the
 * header says UNKNOWN, which the spec defines for exactly that case: the
 * receiver then uses the real connection's addresses.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** ProxyEnds — the client (source) and listener (destination) ends of the accepted connection. */
export interface ProxyEnds {
  readonly sourceAddress: string | undefined;
  readonly sourcePort: number | undefined;
  readonly destAddress: string | undefined;
  readonly destPort: number | undefined;
}

/** PROXY_V2_SIGNATURE — the 12-byte magic that starts every v2 header. */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

type Family = 4 | 6 | 0;

/** unmap — `::ffff:1.2.3.4` → `1.2.3.4`; anything else unchanged. */
function unmap(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

interface Resolved {
  readonly family: Family;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

function resolveEnds(ends: ProxyEnds): Resolved {
  const { sourceAddress, sourcePort, destAddress, destPort } = ends;
  if (sourceAddress === undefined || destAddress === undefined || sourcePort === undefined || destPort === undefined) return { family: 0, src: '', dst: '', sport: 0, dport: 0 };
  let src = unmap(sourceAddress);
  let dst = unmap(destAddress);
  let family: Family = isIPv4(src) && isIPv4(dst) ? 4 : isIPv6(src) && isIPv6(dst) ? 6 : 0;
  if (family === 0 && isIPv6(sourceAddress) && isIPv6(destAddress)) {
    // One end mapped, the other not: send both as IPv6, which is what the socket really is.
    src = sourceAddress;
    dst = destAddress;
    family = 6;
  }
  return { family, src, dst, sport: sourcePort, dport: destPort };
}

/** proxyHeaderV1 — the text form: `PROXY TCP4 src dst sport dport\r\n` (or `PROXY UNKNOWN\r\n`). */
export function proxyHeaderV1(ends: ProxyEnds): Buffer {
  const r = resolveEnds(ends);
  if (r.family === 0) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${r.family} ${r.src} ${r.dst} ${r.sport} ${r.dport}\r\n`, 'latin1');
}

/** proxyHeaderV2 — the binary form: signature, version 2 + PROXY command, TCP over IPv4/IPv6 (or UNSPEC), addresses and ports. */
export function proxyHeaderV2(ends: ProxyEnds): Buffer {
  const r = resolveEnds(ends);
  const addrLen = r.family === 4 ? 12 : r.family === 6 ? 36 : 0;
  const out = Buffer.alloc(16 + addrLen);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, command PROXY
  out[13] = r.family === 4 ? 0x11 : r.family === 6 ? 0x21 : 0x00; // AF_INET/AF_INET6 + STREAM, or UNSPEC
  out.writeUInt16BE(addrLen, 14);
  if (r.family === 4) {
    writeIPv4(out, 16, r.src);
    writeIPv4(out, 20, r.dst);
    out.writeUInt16BE(r.sport, 24);
    out.writeUInt16BE(r.dport, 26);
  } else if (r.family === 6) {
    writeIPv6(out, 16, r.src);
    writeIPv6(out, 32, r.dst);
    out.writeUInt16BE(r.sport, 48);
    out.writeUInt16BE(r.dport, 50);
  }
  return out;
}

function writeIPv4(out: Buffer, at: number, address: string): void {
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** writeIPv6 — 16 bytes of a (validated) IPv6 literal: `::` expanded, a trailing dotted IPv4 part honoured, zone id dropped. */
function writeIPv6(out: Buffer, at: number, address: string): void {
  const zone = address.indexOf('%');
  const text = zone >= 0 ? address.slice(0, zone) : address;
  const words: number[] = [];
  const toWords = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const b = g.split('.').map(Number);
        out.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const gap = text.indexOf('::');
  if (gap < 0) words.push(...toWords(text));
  else {
    const head = toWords(text.slice(0, gap));
    const tail = toWords(text.slice(gap + 2));
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i] ?? 0, at + i * 2);
}
