// The XML parser's contract: what a well-formed protocol turns into, and that every kind
// of malformed input is refused with a ProtocolXmlError naming the file and the element.

import { describe, expect, it } from 'vitest';
import { ProtocolXmlError, parseProtocolXml } from './xml.js';

const SOURCE = 'broken.xml';

/** A one-interface protocol around `body`; `attributes` go on the <interface>. */
function interfaceXml(body: string, attributes = 'name="gw_a" version="2"'): string {
  return `<?xml version="1.0"?><protocol name="gw"><interface ${attributes}>${body}</interface></protocol>`;
}

function parseError(xml: string): ProtocolXmlError {
  try {
    parseProtocolXml(xml, SOURCE);
  } catch (error) {
    if (error instanceof ProtocolXmlError) return error;
    throw error;
  }
  throw new Error('expected a ProtocolXmlError, but the XML was accepted');
}

describe('parseProtocolXml', () => {
  it('numbers requests and events separately, in document order', () => {
    const spec = parseProtocolXml(
      interfaceXml(
        '<request name="r0"/><event name="e0"/><request name="r1" since="2"/><event name="e1"/>',
      ),
      SOURCE,
    );
    const [iface] = spec.interfaces;
    expect(iface?.requests.map((m) => [m.name, m.since])).toEqual([
      ['r0', 1],
      ['r1', 2],
    ]);
    expect(iface?.events.map((m) => m.name)).toEqual(['e0', 'e1']);
  });

  it('leaves optional arg fields out instead of setting them to undefined', () => {
    const spec = parseProtocolXml(
      interfaceXml('<request name="r"><arg name="a" type="int" allow-null="false"/></request>'),
      SOURCE,
    );
    expect(Object.keys(spec.interfaces[0]?.requests[0]?.args[0] ?? {})).toEqual(['name', 'type']);
  });

  it('accepts an untyped new_id in a request (wl_registry.bind)', () => {
    const spec = parseProtocolXml(
      interfaceXml('<request name="bind"><arg name="id" type="new_id"/></request>'),
      SOURCE,
    );
    expect(spec.interfaces[0]?.requests[0]?.args[0]).toEqual({ name: 'id', type: 'new_id' });
  });

  it('gives the error a stable code, the source name and the path', () => {
    const error = parseError(
      interfaceXml('<request name="r"><arg name="a" type="long"/></request>'),
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ERR_PROTOCOL_XML');
    expect(error.name).toBe('ProtocolXmlError');
    expect(error.sourceName).toBe(SOURCE);
    expect(error.path).toBe('interface gw_a > request r > arg a');
    expect(error.message).toBe(
      'broken.xml: interface gw_a > request r > arg a: unknown arg type "long"',
    );
  });

  it('reads entry values as decimal, 0x-hex and C shifts (`1 << n`, as KDE writes flags)', () => {
    const spec = parseProtocolXml(
      interfaceXml(
        '<enum name="e" bitfield="true">' +
          '<entry name="a" value="7"/><entry name="b" value="0x10"/>' +
          '<entry name="c" value="1 &lt;&lt; 0"/><entry name="d" value="1&lt;&lt;18"/>' +
          '<entry name="e" value="0x3 &lt;&lt; 4"/><entry name="f" value="1 &lt;&lt; 31"/>' +
          '<entry name="g" value=" 5 "/><entry name="h" value="1 &#60;&#x3c; 2"/>' +
          '</enum>',
      ),
      SOURCE,
    );
    const entries = spec.interfaces[0]?.enums[0]?.entries.map((entry) => [entry.name, entry.value]);
    expect(entries).toEqual([
      ['a', 7],
      ['b', 16],
      ['c', 1],
      ['d', 262144],
      ['e', 48],
      ['f', 2147483648],
      ['g', 5],
      ['h', 4],
    ]);
  });

  const malformed: [what: string, xml: string, path: string, reason: RegExp][] = [
    ['not well-formed XML', '<protocol name="gw"><interface>', '', /not well-formed/],
    ['no <protocol>', '<?xml version="1.0"?><other/>', '', /exactly one <protocol>/],
    ['protocol without a name', '<protocol><interface/></protocol>', 'protocol', /without a name/],
    [
      'interface without a name',
      interfaceXml('', 'version="1"'),
      'interface #0',
      /interface without a name/,
    ],
    [
      'interface without a version',
      interfaceXml('', 'name="gw_a"'),
      'interface gw_a',
      /missing version/,
    ],
    [
      'non-numeric interface version',
      interfaceXml('', 'name="gw_a" version="two"'),
      'interface gw_a',
      /version="two" is not a positive integer/,
    ],
    [
      'interface version 0',
      interfaceXml('', 'name="gw_a" version="0"'),
      'interface gw_a',
      /not a positive integer/,
    ],
    [
      'the same interface twice in one file',
      '<protocol name="gw"><interface name="gw_a" version="1"/><interface name="gw_a" version="2"/></protocol>',
      'interface gw_a',
      /defined twice/,
    ],
    [
      'request without a name',
      interfaceXml('<request name="ok"/><request/>'),
      'interface gw_a > request #1',
      /request without a name/,
    ],
    [
      'event with an invalid name',
      interfaceXml('<event name="bad name"/>'),
      'interface gw_a > event #0',
      /event name "bad name" is not valid/,
    ],
    [
      'the same request twice',
      interfaceXml('<request name="r"/><request name="r"/>'),
      'interface gw_a > request r',
      /request defined twice/,
    ],
    [
      'unknown message type',
      interfaceXml('<request name="r" type="constructor"/>'),
      'interface gw_a > request r',
      /unknown message type "constructor"/,
    ],
    [
      'non-numeric since',
      interfaceXml('<event name="e" since="1.5"/>'),
      'interface gw_a > event e',
      /since="1.5" is not a positive integer/,
    ],
    [
      'since above the interface version',
      interfaceXml('<event name="e" since="3"/>'),
      'interface gw_a > event e',
      /above the interface version 2/,
    ],
    [
      'arg without a name',
      interfaceXml('<request name="r"><arg type="int"/></request>'),
      'interface gw_a > request r > arg #0',
      /arg without a name/,
    ],
    [
      'arg without a type',
      interfaceXml('<request name="r"><arg name="a"/></request>'),
      'interface gw_a > request r > arg a',
      /missing type/,
    ],
    [
      'unknown arg type',
      interfaceXml('<event name="e"><arg name="a" type="double"/></event>'),
      'interface gw_a > event e > arg a',
      /unknown arg type "double"/,
    ],
    [
      'the same arg twice',
      interfaceXml(
        '<request name="r"><arg name="a" type="int"/><arg name="a" type="uint"/></request>',
      ),
      'interface gw_a > request r > arg a',
      /arg defined twice/,
    ],
    [
      'untyped new_id in an event',
      interfaceXml('<event name="e"><arg name="id" type="new_id"/></event>'),
      'interface gw_a > event e > arg id',
      /new_id without interface is only allowed in requests/,
    ],
    [
      'interface on a non-object arg',
      interfaceXml('<request name="r"><arg name="a" type="uint" interface="gw_a"/></request>'),
      'interface gw_a > request r > arg a',
      /interface="gw_a" on an arg of type uint/,
    ],
    [
      'allow-null that is not a boolean',
      interfaceXml('<request name="r"><arg name="s" type="string" allow-null="yes"/></request>'),
      'interface gw_a > request r > arg s',
      /allow-null="yes"/,
    ],
    [
      'malformed enum reference',
      interfaceXml('<request name="r"><arg name="a" type="uint" enum="a.b.c"/></request>'),
      'interface gw_a > request r > arg a',
      /enum="a.b.c" is not an enum name/,
    ],
    [
      'enum without a name',
      interfaceXml('<enum><entry name="x" value="0"/></enum>'),
      'interface gw_a > enum #0',
      /enum without a name/,
    ],
    [
      'bitfield that is not a boolean',
      interfaceXml('<enum name="flags" bitfield="1"/>'),
      'interface gw_a > enum flags',
      /bitfield="1"/,
    ],
    [
      'entry without a value',
      interfaceXml('<enum name="e"><entry name="x"/></enum>'),
      'interface gw_a > enum e > entry x',
      /missing value/,
    ],
    [
      'negative entry value',
      interfaceXml('<enum name="e"><entry name="x" value="-1"/></enum>'),
      'interface gw_a > enum e > entry x',
      /value "-1" is not a number \(decimal, 0x-hex, or N << M\)/,
    ],
    [
      'a shift of something other than a literal',
      interfaceXml('<enum name="e"><entry name="x" value="1 &lt;&lt; n"/></enum>'),
      'interface gw_a > enum e > entry x',
      /value "1 << n" is not a number/,
    ],
    [
      'an expression other than a shift',
      interfaceXml('<enum name="e"><entry name="x" value="1 | 2"/></enum>'),
      'interface gw_a > enum e > entry x',
      /value "1 \| 2" is not a number/,
    ],
    [
      'a shift past 32 bits',
      interfaceXml('<enum name="e"><entry name="x" value="1 &lt;&lt; 32"/></enum>'),
      'interface gw_a > enum e > entry x',
      /value 1 << 32 does not fit in 32 bits/,
    ],
    [
      'entry value over 32 bits',
      interfaceXml('<enum name="e"><entry name="x" value="0x100000000"/></enum>'),
      'interface gw_a > enum e > entry x',
      /does not fit in 32 bits/,
    ],
    [
      'the same entry twice',
      interfaceXml('<enum name="e"><entry name="x" value="0"/><entry name="x" value="1"/></enum>'),
      'interface gw_a > enum e > entry x',
      /entry defined twice/,
    ],
    [
      'the same enum twice',
      interfaceXml('<enum name="e"/><enum name="e"/>'),
      'interface gw_a > enum e',
      /enum defined twice/,
    ],
  ];

  it.each(malformed)('refuses %s', (_what, xml, path, reason) => {
    const error = parseError(xml);
    expect(error.path).toBe(path);
    expect(error.message).toMatch(reason);
    expect(error.message.startsWith(`${SOURCE}: `)).toBe(true);
    if (path !== '') expect(error.message).toContain(`: ${path}: `);
  });
});
