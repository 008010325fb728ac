import { describe, expect, it } from 'vitest';
import { formatMessage } from './index.js';
import { specs } from './test-builder.js';

describe('formatMessage', () => {
  it('renders wl_registry.bind like WAYLAND_DEBUG, with the bound interface', () => {
    expect(
      formatMessage('wl_registry', 2, specs.bind, [
        1,
        { interface: 'wl_compositor', version: 4, id: 3 },
      ]),
    ).toBe('wl_registry#2.bind(1, "wl_compositor", 4, new id wl_compositor#3)');
  });

  it('renders typed new ids, fds and ints', () => {
    expect(formatMessage('wl_display', 1, specs.getRegistry, [2])).toBe(
      'wl_display#1.get_registry(new id wl_registry#2)',
    );
    expect(formatMessage('wl_shm', 4, specs.createPool, [5, 17, -1])).toBe(
      'wl_shm#4.create_pool(new id wl_shm_pool#5, fd 17, -1)',
    );
  });

  it('renders fixed with 8 exact decimals, including negatives', () => {
    expect(formatMessage('wl_pointer', 0xff000001, specs.motion, [1000, 10.5, -1.25])).toBe(
      'wl_pointer#4278190081.motion(1000, 10.50000000, -1.25000000)',
    );
    expect(formatMessage('wl_pointer', 9, specs.motion, [0, 1 / 256, -0.5])).toBe(
      'wl_pointer#9.motion(0, 0.00390625, -0.50000000)',
    );
  });

  it('renders objects from the lookup, else the spec, else bare; null as nil', () => {
    const lookup = (id: number) => (id === 9 ? 'wl_surface' : undefined);
    expect(formatMessage('wl_keyboard', 10, specs.enter, [7, 9, Uint8Array.of(1, 2)], lookup)).toBe(
      'wl_keyboard#10.enter(7, wl_surface#9, array[2])',
    );
    expect(formatMessage('wl_surface', 3, specs.attach, [0, 0, 0])).toBe(
      'wl_surface#3.attach(nil, 0, 0)',
    );
    expect(formatMessage('wl_surface', 3, specs.attach, [12, 1, 2])).toBe(
      'wl_surface#3.attach(wl_buffer#12, 1, 2)',
    );
    expect(formatMessage('wl_display', 1, specs.error, [12, 0, 'bad'])).toBe(
      'wl_display#1.error(#12, 0, "bad")',
    );
  });

  it('renders null strings as nil and escapes string contents', () => {
    expect(formatMessage('wl_data_offer', 5, specs.accept, [1, null])).toBe(
      'wl_data_offer#5.accept(1, nil)',
    );
    expect(formatMessage('wl_data_offer', 5, specs.accept, [1, 'a"b\n'])).toBe(
      'wl_data_offer#5.accept(1, "a\\"b\\n")',
    );
  });

  it('renders a message without args', () => {
    expect(formatMessage('wl_buffer', 6, specs.destroy, [])).toBe('wl_buffer#6.destroy()');
  });
});
