// Renders ProtocolSpecs as the TypeScript modules under bridge/protocol/generated/, so
// the bridge starts without any XML on the machine. Pure string building, kept apart
// from the CLI (scripts/gen-protocols.ts) so the golden test can pin the exact output.
// Invariant: the output depends only on the arguments — same spec, same bytes.

import type { ArgSpec, EnumSpec, InterfaceSpec, MessageSpec, ProtocolSpec } from './types.js';

/** One generated protocol module as the index module refers to it. */
export interface GeneratedModuleRef {
  /**
   * Path from the generated directory without `.ts`, with `/` separators: the family's
   * directory, then {@link protocolModuleStem} (`wlr-protocols/wlr-layer-shell-unstable-v1`).
   */
  readonly path: string;
}

/** File name (without `.ts`) of a protocol's module: `xdg_shell` → `xdg-shell`. */
export function protocolModuleStem(protocolName: string): string {
  return protocolName.replaceAll('_', '-');
}

/**
 * `header` is plain text (one or more lines); each line becomes a `//` comment at the
 * top of the module. The module exports `protocol`, typed as ProtocolSpec (not as its
 * literal value: nothing needs the literal types, and with ~120 modules they would
 * multiply the declaration files and the type-check time), and `enums`: every enum's
 * values by interface, enum and camelCase entry name, as constants, so that code
 * naming an error code or a format (`enums.wl_shm.error.invalidFd`) takes it from the
 * specification instead of a hand copy.
 * `typesModule` is the import path of types.ts as seen from the module.
 */
export function renderProtocolModule(
  spec: ProtocolSpec,
  header: string,
  typesModule = '../types.js',
): string {
  const lines = [
    ...commentLines(header),
    `import type { ProtocolSpec } from ${quote(typesModule)};`,
    '',
    'export const protocol: ProtocolSpec = {',
    `  name: ${quote(spec.name)},`,
    ...renderList('interfaces', spec.interfaces, renderInterface, '  '),
    '};',
    '',
    ...renderEnumConstants(spec),
  ];
  return `${lines.join('\n')}\n`;
}

/** `export const enums = { iface: { enum: { entry: value } } } as const;` */
function renderEnumConstants(spec: ProtocolSpec): string[] {
  const withEnums = spec.interfaces.filter((i) => i.enums.length > 0);
  if (withEnums.length === 0) return ['export const enums = {} as const;'];
  return [
    'export const enums = {',
    ...withEnums.flatMap((i) => [
      `  ${key(i.name)}: {`,
      ...i.enums.flatMap((e) => [
        `    ${key(e.name)}: {`,
        ...e.entries.map((entry) => `      ${key(camelCase(entry.name))}: ${entry.value},`),
        '    },',
      ]),
      '  },',
    ]),
    '} as const;',
  ];
}

/** An object key: bare when it is an identifier, quoted otherwise (`'90'`). */
function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : quote(name);
}

/** The index module: `builtinProtocols`, in the order given. */
export function renderIndexModule(modules: readonly GeneratedModuleRef[], header: string): string {
  const bindings = new Set<string>();
  const imports = modules.map(({ path }) => {
    const binding = camelCase(path);
    if (bindings.has(binding)) {
      throw new Error(`two protocols render to the same binding "${binding}"`);
    }
    bindings.add(binding);
    return { binding, line: `import { protocol as ${binding} } from ${quote(`./${path}.js`)};` };
  });
  const lines = [
    ...commentLines(header),
    "import type { ProtocolSpec } from '../types.js';",
    ...imports.map(({ line }) => line),
    '',
    'export const builtinProtocols: readonly ProtocolSpec[] = [',
    ...imports.map(({ binding }) => `  ${binding},`),
    '];',
  ];
  return `${lines.join('\n')}\n`;
}

function renderInterface(spec: InterfaceSpec, indent: string): string[] {
  const inner = `${indent}  `;
  return [
    `${indent}{`,
    `${inner}name: ${quote(spec.name)},`,
    `${inner}version: ${spec.version},`,
    ...renderList('requests', spec.requests, renderMessage, inner),
    ...renderList('events', spec.events, renderMessage, inner),
    ...renderList('enums', spec.enums, renderEnum, inner),
    `${indent}},`,
  ];
}

/** A message fits on one line: messages are many and short. */
function renderMessage(spec: MessageSpec, indent: string): string[] {
  const args = spec.args.map(renderArg).join(', ');
  return [
    `${indent}{ name: ${quote(spec.name)}, since: ${spec.since}, destructor: ${spec.destructor}, args: [${args}] },`,
  ];
}

/** Keys in the order of ArgSpec; optional keys appear only when set. */
function renderArg(spec: ArgSpec): string {
  const fields = [`name: ${quote(spec.name)}`, `type: ${quote(spec.type)}`];
  if (spec.interface !== undefined) fields.push(`interface: ${quote(spec.interface)}`);
  if (spec.nullable === true) fields.push('nullable: true');
  if (spec.enum !== undefined) fields.push(`enum: ${quote(spec.enum)}`);
  return `{ ${fields.join(', ')} }`;
}

function renderEnum(spec: EnumSpec, indent: string): string[] {
  const inner = `${indent}  `;
  return [
    `${indent}{`,
    `${inner}name: ${quote(spec.name)},`,
    `${inner}bitfield: ${spec.bitfield},`,
    ...renderList(
      'entries',
      spec.entries,
      (entry, entryIndent) => [
        `${entryIndent}{ name: ${quote(entry.name)}, value: ${entry.value}, since: ${entry.since} },`,
      ],
      inner,
    ),
    `${indent}},`,
  ];
}

function renderList<T>(
  key: string,
  items: readonly T[],
  renderItem: (item: T, indent: string) => string[],
  indent: string,
): string[] {
  if (items.length === 0) return [`${indent}${key}: [],`];
  return [
    `${indent}${key}: [`,
    ...items.flatMap((item) => renderItem(item, `${indent}  `)),
    `${indent}],`,
  ];
}

function commentLines(text: string): string[] {
  return text.split('\n').map((line) => (line === '' ? '//' : `// ${line}`));
}

/** A single-quoted TS string literal that reads back as exactly `text`. */
function quote(text: string): string {
  const escaped = JSON.stringify(text).slice(1, -1).replaceAll('\\"', '"').replaceAll("'", "\\'");
  return `'${escaped}'`;
}

/**
 * `wayland-protocols/xdg-shell-unstable-v6` → `waylandProtocolsXdgShellUnstableV6`;
 * `invalid_fd` → `invalidFd`.
 */
function camelCase(path: string): string {
  return path.replace(/[_/-]+([A-Za-z0-9])/g, (_match, next: string) => next.toUpperCase());
}
