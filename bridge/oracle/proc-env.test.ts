// The procfs environment checks, on literal mountinfo and status texts.

import { describe, expect, it } from 'vitest';
import { hasPtraceCapability, hidepidHides, hidepidOption } from './proc-env.js';

const line = (mountPoint: string, fstype: string, superOptions: string): string =>
  `22 27 0:21 / ${mountPoint} rw,nosuid,nodev,noexec,relatime shared:12 - ${fstype} ${fstype} ${superOptions}`;

describe('hidepidOption', () => {
  it('reads hidepid from the proc mount at the mount point', () => {
    const text = [
      line('/', 'ext4', 'rw'),
      line('/proc', 'proc', 'rw,hidepid=invisible,gid=10'),
      line('/sys', 'sysfs', 'rw'),
    ].join('\n');
    expect(hidepidOption(text, '/proc')).toBe('invisible');
  });

  it('is undefined without the option, or without a proc mount there', () => {
    expect(hidepidOption(line('/proc', 'proc', 'rw'), '/proc')).toBeUndefined();
    expect(hidepidOption(line('/proc', 'tmpfs', 'rw,hidepid=2'), '/proc')).toBeUndefined();
    expect(hidepidOption(line('/other', 'proc', 'rw,hidepid=2'), '/proc')).toBeUndefined();
  });

  it('the last mount at the point wins (it hides the ones below)', () => {
    const text = [line('/proc', 'proc', 'rw,hidepid=2'), line('/proc', 'proc', 'rw')].join('\n');
    expect(hidepidOption(text, '/proc')).toBeUndefined();
    const other = [line('/proc', 'proc', 'rw'), line('/proc', 'proc', 'rw,hidepid=4')].join('\n');
    expect(hidepidOption(other, '/proc')).toBe('4');
  });

  it('tolerates optional fields before the separator', () => {
    const text = '30 1 0:5 / /proc rw shared:2 master:1 - proc proc rw,hidepid=2';
    expect(hidepidOption(text, '/proc')).toBe('2');
  });
});

describe('hidepidHides', () => {
  it('only the values that hide directories outright', () => {
    for (const v of ['2', 'invisible', '4', 'ptraceable']) expect(hidepidHides(v)).toBe(true);
    for (const v of [undefined, '0', 'off', '1', 'noaccess']) expect(hidepidHides(v)).toBe(false);
  });
});

describe('hasPtraceCapability', () => {
  it('reads bit 19 of CapEff', () => {
    expect(hasPtraceCapability('Name:\tx\nCapEff:\t000001ffffffffff\n')).toBe(true);
    expect(hasPtraceCapability('CapEff:\t0000000000080000\n')).toBe(true);
    expect(hasPtraceCapability('CapEff:\t0000000000000000\n')).toBe(false);
    expect(hasPtraceCapability('CapEff:\t00000000fff7ffff\n')).toBe(false);
    expect(hasPtraceCapability('no caps here')).toBe(false);
  });
});
