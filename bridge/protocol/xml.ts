// Turns Wayland protocol XML into a ProtocolSpec. One parser serves both the build-time
// generator (scripts/gen-protocols.ts) and `--protocol-dir` at run time, so the bridge
// understands a protocol the same way whichever path it arrived by. Pure: text in, spec
// or ProtocolXmlError out. Documentation (<description>, summary=, <copyright>) is
// never read, so none of it can reach a generated table.

import { createRequire } from 'node:module';
import type * as FastXmlParserModule from 'fast-xml-parser';
import type {
  ArgSpec,
  ArgType,
  EnumEntrySpec,
  EnumSpec,
  InterfaceSpec,
  MessageSpec,
  ProtocolSpec,
} from './types.js';

/**
 * Malformed protocol XML. `path` names the offending element from the interface down,
 * e.g. `interface wl_registry > request bind > arg id`; an element without a usable
 * name is named by its 0-based position among its siblings of the same kind
 * (`request #2`, which for requests and events is its opcode).
 */
export class ProtocolXmlError extends Error {
  readonly code = 'ERR_PROTOCOL_XML';
  override readonly name = 'ProtocolXmlError';
  readonly sourceName: string;
  readonly path: string;

  constructor(sourceName: string, path: string, reason: string) {
    super(path === '' ? `${sourceName}: ${reason}` : `${sourceName}: ${path}: ${reason}`);
    this.sourceName = sourceName;
    this.path = path;
  }
}

type FastXmlParser = typeof FastXmlParserModule;
let fastXmlParser: FastXmlParser | undefined;

/**
 * fast-xml-parser, loaded on the first parse: the bridge parses XML only for
 * `--protocol-dir`, so it must not pay for the parser at every start. Its CommonJS build
 * is one file and loads in ~10 ms; its ES module build is ~40 files and ~70 ms.
 */
function xmlParser(): FastXmlParser {
  fastXmlParser ??= createRequire(import.meta.url)('fast-xml-parser') as FastXmlParser;
  return fastXmlParser;
}

/** One element as fast-xml-parser gives it: `@_`-prefixed attributes, children by tag. */
type XmlElement = Readonly<Record<string, unknown>>;

const ATTRIBUTE_PREFIX = '@_';
/** Tags that may repeat; the parser always gives these as arrays, in document order. */
const REPEATABLE_TAGS: ReadonlySet<string> = new Set([
  'protocol',
  'interface',
  'request',
  'event',
  'enum',
  'entry',
  'arg',
]);
const ARG_TYPES: ReadonlySet<string> = new Set<ArgType>([
  'int',
  'uint',
  'fixed',
  'string',
  'object',
  'new_id',
  'array',
  'fd',
]);
/** Interface, message, arg and enum names become identifiers in generated code. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Enum entry names may start with a digit (`wl_output.transform` has `90`). */
const ENTRY_NAME = /^[A-Za-z0-9_]+$/;
/** `enum="name"` or `enum="other_interface.name"`. */
const ENUM_REFERENCE = /^(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/;
const DECIMAL = /^[0-9]+$/;
/** A number as entry values spell it: decimal or 0x-hex. */
const NUMBER = /^(?:[0-9]+|0[xX][0-9a-fA-F]+)$/;
/**
 * `1 << 4`: wayland-scanner pastes an entry value into C as written, so protocol files
 * use C shifts for bit flags (Debian's plasma-wayland-protocols 1.10 spells every flag of
 * org_kde_plasma_window_management.state this way). Only a literal shifted by a literal.
 */
const SHIFT = /^([0-9]+|0[xX][0-9a-fA-F]+)\s*<<\s*([0-9]+)$/;
const UINT32_MAX = 0xffff_ffff;
/** The XML predefined entities; attribute values are read without entity expansion. */
const PREDEFINED_ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

export function parseProtocolXml(xmlText: string, sourceName: string): ProtocolSpec {
  const fail = (path: string, reason: string): never => {
    throw new ProtocolXmlError(sourceName, path, reason);
  };

  const { XMLParser, XMLValidator } = xmlParser();
  const validation = XMLValidator.validate(xmlText);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    fail('', `not well-formed XML at line ${line}, column ${col}: ${msg}`);
  }

  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: ATTRIBUTE_PREFIX,
    parseAttributeValue: false,
    parseTagValue: false,
    // Entities only ever occur in documentation, which is skipped; not expanding them
    // keeps run-time loading of untrusted XML cheap.
    processEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    isArray: (tagName) => REPEATABLE_TAGS.has(tagName),
  });
  const document: unknown = parser.parse(xmlText);

  const protocols = childElements(document, 'protocol');
  const protocolElement = protocols[0];
  if (protocols.length !== 1 || protocolElement === undefined) {
    return fail('', `expected exactly one <protocol> element, found ${protocols.length}`);
  }
  const protocolName = attribute(protocolElement, 'name');
  if (protocolName === undefined || !IDENTIFIER.test(protocolName)) {
    return fail('protocol', nameProblem('protocol', protocolName));
  }

  const seenInterfaces = new Set<string>();
  const interfaces = childElements(protocolElement, 'interface').map((element, index) => {
    const spec = parseInterface(element, index, fail);
    if (seenInterfaces.has(spec.name)) {
      fail(`interface ${spec.name}`, 'interface defined twice in this file');
    }
    seenInterfaces.add(spec.name);
    return spec;
  });

  return { name: protocolName, interfaces };
}

