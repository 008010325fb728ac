// Says, once per client and interface, that a compositor global is hidden from the client
// because no protocol table describes it. Hiding is right (the bridge could not frame
// its messages), but the user loses a feature without it: so it is said at info, with
// the way out (`--protocol-dir`), and not repeated for every re-advertisement.

import type { Logger } from 'pino';

export type HiddenGlobalLog = Pick<Logger, 'info'>;

/** One per session: remembers which interfaces it has already reported. */
export class HiddenGlobalReporter {
  readonly #reported = new Set<string>();

  constructor(
    private readonly log: HiddenGlobalLog,
    private readonly session: number,
  ) {}

  /** Called for each hidden `wl_registry.global`; logs the first one of each interface. */
  hidden(interfaceName: string, name: number, version: number): void {
    if (this.#reported.has(interfaceName)) return;
    this.#reported.add(interfaceName);
    this.log.info(
      { session: this.session, interface: interfaceName, name, version },
      `global ${interfaceName} hidden from the client: no protocol table for it ` +
        '(load its XML with --protocol-dir DIR)',
    );
  }
}
