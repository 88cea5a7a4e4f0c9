import { describe, expect, it } from 'vitest';
import { createCanonicalizer } from '../../bench/canonical.js';
import { LatencyHistogram, percentileOf } from '../../bench/histogram.js';
import { DeliveryStream, markerDelivery } from '../../bench/stream.js';

const credentials = {
  zoomSecret: 'zoom-secret',
  apizeeSecret: 'apizee-secret',
  mluviiUser: 'user',
  mluviiPassword: 'password',
};

describe('the benchmark load stream', () => {
  it('sends distinct, signed deliveries of the three providers that the product reads without a failure', () => {
    const stream = new DeliveryStream({ zoomOpen: 50, mluviiOpen: 10, apizeeOpen: 5 });
    const canonical = createCanonicalizer(credentials, 'pii-key-0123456789abcdef');
    const bodies = new Set<string>();
    const providers = new Map<string, number>();
    const dedupKeys = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const d = stream.next();
      bodies.add(d.body);
      providers.set(d.provider, (providers.get(d.provider) ?? 0) + 1);
      // The receiver verifies the signature or secret as the product does; it throws when it does not match.
      const rows = canonical.toRows(d.provider, d.body, Date.now() * 1000);
      expect(rows.failures).toBe(0);
      expect(rows.events.length).toBeGreaterThan(0);
      if (rows.raw.dedup_key !== null) dedupKeys.add(`${d.provider}:${rows.raw.dedup_key}`);
    }
    expect(bodies.size).toBe(2000);
    expect(dedupKeys.size).toBe(2000);
    expect(providers.get('zoom')).toBeGreaterThan(providers.get('mluvii')!);
    expect(providers.get('mluvii')).toBeGreaterThan(0);
    expect(providers.get('apizee')).toBeGreaterThan(0);
    // Sessions that ended were replaced by new ones.
    expect(stream.sessionsStarted).toBeGreaterThan(65);
  });

  it('makes a marker session the Zoom adapter reads as a session start', () => {
    const marker = markerDelivery('bm-test==');
    const rows = createCanonicalizer(credentials, 'pii-key-0123456789abcdef').toRows(
      'zoom',
      marker.body,
      Date.now() * 1000,
    );
    expect(rows.events.map((e) => [e.session_key, e.type])).toEqual([['zoom:bm-test==', 'session.started']]);
  });
});

describe('the latency histogram', () => {
  it('gives percentiles no lower than the exact ones, to the bucket', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => (i % 1000) / 7 + (i % 3) * 50);
    const h = new LatencyHistogram();
    for (const v of values) h.record(v);
    for (const p of [50, 99]) {
      const exact = percentileOf(values, p);
      expect(h.percentile(p)).toBeGreaterThanOrEqual(exact);
      expect(h.percentile(p)).toBeLessThanOrEqual(exact < 100 ? exact + 0.011 : exact + 1.001);
    }
  });
});
