/**
 * PROXY protocol header builders (tcp/proxy-protocol.ts), checked byte for
 * byte against the spec's layout and against the test upstream's parser.
 */
import t from 'tap';
import { PROXY_V2_SIGNATURE, proxyHeaderV1, proxyHeaderV2 } from '../../src/tcp/proxy-protocol.js';
import { parseProxyHeader } from '../helpers/tcp.js';

const v4 = { sourceAddress: '192.0.2.10', sourcePort: 51234, destAddress: '198.51.100.1', destPort: 5432 };

t.test('v1 writes TCP4 with both addresses and ports', async (t) => {
  t.equal(proxyHeaderV1(v4).toString('latin1'), 'PROXY TCP4 192.0.2.10 198.51.100.1 51234 5432\r\n');
});

t.test('v1 sends IPv4-mapped IPv6 addresses as TCP4', async (t) => {
  const h = proxyHeaderV1({ ...v4, sourceAddress: '::ffff:192.0.2.10', destAddress: '::ffff:198.51.100.1' });
  t.equal(h.toString('latin1'), 'PROXY TCP4 192.0.2.10 198.51.100.1 51234 5432\r\n');
});

t.test('v1 writes TCP6 for IPv6 ends and UNKNOWN when an end is missing', async (t) => {
  t.equal(proxyHeaderV1({ ...v4, sourceAddress: '2001:db8::1', destAddress: '::1' }).toString('latin1'), 'PROXY TCP6 2001:db8::1 ::1 51234 5432\r\n');
  t.equal(proxyHeaderV1({ ...v4, sourceAddress: undefined }).toString('latin1'), 'PROXY UNKNOWN\r\n');
});

t.test('v2 IPv4: signature, version/command, family, length 12, addresses, ports', async (t) => {
  const h = proxyHeaderV2(v4);
  t.equal(h.length, 28);
  t.ok(h.subarray(0, 12).equals(PROXY_V2_SIGNATURE));
  t.equal(h[12], 0x21);
  t.equal(h[13], 0x11);
  t.equal(h.readUInt16BE(14), 12);
  t.same([...h.subarray(16, 20)], [192, 0, 2, 10]);
  t.same([...h.subarray(20, 24)], [198, 51, 100, 1]);
  t.equal(h.readUInt16BE(24), 51234);
  t.equal(h.readUInt16BE(26), 5432);
  t.match(parseProxyHeader(h), { header: { version: 2, family: 'TCP4', source: '192.0.2.10', dest: '198.51.100.1', sourcePort: 51234, destPort: 5432 }, length: 28 });
});

t.test('v2 IPv6 expands :: and embedded IPv4, length 36', async (t) => {
  const h = proxyHeaderV2({ ...v4, sourceAddress: '2001:db8::a:1', destAddress: '64:ff9b::1.2.3.4' });
  t.equal(h.length, 52);
  t.equal(h[13], 0x21);
  t.equal(h.readUInt16BE(14), 36);
  t.match(parseProxyHeader(h), { header: { family: 'TCP6', source: '2001:db8:0:0:0:0:a:1', dest: '64:ff9b:0:0:0:0:102:304' } });
});

t.test('v2 UNSPEC with no address block when an end is unknown', async (t) => {
  const h = proxyHeaderV2({ ...v4, destAddress: undefined });
  t.equal(h.length, 16);
  t.equal(h[13], 0x00);
  t.equal(h.readUInt16BE(14), 0);
});
