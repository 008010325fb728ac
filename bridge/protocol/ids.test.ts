// The id rules both sides share: what libwayland's wl_map lets a client and a compositor
// create.

import { describe, expect, it } from 'vitest';
import { SERVER_ID_BASE, clientNewIdProblem, isServerId, serverNewIdProblem } from './ids.js';

describe('clientNewIdProblem', () => {
  it('takes the next id, or any free one below it', () => {
    expect(clientNewIdProblem(2, 2, false)).toBeUndefined();
    expect(clientNewIdProblem(5, 9, false)).toBeUndefined();
  });

  it('refuses null, server-range ids, gaps and ids in use', () => {
    expect(clientNewIdProblem(0, 2, false)).toBe('null-or-server-range');
    expect(clientNewIdProblem(SERVER_ID_BASE, SERVER_ID_BASE, false)).toBe('null-or-server-range');
    expect(clientNewIdProblem(4, 3, false)).toBe('out-of-sequence');
    expect(clientNewIdProblem(2, 3, true)).toBe('in-use');
  });
});

describe('serverNewIdProblem', () => {
  it('takes ids from 0xff000000 up whose previous object is gone', () => {
    expect(isServerId(0xff000000)).toBe(true);
    expect(isServerId(0xfeffffff)).toBe(false);
    expect(serverNewIdProblem(0xff000001, false)).toBeUndefined();
    expect(serverNewIdProblem(7, false)).toBe('client-range');
    expect(serverNewIdProblem(0xff000001, true)).toBe('in-use');
  });
});
