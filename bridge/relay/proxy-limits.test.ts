// The proxy-wide limits' defaults come from the machine (SECURITY.md argues them); what
// is given replaces them, and what is out of range is named.

import { describe, expect, it } from 'vitest';
import { DEFAULT_CLIENT_LIMITS } from './limits.js';
import {
  defaultProxyLimits,
  InvalidProxyLimitsError,
  readMachineFacts,
  resolveProxyLimits,
} from './proxy-limits.js';

const GiB = 1024 ** 3;

describe('proxy limits', () => {
  it('take a quarter of memory for shared memory, and as many clients as fds and memory allow', () => {
    // A 16 GiB desktop under systemd (Node raises RLIMIT_NOFILE to the hard 524288).
    expect(
      defaultProxyLimits({ memTotalBytes: 16 * GiB, fdLimit: 524_288 }, DEFAULT_CLIENT_LIMITS),
    ).toEqual({ maxShmTotalAll: 4 * GiB, maxClients: 3276, maxClientsPerUid: 1638 });
    // A 400 MiB Qubes VM started from a shell with 1024 fds: the fd table decides.
    expect(
      defaultProxyLimits({ memTotalBytes: 400 * 1024 ** 2, fdLimit: 1024 }, DEFAULT_CLIENT_LIMITS),
    ).toEqual({ maxShmTotalAll: 100 * 1024 ** 2, maxClients: 64, maxClientsPerUid: 32 });
  });

  it('reads the machine it runs on', () => {
    const facts = readMachineFacts();
    expect(facts.memTotalBytes).toBeGreaterThan(64 * 1024 ** 2);
    expect(facts.fdLimit).toBeGreaterThanOrEqual(64);
  });

  it('keep what is given, and give one uid half of a given maxClients', () => {
    const machine = { memTotalBytes: 8 * GiB, fdLimit: 65_536 };
    expect(resolveProxyLimits({ maxClients: 10 }, DEFAULT_CLIENT_LIMITS, machine)).toEqual({
      maxClients: 10,
      maxClientsPerUid: 5,
      maxShmTotalAll: 2 * GiB,
    });
    expect(
      resolveProxyLimits(
        { maxClientsPerUid: 3, maxShmTotalAll: undefined },
        DEFAULT_CLIENT_LIMITS,
        machine,
      ),
    ).toMatchObject({ maxClientsPerUid: 3, maxShmTotalAll: 2 * GiB });
  });

  it('name a value out of range', () => {
    expect(() =>
      resolveProxyLimits({ maxClients: 0, maxShmTotalAll: 12 }, DEFAULT_CLIENT_LIMITS),
    ).toThrow(InvalidProxyLimitsError);
    expect(() => resolveProxyLimits({ maxShmTotalAll: 12 }, DEFAULT_CLIENT_LIMITS)).toThrow(
      /maxShmTotalAll: Too small/,
    );
  });
});