type Fail = (path: string, reason: string) => never;

function parseInterface(element: XmlElement, index: number, fail: Fail): InterfaceSpec {
  const name = attribute(element, 'name');
  if (name === undefined || !IDENTIFIER.test(name)) {
    return fail(`interface #${index}`, nameProblem('interface', name));
  }
  const path = `interface ${name}`;
  const version = parseVersionNumber(attribute(element, 'version'), 'version', path, fail, true);

  const requests = parseMessages(element, 'request', path, version, fail);
  const events = parseMessages(element, 'event', path, version, fail);
  const enums = childElements(element, 'enum').map((enumElement, enumIndex) =>
    parseEnum(enumElement, enumIndex, path, version, fail),
  );
  rejectDuplicateNames(enums, 'enum', path, fail);

  return { name, version, requests, events, enums };
}

function parseMessages(
  interfaceElement: XmlElement,
  kind: 'request' | 'event',
  interfacePath: string,
  interfaceVersion: number,
  fail: Fail,
): MessageSpec[] {
  // Invariant: the array index is the opcode, i.e. the position among siblings of the
  // same kind in document order (requests and events are numbered separately).
  const messages = childElements(interfaceElement, kind).map((element, opcode) => {
    const name = attribute(element, 'name');
    if (name === undefined || !IDENTIFIER.test(name)) {
      return fail(`${interfacePath} > ${kind} #${opcode}`, nameProblem(kind, name));
    }
    const path = `${interfacePath} > ${kind} ${name}`;
    const since = parseSince(element, path, interfaceVersion, fail);

    const type = attribute(element, 'type');
    if (type !== undefined && type !== 'destructor') {
      fail(path, `unknown message type "${type}" (only "destructor" is known)`);
    }

    const args = childElements(element, 'arg').map((argElement, argIndex) =>
      parseArg(argElement, argIndex, kind, path, fail),
    );
    rejectDuplicateNames(args, 'arg', path, fail);

    return { name, since, destructor: type === 'destructor', args };
  });
  rejectDuplicateNames(messages, kind, interfacePath, fail);
  return messages;
}

function parseArg(
  element: XmlElement,
  index: number,
  kind: 'request' | 'event',
  messagePath: string,
  fail: Fail,
): ArgSpec {
  const name = attribute(element, 'name');
  if (name === undefined || !IDENTIFIER.test(name)) {
    return fail(`${messagePath} > arg #${index}`, nameProblem('arg', name));
  }
  const path = `${messagePath} > arg ${name}`;

  const type = attribute(element, 'type');
  if (type === undefined) return fail(path, 'missing type');
  if (!isArgType(type)) return fail(path, `unknown arg type "${type}"`);

  const interfaceName = attribute(element, 'interface');
  if (interfaceName !== undefined) {
    if (type !== 'object' && type !== 'new_id') {
      fail(path, `interface="${interfaceName}" on an arg of type ${type}`);
    }
    if (!IDENTIFIER.test(interfaceName)) {
      fail(path, `interface="${interfaceName}" is not an interface name`);
    }
  }
  // The wire form of an untyped new_id is (string interface, uint version, new_id); only
  // a request can carry it (wl_registry.bind). In an event nothing would say what
  // interface the new object has, so the bridge could not track it.
  if (type === 'new_id' && interfaceName === undefined && kind !== 'request') {
    fail(path, 'new_id without interface is only allowed in requests');
  }

  const nullable = parseBoolean(attribute(element, 'allow-null'), 'allow-null', path, fail);

  const enumName = attribute(element, 'enum');
  if (enumName !== undefined && !ENUM_REFERENCE.test(enumName)) {
    fail(path, `enum="${enumName}" is not an enum name`);
  }

  // Optional fields are left out rather than set to undefined, so specs from XML and
  // from generated tables compare equal key for key.
  return {
    name,
    type,
    ...(interfaceName === undefined ? {} : { interface: interfaceName }),
    ...(nullable ? { nullable: true } : {}),
    ...(enumName === undefined ? {} : { enum: enumName }),
  };
}

