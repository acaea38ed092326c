/** Target text and intel ordering: the parts of probe that need no network. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { compareEntries, mergeIntel, renderIntelFile, type IntelEntry } from '../../src/probe/intel.js';
import { parseTarget, parseTargetsFile } from '../../src/probe/targets.js';
import { compileEndpointFile } from '../../src/rules/endpoints.js';
import { FileContext } from '../../src/rules/yamlfile.js';

describe('probe targets', () => {
  it('reads IPv4 and bracketed IPv6 with a port, and nothing else', () => {
    expect(parseTarget('203.0.113.5:3333')).toEqual({ host: '203.0.113.5', port: 3333 });
    expect(parseTarget(' [2001:DB8:0::5]:4444 ')).toEqual({ host: '2001:db8::5', port: 4444 });
    expect(parseTarget('[::ffff:203.0.113.5]:3333')).toEqual({ host: '203.0.113.5', port: 3333 });
    // A dotted tail as RFC 4291 reads it, as the flows that name the host write it (ipaddr.js made it 203.0.113.5).
    expect(parseTarget('[::203.0.113.5]:3333')).toEqual({ host: '::cb00:7105', port: 3333 });
    for (const bad of ['[203.0.113.5]:3333', '203.0.113.5', '203.0.113.256:3333', '203.0.113.5:0', '203.0.113.5:65536', '2001:db8::5:3333', '[2001:db8::g]:1', 'pool.example.org:3333', '203.0.113.5:33a', ''])
      expect(parseTarget(bad), bad).toBeNull();
  });

  it('a targets file skips comments and blank lines and names every bad line', () => {
    expect(parseTargetsFile('# list\n203.0.113.5:3333 # first\r\n\n  [2001:db8::5]:4444\n', 't.txt')).toEqual([
      { host: '203.0.113.5', port: 3333 },
      { host: '2001:db8::5', port: 4444 },
    ]);
    let e: unknown;
    try {
      parseTargetsFile('203.0.113.5:3333\nbad\n\n203.0.113.5\n', 't.txt');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toContain('t.txt:2: expected an IP address and port');
    expect((e as Error).message).toContain('t.txt:4: expected an IP address and port');
  });
});

describe('probe intel file', () => {
  it('sorts as rules/endpoints/README.md says: domains, suffixes, ips numerically (IPv4 first) then port, cidrs', () => {
    const e = (x: Partial<IntelEntry>): IntelEntry => ({ pool: 'unknown', ...x });
    const entries = [
      e({ cidr: '198.51.100.0/24' }),
      e({ ip: '2001:db8::1', port: 80 }),
      e({ ip: '10.0.0.2', port: 3333 }),
      e({ ip: '9.0.0.1', port: 4444 }),
      e({ ip: '10.0.0.2', port: 14444 }),
      e({ suffix: 'pool.example' }),
      e({ domain: 'b.example' }),
      e({ domain: 'a.example' }),
      e({ cidr: '198.51.0.0/16' }),
    ];
    expect([...entries].sort(compareEntries).map((x) => x.domain ?? x.suffix ?? x.cidr ?? `${x.ip} ${x.port}`)).toEqual([
      'a.example',
      'b.example',
      'pool.example',
      '9.0.0.1 4444',
      '10.0.0.2 3333',
      '10.0.0.2 14444',
      '2001:db8::1 80',
      '198.51.0.0/16',
      '198.51.100.0/24',
    ]);
  });

  it('renders excerpts off the wire as valid double-quoted YAML', () => {
    const hostile = 'a "quoted" \\ back\u0085slash \u2028 line \ufeff {"x":[1]} # not a comment: colon';
    const file = mergeIntel(null, [{ ip: '203.0.113.5', port: 3333, pool: 'unknown', coins: ['XMR'], added: '2026-12-05', source: hostile }], { source: 'minerwatch probe test', added: '2026-12-05' });
    const text = renderIntelFile(file);
    const ctx = new FileContext('endpoints/probe.yaml', text);
    const { good } = compileEndpointFile(ctx, ctx.doc.toJS() as Record<string, unknown>);
    expect(ctx.errors).toEqual([]);
    expect(good).toHaveLength(1);
    expect(good[0]!.source).toBe(hostile);
  });
});
