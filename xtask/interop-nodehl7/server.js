// nodehl7 2.0.0's MLLP server (`MLLPServer`) as a third-party receiver for `cargo xtask interop`.
//
// Usage: node server.js PORT [HOST]   (HOST defaults to 127.0.0.1; prints `listening HOST:PORT`)
//
// nodehl7 frames and unframes (its `unwrap` skips bytes before a start block and waits for
// 0x1C 0x0D) and parses, but it has no acknowledgment builder: its README's server answers each
// message with an ACK the application writes (`reply('MSH|...||ACK|...\rMSA|AA|...')`). This
// script writes that ACK the way HL7 v2.5.1 ch. 2 (2.9.2, original acknowledgment mode; MSH and
// MSA in 2.14.9 / 2.14.8) describes it, from the fields nodehl7's parser reads:
// - a message nodehl7 parses: AA (the library does not validate, so every type, event, version
//   and processing id is accepted), MSA-2 = its MSH-10;
// - a frame nodehl7 cannot parse: AR with an empty MSA-2 (there is no MSH-10 to echo).
// The ACK's MSH-3..6 swap the message's, MSH-7 is now (UTC), MSH-9 ACK^<trigger>^ACK (ACK^<trigger>
// before v2.3.1, which had no message structure component), MSH-10 is the ACK's own, MSH-11 and
// MSH-12 are the message's. What this declares is in xtask/interop-profiles/nodehl7.yaml.
'use strict';

const Hl7Parser = require('nodehl7');
const { MLLPServer } = require('nodehl7');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
// The parser logs unknown segment names through `logger.error`; they go to stderr (the log).
const parser = new Hl7Parser({ logger: console });
let counter = 0;

function now() {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

// A field as text: nodehl7 splits a field with components into an array.
function text(value, component) {
  if (value === null || value === undefined) return '';
  return Array.isArray(value) ? value.join(component) : String(value);
}

// Versions before 2.3.1 have no message structure component in MSH-9.
function hasStructure(version) {
  const parts = version.split('.').map(Number);
  const [major, minor, patch] = [parts[0] || 0, parts[1] || 0, parts[2] || 0];
  return major > 2 || minor > 3 || (minor === 3 && patch >= 1);
}

function reject() {
  return `MSH|^~\\&|||||${now()}||ACK|NODEACK${++counter}|P|2.5.1\rMSA|AR|\r`;
}

async function acknowledge(payload) {
  const raw = payload.toString('utf8');
  let message;
  try {
    message = await parser.parse(raw, `frame-${counter + 1}`);
  } catch (err) {
    return reject();
  }
  if (!message || !raw.startsWith('MSH') || raw.length < 8) return reject();
  const field = raw[3];
  const encoding = raw.substring(4, 8);
  const component = encoding[0];
  const get = (name) => text(message.get('MSH', name), component);
  const version = get('Version ID').split(component)[0];
  const trigger = get('Message type').split(component)[1] || '';
  const type = hasStructure(version) ? ['ACK', trigger, 'ACK'] : ['ACK', trigger];
  const msh = [
    'MSH', encoding,
    get('Receiving application'), get('Receiving facility'),
    get('Sending application'), get('Sending facility'),
    now(), '', type.join(component), `NODEACK${++counter}`,
    get('Processing ID'), get('Version ID'),
  ];
  return `${msh.join(field)}\rMSA${field}AA${field}${get('Message control ID')}\r`;
}

const server = new MLLPServer((payload, reply) => {
  acknowledge(payload).then(reply, (err) => {
    console.error('nodehl7 server:', err);
    reply(reject());
  });
});
server.on('error', (err) => console.error('nodehl7 server:', err.message));
server.listen(port, host, () => {
  const address = server.address();
  console.log(`listening ${address.address}:${address.port}`);
});
