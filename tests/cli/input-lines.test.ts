/**
 * The scan's line per input counts what the input is made of: packets for a capture, records for a
 * flow export file, and both for a capture of NetFlow/IPFIX datagrams (before, an nfdump CSV said
 * "0 packets"). Counts are worked out here from the file (CSV lines) or by tshark, not by minerwatch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT, runMain } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-input-lines-'));
const HAVE_TSHARK = spawnSync('sh', ['-c', 'command -v tshark'], { stdio: 'ignore' }).status === 0;


/** nfdump 1.7's `-o csv` header, and one record line for a client port. */
const HEADER = 'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr';
const line = (port: number): string =>
  `2023-11-14 22:13:25.000,2023-11-14 22:13:35.000,10.000,100.64.0.11,198.51.100.80,${port},443,TCP,...AP.S.,0,0,10,1000,8,4000,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0.000,0.000,0.000,0.0.0.0,0/0,0,1970-01-01 00:00:00.000`;

describe('scan: one line per input in its own units', () => {
  it('an nfdump CSV says records, a capture packets', async () => {
    const csv = join(tmp, 'flows.csv');
    const lines = [50001, 50002, 50003].map(line);
    writeFileSync(csv, [HEADER, ...lines].join('\n') + '\nSummary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n3,15000,54,0,0,0\n');
    const r = await runMain(['scan', csv, join(ROOT, 'fixtures', 'demo', 'office.pcap'), '--db', join(tmp, 'a.sqlite')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`${csv}: nfdump-csv, ${lines.length} records, `);
    expect(r.out).not.toMatch(/flows\.csv: nfdump-csv, 0 packets/);
    const frames = spawnSync('tshark', ['-r', join(ROOT, 'fixtures', 'demo', 'office.pcap')], { encoding: 'utf8' });
    if (HAVE_TSHARK) expect(r.out).toContain(`office.pcap: pcap, ${frames.stdout.trim().split('\n').length} packets, `);
  });

  it.skipIf(!HAVE_CORPUS || !HAVE_TSHARK)(`a capture of NetFlow v9 datagrams says its packets and the records they carried${!HAVE_CORPUS ? ` (${CORPUS_SKIP_REASON})` : !HAVE_TSHARK ? ' (tshark not installed: apt-get install tshark)' : ''}`, async () => {
    const file = join(CORPUS, 'netflow/generated/v9/ndpi__mining.export.pcap');
    expect(existsSync(file)).toBe(true);
    const port = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'udp.dstport'], { encoding: 'utf8' }).stdout.trim().split('\n');
    const recs = spawnSync('tshark', ['-r', file, '-d', `udp.port==${port[0]},cflow`, '-T', 'fields', '-e', 'cflow.srcaddr'], { encoding: 'utf8' });
    const records = recs.stdout.trim().split('\n').filter(Boolean).reduce((n, l) => n + l.split(',').length, 0);
    const r = await runMain(['scan', file, '--db', join(tmp, 'b.sqlite')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`ndpi__mining.export.pcap: pcap, ${port.length} packets (${port.length} carrying flow exports: ${records} records), `);
  });
});