function parseEnum(
  element: XmlElement,
  index: number,
  interfacePath: string,
  interfaceVersion: number,
  fail: Fail,
): EnumSpec {
  const name = attribute(element, 'name');
  if (name === undefined || !IDENTIFIER.test(name)) {
    return fail(`${interfacePath} > enum #${index}`, nameProblem('enum', name));
  }
  const path = `${interfacePath} > enum ${name}`;
  const bitfield = parseBoolean(attribute(element, 'bitfield'), 'bitfield', path, fail);

  const entries = childElements(element, 'entry').map((entryElement, entryIndex) =>
    parseEntry(entryElement, entryIndex, path, interfaceVersion, fail),
  );
  rejectDuplicateNames(entries, 'entry', path, fail);

  return { name, bitfield, entries };
}

function parseEntry(
  element: XmlElement,
  index: number,
  enumPath: string,
  interfaceVersion: number,
  fail: Fail,
): EnumEntrySpec {
  const name = attribute(element, 'name');
  if (name === undefined || !ENTRY_NAME.test(name)) {
    return fail(`${enumPath} > entry #${index}`, nameProblem('entry', name));
  }
  const path = `${enumPath} > entry ${name}`;

  const rawValue = attribute(element, 'value');
  if (rawValue === undefined) return fail(path, 'missing value');
  const valueText = decodeEntities(rawValue).trim();
  const value = parseEntryValue(valueText);
  if (value === undefined) {
    return fail(path, `value "${valueText}" is not a number (decimal, 0x-hex, or N << M)`);
  }
  // Anything past 32 bits cannot be on the wire.
  if (value > UINT32_MAX) return fail(path, `value ${valueText} does not fit in 32 bits`);

  const since = parseSince(element, path, interfaceVersion, fail);
  return { name, value, since };
}

/** An entry value as a number, or undefined when it is not one of the accepted forms. */
function parseEntryValue(text: string): number | undefined {
  // Number() reads decimal and 0x-hex exactly.
  if (NUMBER.test(text)) return Number(text);
  const shift = SHIFT.exec(text);
  if (shift === null) return undefined;
  const base = Number(shift[1]);
  const bits = Number(shift[2]);
  // Multiplication, not `<<`, which wraps at 32 bits and would hide an overflow.
  return bits > 32 ? Number.POSITIVE_INFINITY : base * 2 ** bits;
}

/** Expands the predefined entities and numeric character references; others stay. */
function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, body: string) => {
    if (body.startsWith('#x')) return codePoint(Number.parseInt(body.slice(2), 16), whole);
    if (body.startsWith('#')) return codePoint(Number.parseInt(body.slice(1), 10), whole);
    return PREDEFINED_ENTITIES[body] ?? whole;
  });
}

function codePoint(value: number, fallback: string): string {
  return value <= 0x10ffff ? String.fromCodePoint(value) : fallback;
}

function parseSince(element: XmlElement, path: string, interfaceVersion: number, fail: Fail) {
  const since = parseVersionNumber(attribute(element, 'since'), 'since', path, fail, false);
  if (since > interfaceVersion) {
    fail(path, `since="${since}" is above the interface version ${interfaceVersion}`);
  }
  return since;
}

/** A version is a positive 32-bit integer written in decimal; an absent `since` is 1. */
function parseVersionNumber(
  text: string | undefined,
  attributeName: string,
  path: string,
  fail: Fail,
  required: boolean,
): number {
  if (text === undefined) {
    return required ? fail(path, `missing ${attributeName}`) : 1;
  }
  const value = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= UINT32_MAX)) {
    return fail(path, `${attributeName}="${text}" is not a positive integer`);
  }
  return value;
}

function parseBoolean(
  text: string | undefined,
  attributeName: string,
  path: string,
  fail: Fail,
): boolean {
  if (text === undefined || text === 'false') return false;
  if (text === 'true') return true;
  return fail(path, `${attributeName}="${text}" is neither "true" nor "false"`);
}

function rejectDuplicateNames(
  specs: readonly { readonly name: string }[],
  kind: string,
  parentPath: string,
  fail: Fail,
): void {
  const seen = new Set<string>();
  for (const { name } of specs) {
    if (seen.has(name)) fail(`${parentPath} > ${kind} ${name}`, `${kind} defined twice`);
    seen.add(name);
  }
}

function nameProblem(kind: string, name: string | undefined): string {
  return name === undefined ? `${kind} without a name` : `${kind} name "${name}" is not valid`;
}

function isArgType(text: string): text is ArgType {
  return ARG_TYPES.has(text);
}

function isElement(value: unknown): value is XmlElement {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Children with the given tag, in document order. An element with neither attributes
 * nor children comes back from the parser as a string; it is treated as empty.
 */
function childElements(parent: unknown, tag: string): XmlElement[] {
  if (!isElement(parent)) return [];
  const children = parent[tag];
  if (!Array.isArray(children)) return [];
  return children.map((child: unknown) => (isElement(child) ? child : {}));
}

function attribute(element: XmlElement, name: string): string | undefined {
  const value = element[ATTRIBUTE_PREFIX + name];
  return typeof value === 'string' ? value : undefined;
}
