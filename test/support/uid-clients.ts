// Clients in a process of their own, so a test can run them as another uid (setpriv):
//   uid-clients PATH COUNT
// connects COUNT clients to PATH at once, each asks for a roundtrip, prints one JSON
// line (each outcome: "served", or the refusal's message), and keeps the served ones
// connected until its stdin ends.

import { roundtripOrRefusal } from './raw-client.js';

const [path, count] = process.argv.slice(2);
const outcomes = await Promise.all(
  Array.from({ length: Number(count) }, () => roundtripOrRefusal(path!)),
);
process.stdout.write(
  `${JSON.stringify(outcomes.map((o) => ('served' in o ? 'served' : 'refused' in o ? o.refused : 'hung up')))}\n`,
);
process.stdin.on('end', () => {
  for (const o of outcomes) if ('served' in o) o.served.close();
  process.exit(0);
});
process.stdin.resume();
