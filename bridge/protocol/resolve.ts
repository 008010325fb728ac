// Decides which definition an interface name stands for when several protocols define
// it. The wire names only interfaces, never protocols, so the relay can hold one table
// per name; this module picks it, and withdraws what would otherwise be parsed with a
// table its authors never wrote. Pure: specs in, a name → spec map and the conflicts out.
//
// The rule:
// - Same name, wire-compatible definitions (one is the other plus messages appended —
//   old and new releases of one protocol, or two copies of one file):
//   the higher version wins, as it describes more; on equal versions, the later one.
// - Same name, incompatible definitions (a different message at some opcode — e.g.
//   xdg_surface in xdg-shell-unstable-v5 and in stable xdg-shell): the higher version
//   still wins the name (on equal versions the later one, so `--protocol-dir` can replace
//   a built-in), and every interface of the losing protocol that reaches the lost one
//   through its object/new_id arguments is withdrawn. A global of the losing protocol is
//   then hidden like any global without a table, instead of being relayed with opcodes
//   read from another protocol's table (which would desync the bridge's object map).
//
// Only references inside one protocol are followed: an interface that names an
// interface of another protocol does not say which protocol's definition it means.

import type { InterfaceSpec, MessageSpec, ProtocolSpec } from './types.js';

export interface InterfaceConflict {
  readonly interfaceName: string;
  /** The protocol whose definition the name stands for. */
  readonly kept: string;
  /** The protocol whose incompatible definition lost. */
  readonly shadowed: string;
  /** Interfaces of `shadowed` withdrawn because they reach the lost definition. */
  readonly withdrawn: readonly string[];
}

export interface ResolvedInterfaces {
  /** The winning definition of every name that is not withdrawn. */
  readonly byName: ReadonlyMap<string, InterfaceSpec>;
  readonly conflicts: readonly InterfaceConflict[];
}

interface Candidate {
  readonly spec: InterfaceSpec;
  readonly protocol: ProtocolSpec;
  /** Position in the input; decides ties on equal versions (later wins). */
  readonly order: number;
}

export function resolveInterfaces(protocols: readonly ProtocolSpec[]): ResolvedInterfaces {
  const candidates: Candidate[] = [];
  for (const protocol of protocols) {
    for (const spec of protocol.interfaces) {
      candidates.push({ spec, protocol, order: candidates.length });
    }
  }
  const withdrawn = new Set<Candidate>();
  const conflicts = new Map<string, InterfaceConflict>();

  // Withdrawing a winner can hand its name to another definition, which may conflict in
  // turn; so each round settles one conflict against fresh winners, until none is left
  // (a round that changes something withdraws at least one candidate, so this ends).
  for (;;) {
    const winners = pickWinners(candidates, withdrawn);
    let changed = false;
    for (const candidate of candidates) {
      if (withdrawn.has(candidate)) continue;
      const winner = winners.get(candidate.spec.name);
      if (winner === undefined || winner === candidate) continue;
      if (wireCompatible(candidate.spec, winner.spec)) continue;

      const reaching = interfacesReaching(candidate.protocol, candidate.spec.name);
      const visible: string[] = [];
      for (const other of candidates) {
        if (other.protocol !== candidate.protocol || !reaching.has(other.spec.name)) continue;
        if (winners.get(other.spec.name) === other) visible.push(other.spec.name);
        if (!withdrawn.has(other)) {
          withdrawn.add(other);
          changed = true;
        }
      }
      const key = `${candidate.spec.name}\u0000${candidate.protocol.name}`;
      if (!conflicts.has(key)) {
        conflicts.set(key, {
          interfaceName: candidate.spec.name,
          kept: winner.protocol.name,
          shadowed: candidate.protocol.name,
          withdrawn: visible,
        });
      }
      if (changed) break;
    }
    if (!changed) {
      const byName = new Map<string, InterfaceSpec>();
      for (const [name, winner] of winners) byName.set(name, winner.spec);
      return { byName, conflicts: [...conflicts.values()] };
    }
  }
}

function pickWinners(
  candidates: readonly Candidate[],
  withdrawn: ReadonlySet<Candidate>,
): Map<string, Candidate> {
  const winners = new Map<string, Candidate>();
  for (const candidate of candidates) {
    if (withdrawn.has(candidate)) continue;
    const current = winners.get(candidate.spec.name);
    // Candidates come in input order, so `>=` lets the later one win a tie.
    if (current === undefined || candidate.spec.version >= current.spec.version) {
      winners.set(candidate.spec.name, candidate);
    }
  }
  return winners;
}

/**
 * Whether the two definitions frame every message they share the same way: for requests
 * and for events, one list must be the other with messages appended (what later
 * versions do). `since` is not compared: an appended message changes no earlier opcode
 * whatever version it claims (KDE's kde_output_management_v2.create_mode_list was added
 * without a `since`). Nor is the destructor flag: upstream adds it to events that always
 * ended their object (wlr-output-management's `finished`), which changes no framing.
 * Enum values and `allow-null` may differ too; names and argument types (with their
 * interfaces) may not.
 */
export function wireCompatible(a: InterfaceSpec, b: InterfaceSpec): boolean {
  return isPrefixEitherWay(a.requests, b.requests) && isPrefixEitherWay(a.events, b.events);
}

function isPrefixEitherWay(a: readonly MessageSpec[], b: readonly MessageSpec[]): boolean {
  const shared = Math.min(a.length, b.length);
  for (let opcode = 0; opcode < shared; opcode++) {
    const left = a[opcode];
    const right = b[opcode];
    if (left === undefined || right === undefined || !sameShape(left, right)) return false;
  }
  return true;
}

function sameShape(a: MessageSpec, b: MessageSpec): boolean {
  if (a.name !== b.name || a.args.length !== b.args.length) {
    return false;
  }
  return a.args.every((arg, index) => {
    const other = b.args[index];
    return other !== undefined && arg.type === other.type && arg.interface === other.interface;
  });
}

/** Names of the interfaces of `protocol` that reach `target` (itself included). */
function interfacesReaching(protocol: ProtocolSpec, target: string): Set<string> {
  const referrers = new Map<string, string[]>();
  for (const spec of protocol.interfaces) {
    for (const message of [...spec.requests, ...spec.events]) {
      for (const arg of message.args) {
        if (arg.interface === undefined) continue;
        const list = referrers.get(arg.interface) ?? [];
        list.push(spec.name);
        referrers.set(arg.interface, list);
      }
    }
  }
  const reaching = new Set<string>([target]);
  const queue = [target];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    for (const referrer of referrers.get(name) ?? []) {
      if (reaching.has(referrer)) continue;
      reaching.add(referrer);
      queue.push(referrer);
    }
  }
  return reaching;
}
