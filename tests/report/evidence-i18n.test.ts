/**
 * Evidence lines in Chinese: the report stores them in English; translateEvidence replaces the words
 * of the lines it recognises and keeps every value; any other text comes back unchanged. The
 * expected Chinese is written out here.
 */
import { describe, expect, it } from 'vitest';
import { translateEvidence } from '../../src/i18n.js';
import { activityBins } from '../../src/report/html.js';

const LINE =
  '3 mining flows (2 high, 1 medium) to 2 servers; rules MW-PORT, MW-STRATUM-V1-SUBSCRIBE; outcomes: two-sided protocol 2, port only 1; strongest: mining (two-sided protocol): stratum-v1 with 198.51.100.7:3333 — client sent mining.subscribe; server sent mining.notify; sni: pool.example (pool Example XMR; domain pool.example); port: server port 3333';

describe('translateEvidence', () => {
  it('translates a subscriber line and the reason it quotes, values kept', () => {
    expect(translateEvidence(LINE, 'zh-CN')).toBe(
      '3 条挖矿流（高 2 条，中 1 条），连接 2 个服务器；规则 MW-PORT, MW-STRATUM-V1-SUBSCRIBE；判定依据：two-sided protocol 2 条，port only 1 条；最强证据：挖矿（two-sided protocol）：stratum-v1，服务器 198.51.100.7:3333 — 客户端发送 mining.subscribe；服务器发送 mining.notify；TLS 服务器名（SNI）：pool.example (pool Example XMR; domain pool.example)；矿池端口：服务器端口 3333',
    );
  });

  it('leaves English as it is, and text of no known shape unchanged', () => {
    expect(translateEvidence(LINE, 'en')).toBe(LINE);
    expect(translateEvidence('operator note: seen by the NOC', 'zh-CN')).toBe('operator note: seen by the NOC');
    // A fact of an unknown kind keeps its words; the known ones around it are translated.
    expect(translateEvidence('suspect with 192.0.2.1:80 — frobnicate: x; port: server port 80', 'zh-CN')).toBe('疑似挖矿，服务器 192.0.2.1:80 — frobnicate: x；矿池端口：服务器端口 80');
    expect(translateEvidence('no mining evidence', 'zh-CN')).toBe('无挖矿证据');
  });
});

describe('activityBins', () => {
  const DAY = 86_400_000;
  const flow = (subscriber: string, day: number): { subscriber: string; first_seen: number; last_seen: number } => ({ subscriber, first_seen: Date.UTC(2025, 0, 1) + day * DAY + 3600_000, last_seen: Date.UTC(2025, 0, 1) + day * DAY + 7200_000 });

  it('per day up to 120 days, per week (Monday to Sunday) beyond, every day of the period in one bin', () => {
    const short = activityBins([flow('a', 0), flow('b', 0), flow('a', 119)], 'UTC');
    expect(short.unit).toBe('day');
    expect(short.bins).toHaveLength(120);
    expect(short.bins[0]).toEqual({ start: '2025-01-01', end: '2025-01-01', n: 2 });

    const long = activityBins([flow('a', 0), flow('b', 5), flow('a', 6), flow('c', 199)], 'UTC');
    expect(long.unit).toBe('week');
    expect(long.days).toBe(200);
    // 2025-01-01 is a Wednesday: the first week holds Wednesday to Sunday 5 January.
    expect(long.bins[0]).toEqual({ start: '2025-01-01', end: '2025-01-05', n: 1 });
    expect(long.bins[1]).toEqual({ start: '2025-01-06', end: '2025-01-12', n: 2 });
    expect(long.bins.at(-1)!.end).toBe(new Date(Date.UTC(2025, 0, 1) + 199 * DAY).toISOString().slice(0, 10));
    for (const b of long.bins.slice(1)) expect(new Date(`${b.start}T00:00:00Z`).getUTCDay()).toBe(1);
    expect(long.bins.reduce((a, b) => a + (Date.parse(b.end) - Date.parse(b.start)) / DAY + 1, 0)).toBe(200);
  });
});
