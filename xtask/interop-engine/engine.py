# A small HL7 v2 interface engine on python-hl7 0.4.5 (PyPI `hl7`), written as a real engine
# on another stack for `cargo xtask interop` to run a through case against (issue 17): the
# harness did not write its MLLP code, its parser or its ACKs. Part of hl7-harness;
# Apache-2.0, like the rest of the repository.
#
# Usage:
#   python engine.py --config engine.json --listen HOST:PORT --workdir DIR \
#       [--destination NAME=HOST:PORT]...
#
# It prints `listening on mllp://HOST:PORT` once bound (port 0 picks a free one) and runs until
# killed; one log line per input verdict, delivery, retry and give-up goes to standard error.
#
# What it does with each input (python-hl7's asyncio server, `hl7.mllp.start_hl7_server`):
# 1. A message type in the config's `filter` list, or one no route takes, is answered AA and
#    forwarded nowhere (filtering is the engine doing its job).
# 2. Each route that takes it applies its mappings (set, copy, map a value, drop a segment) on
#    python-hl7's parse of the message, one output per destination of the route.
# 3. When every output finds room in its destination's bounded queue, the input and its
#    outputs are appended to DIR/inbox.journal and fsynced; only then is the input answered AA.
#    A full queue or a failed write is answered AR and nothing is kept (the source resends).
# 4. One forwarder per destination sends its outputs one at a time over python-hl7's client
#    (`hl7.mllp.open_hl7_connection`) and waits for the ACK whose MSA-2 is the output's MSH-10.
#    No ACK in time or a close: the connection is closed (a late ACK would answer the resend)
#    and the same bytes go again, same MSH-10, after a backoff; so do they after a negative ACK
#    in `retry_on` (default AR, CE); any other (AE, CR) gives the output up. The head of a
#    queue leaves it only when closed, so order is kept and nothing is lost; each
#    closed output is written to DIR/outcomes.journal, and a restart queues the journaled
#    outputs not closed there.
#
# MSH-15/MSH-16 valued (enhanced mode, HL7 v2.5.1 ch. 2, 2.9.3): CA/CE/CR instead of AA/AE/AR.
# Every wait has a timeout, every queue a bound; the one open-ended wait is the server itself.
#
# The config (JSON):
# {
#   "filter": ["ADT^A28"],                      # CODE^EVENT or CODE: answered AA, not forwarded
#   "destinations": {"register": {"ack_timeout": 2, "connect_timeout": 2, "retries": null,
#                    "backoff": 0.2, "backoff_max": 5, "max_queue": 1000,
#                    "retry_on": ["AR", "CE"]}},
#   "routes": [{"name": "...", "messages": ["ADT^A01"], "to": ["register"], "mappings": [
#       {"set": {"path": "MSH-5", "value": "REGISTER"}},
#       {"copy": {"from": "PID-3.1", "to": "PID-2"}},
#       {"map": {"path": "PV1-2", "values": {"I": "INPATIENT"}, "default": "OTHER"}},
#       {"drop_segment": "ZPD"}]}],
#   "limits": {"max_frame_bytes": 1048576, "idle_timeout": 300, "max_connections": 64}
# }
# Paths are SEG-FIELD[.COMPONENT[.SUBCOMPONENT]] on the first segment of that name and the
# first repetition; MSH-1 and MSH-2 cannot be mapped.

import argparse
import asyncio
import collections
import json
import os
import re
import sys
import time

import hl7
from hl7.mllp import InvalidBlockError, open_hl7_connection, start_hl7_server

# Every byte maps to one character and back: messages in any character set (MSH-18) pass
# through python-hl7 unchanged, and the mappings' ASCII values encode the same in all of them.
CODEC = "iso-8859-1"

PATH = re.compile(r"^([A-Z][A-Z0-9]{2})-([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?$")

# How long a forwarder waits idle for work before looking again (a bounded wait, not a limit).
IDLE_POLL = 30.0
# The negative acknowledgment codes of HL7 table 0008.
NEGATIVE = {"AE", "AR", "CE", "CR"}
# Longest a write of an ACK to a source may take.
WRITE_TIMEOUT = 5.0


def log(text):
    print("engine.py: " + text, file=sys.stderr, flush=True)


class ConfigError(Exception):
    pass


class MappingError(Exception):
    pass


def parse_path(text):
    """'PID-3.1' -> ('PID', 3, 1, None); refuses MSH-1 and MSH-2 (the delimiters)."""
    found = PATH.match(text or "")
    if not found:
        raise ConfigError("not a path: %r (SEG-FIELD[.COMPONENT[.SUBCOMPONENT]])" % (text,))
    segment, field = found.group(1), int(found.group(2))
    component = int(found.group(3)) if found.group(3) else None
    subcomponent = int(found.group(4)) if found.group(4) else None
    if field < 1 or (segment == "MSH" and field < 3):
        raise ConfigError("%s cannot be mapped" % text)
    return segment, field, component, subcomponent


def read_value(message, path):
    """The decoded text at `path` (python-hl7 unescapes it); '' when absent."""
    segment, field, component, subcomponent = path
    try:
        return message.extract_field(segment, 1, field, 1, component or 1, subcomponent or 1)
    except (KeyError, IndexError):
        return ""


def write_value(message, path, text):
    """Sets the text at `path`, escaped with the message's own delimiters."""
    segment, field, component, subcomponent = path
    escaped = message.escape(text)
    try:
        if component is None:
            message.assign_field(escaped, segment, 1, field)
        else:
            message.assign_field(escaped, segment, 1, field, 1, component, subcomponent)
    except KeyError:
        raise MappingError("no %s segment to set %s-%d in" % (segment, segment, field))


def compile_mapping(raw):
    """One mapping of the config as a function of a python-hl7 message."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConfigError("a mapping is one of set, copy, map, drop_segment: %r" % (raw,))
    (kind, spec), = raw.items()
    if kind == "set":
        path, value = parse_path(spec["path"]), str(spec["value"])
        return lambda m: write_value(m, path, value)
    if kind == "copy":
        source, target = parse_path(spec["from"]), parse_path(spec["to"])

        def copy(m):
            value = read_value(m, source)
            if value:
                write_value(m, target, value)
        return copy
    if kind == "map":
        path, values = parse_path(spec["path"]), dict(spec["values"])
        default = spec.get("default")

        def map_value(m):
            current = read_value(m, path)
            if current in values:
                write_value(m, path, str(values[current]))
            elif default is not None:
                write_value(m, path, str(default))
        return map_value
    if kind == "drop_segment":
        name = str(spec)
        if name == "MSH" or not re.match(r"^[A-Z][A-Z0-9]{2}$", name):
            raise ConfigError("drop_segment: %r" % (name,))

        def drop(m):
            m[:] = [s for s in m if str(s[0]) != name]
        return drop
    raise ConfigError("unknown mapping %r" % (kind,))


def message_type(message):
    """MSH-9.1^MSH-9.2, e.g. 'ADT^A01'."""
    code = read_value(message, ("MSH", 9, 1, None))
    event = read_value(message, ("MSH", 9, 2, None))
    return code + "^" + event if event else code


def type_matches(patterns, kind):
    code = kind.split("^")[0]
    return any(p == "*" or p == kind or p == code for p in patterns)


def ack_for(message, code):
    """The ACK's bytes: python-hl7's create_ack, or, for a message it cannot take apart (an
    MSH-9 without components makes it fail), the same fields written here (HL7 v2.5.1 ch. 2,
    2.9.2: MSH-3/4 and MSH-5/6 swapped, MSA-2 the input's MSH-10)."""
    try:
        return str(message.create_ack(ack_code=code)).encode(CODEC)
    except Exception:
        field = lambda n: message.escape(read_value(message, ("MSH", n, None, None)))
        now = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        msh = [field(5), field(6), field(3), field(4), now, "", "ACK", "A" + now, field(11),
               field(12)]
        separator = read_value(message, ("MSH", 1, None, None)) or "|"
        encoding = str(message.segment("MSH")[2]) or "^~\\&"
        return ("MSH" + separator + encoding + separator + separator.join(msh) + "\r" +
                "MSA" + separator + code + separator + field(10) + "\r").encode(CODEC)


class Destination:
    """One destination: its bounded queue and its forwarder."""

    def __init__(self, name, address, spec, engine):
        self.name = name
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.ack_timeout = float(spec.get("ack_timeout", 10))
        self.connect_timeout = float(spec.get("connect_timeout", 5))
        self.retries = spec.get("retries")  # None: unlimited
        self.backoff = float(spec.get("backoff", 0.2))
        self.backoff_max = float(spec.get("backoff_max", 10))
        self.max_queue = int(spec.get("max_queue", 10000))
        self.retry_on = set(spec.get("retry_on", ["AR", "CE"]))
        self.engine = engine
        # (sequence, output number, control id, bytes); the head leaves only once closed.
        self.queue = collections.deque()
        self.work = asyncio.Event()
        self.connection = None

    def room(self, wanted):
        return len(self.queue) + wanted <= self.max_queue

    def put(self, item):
        self.queue.append(item)
        self.work.set()

    async def close(self):
        if self.connection is None:
            return
        _, writer = self.connection
        self.connection = None
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except Exception:
            pass

    async def send_once(self, control_id, payload):
        """One send: the ACK code, or None for no ACK (timeout, close, refused connect)."""
        try:
            if self.connection is None:
                self.connection = await asyncio.wait_for(
                    open_hl7_connection(self.host, self.port, encoding=CODEC),
                    self.connect_timeout)
            reader, writer = self.connection
            writer.writeblock(payload)
            deadline = time.monotonic() + self.ack_timeout
            await asyncio.wait_for(writer.drain(), self.ack_timeout)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError()
                block = await asyncio.wait_for(reader.readblock(), left)
                try:
                    ack = hl7.parse(block.decode(CODEC))
                    code = read_value(ack, ("MSA", 1, None, None))
                    answered = read_value(ack, ("MSA", 2, None, None))
                except Exception:
                    continue  # not an ACK we can read: keep waiting for ours
                if answered == control_id:
                    return code
                log("%s: an ACK for %r while waiting for %r, ignored" %
                    (self.name, answered, control_id))
        except (asyncio.TimeoutError, OSError, EOFError, asyncio.IncompleteReadError,
                InvalidBlockError, ValueError) as why:
            log("%s: %r not acknowledged (%s)" % (self.name, control_id, type(why).__name__))
            # A late ACK on this connection would answer the resend: start afresh.
            await self.close()
            return None

    async def forward(self):
        while True:
            if not self.queue:
                self.work.clear()
                try:
                    await asyncio.wait_for(self.work.wait(), IDLE_POLL)
                except asyncio.TimeoutError:
                    pass
                continue
            sequence, number, control_id, payload = self.queue[0]
            attempt, pause = 0, self.backoff
            while True:
                try:
                    code = await self.send_once(control_id, payload)
                except Exception as why:  # anything unforeseen: not delivered, try again
                    log("%s: %r: %r" % (self.name, control_id, why))
                    await self.close()
                    code = None
                if code in ("AA", "CA"):
                    outcome = "delivered"
                    break
                # A negative ACK not in retry_on refuses the content: the same bytes would fail
                # again. An MSA-1 outside table 0008 is no accept, and giving up would lose it.
                if code in NEGATIVE and code not in self.retry_on:
                    outcome = "dead"
                    break
                if self.retries is not None and attempt >= int(self.retries):
                    outcome = "dead"
                    break
                attempt += 1
                log("%s: %r answered %s; again in %.1fs (resend %d)" %
                    (self.name, control_id, code or "nothing", pause, attempt))
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.backoff_max)
            self.engine.close_output(sequence, number, self.name, outcome)
            self.queue.popleft()
            log("%s: %r %s" % (self.name, control_id, outcome))


class Engine:
    def __init__(self, config, addresses, workdir):
        self.filter = list(config.get("filter", []))
        self.destinations = {}
        for name, spec in config.get("destinations", {}).items():
            if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", name):
                raise ConfigError("destination name %r: letters, digits, _ . - only" % (name,))
            address = addresses.get(name) or spec.get("address")
            if not address:
                raise ConfigError("destination %s: no --destination %s=HOST:PORT" % (name, name))
            self.destinations[name] = Destination(name, address, spec, self)
        self.routes = []
        for route in config.get("routes", []):
            for name in route.get("to", []):
                if name not in self.destinations:
                    raise ConfigError("route %s: no destination %s" %
                                      (route.get("name"), name))
            mappings = [compile_mapping(m) for m in route.get("mappings", [])]
            self.routes.append((route.get("messages", ["*"]), route["to"], mappings))
        limits = config.get("limits", {})
        self.max_frame = int(limits.get("max_frame_bytes", 1 << 20))
        self.idle_timeout = float(limits.get("idle_timeout", 300))
        self.max_connections = int(limits.get("max_connections", 64))
        self.connections = 0
        os.makedirs(workdir, exist_ok=True)
        self.inbox_path = os.path.join(workdir, "inbox.journal")
        self.outcomes_path = os.path.join(workdir, "outcomes.journal")
        self.sequence = 0
        self.resume()
        self.outcomes = open(self.outcomes_path, "ab")

    def resume(self):
        """Queues every journaled output that outcomes.journal does not close."""
        closed = set()
        if os.path.exists(self.outcomes_path):
            with open(self.outcomes_path, "rb") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
                        closed.add((int(parts[1]), int(parts[2]), parts[3].decode()))
        if not os.path.exists(self.inbox_path):
            return
        with open(self.inbox_path, "rb") as f:
            data = f.read()
        # Records: `IN SEQ OUTPUTS LEN\n` + bytes + `\n`, then `OUT SEQ N DEST LEN\n` + bytes +
        # `\n` per output (destination names are one word). An input counts only with all its
        # outputs: a torn tail (a crash mid-write) was never acknowledged, and the source
        # sends it again.
        offset, resumed, group = 0, 0, None

        def record():
            nonlocal offset
            end = data.find(b"\n", offset)
            if end < 0:
                return None
            head = data[offset:end].split()
            if len(head) < 4:
                return None
            try:
                numbers = [int(x) for x in head[1:3] + head[-1:]]
            except ValueError:
                return None
            length = numbers[-1]
            body = data[end + 1:end + 1 + length]
            if len(body) < length or head[0] not in (b"IN", b"OUT"):
                return None
            offset = end + 2 + length
            return head, numbers, body

        while True:
            found = record()
            if found is None:
                break
            head, numbers, body = found
            if head[0] == b"IN" and len(head) == 4:
                group = (numbers[0], numbers[1], [])
            elif head[0] == b"OUT" and len(head) == 5 and group and numbers[0] == group[0]:
                group[2].append((numbers[1], head[3].decode(), body))
            else:
                break
            if len(group[2]) == group[1]:
                sequence = group[0]
                self.sequence = max(self.sequence, sequence)
                for number, name, payload in group[2]:
                    if (sequence, number, name) in closed or name not in self.destinations:
                        continue
                    message = hl7.parse(payload.decode(CODEC))
                    control_id = read_value(message, ("MSH", 10, None, None))
                    self.destinations[name].put((sequence, number, control_id, payload))
                    resumed += 1
                group = None
        if resumed:
            log("resumed %d output(s) from the journal" % resumed)

    def close_output(self, sequence, number, name, outcome):
        # A failed write only means a restart sends the output again (same MSH-10): at least
        # once, never lost.
        try:
            self.outcomes.write(b"%s %d %d %s\n" % (outcome.encode(), sequence, number,
                                                    name.encode()))
            self.outcomes.flush()
            os.fsync(self.outcomes.fileno())
        except OSError as why:
            log("outcomes.journal: %s" % why)

    def route(self, block):
        """The verdict on one input: (ACK code, text for the log)."""
        message = hl7.parse(block.decode(CODEC))
        kind = message_type(message)
        if type_matches(self.filter, kind):
            return "AA", "filtered (%s)" % kind
        outputs = []
        for patterns, names, mappings in self.routes:
            if not type_matches(patterns, kind):
                continue
            for name in names:
                copy = hl7.parse(block.decode(CODEC))
                try:
                    for mapping in mappings:
                        mapping(copy)
                except (MappingError, KeyError, IndexError, TypeError) as why:
                    return "AE", "mapping failed: %s" % why
                payload = str(copy).encode(CODEC)
                outputs.append((name, read_value(copy, ("MSH", 10, None, None)), payload))
        if not outputs:
            return "AA", "filtered (no route takes %s)" % kind
        wanted = {}
        for name, _, _ in outputs:
            wanted[name] = wanted.get(name, 0) + 1
        for name, count in wanted.items():
            if not self.destinations[name].room(count):
                return "AR", "queue full for %s" % name
        sequence = self.sequence + 1
        record = [b"IN %d %d %d\n" % (sequence, len(outputs), len(block)), block, b"\n"]
        for number, (name, control_id, payload) in enumerate(outputs, 1):
            record += [b"OUT %d %d %s %d\n" % (sequence, number, name.encode(), len(payload)),
                       payload, b"\n"]
        try:
            with open(self.inbox_path, "ab") as f:
                f.write(b"".join(record))
                f.flush()
                os.fsync(f.fileno())
        except OSError as why:
            return "AR", "journal write failed: %s" % why
        self.sequence = sequence
        # No await between the room check and here: the queues cannot fill meanwhile.
        for number, (name, control_id, payload) in enumerate(outputs, 1):
            self.destinations[name].put((sequence, number, control_id, payload))
        return "AA", "accepted as %d, %d output(s)" % (sequence, len(outputs))

    async def serve_connection(self, reader, writer):
        if self.connections >= self.max_connections:
            writer.close()
            return
        self.connections += 1
        try:
            while True:
                try:
                    block = await asyncio.wait_for(reader.readblock(), self.idle_timeout)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, InvalidBlockError,
                        ValueError, OSError):
                    break  # idle, closed, not MLLP, or a frame over the limit
                try:
                    message = hl7.parse(block.decode(CODEC))
                    control_id = read_value(message, ("MSH", 10, None, None))
                except Exception:
                    log("input: not an HL7 message, not answered")
                    continue
                try:
                    code, why = self.route(block)
                except Exception as error:  # a message python-hl7 cannot take apart
                    code, why = "AE", "cannot process: %s" % error
                enhanced = read_value(message, ("MSH", 15, None, None)) or read_value(
                    message, ("MSH", 16, None, None))
                if enhanced:
                    code = {"AA": "CA", "AE": "CE", "AR": "CR"}[code]
                log("input %r: %s %s" % (control_id, code, why))
                try:
                    writer.writeblock(ack_for(message, code))
                    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
                except Exception as why:  # a write timeout, a reset, or create_ack failing
                    log("input %r: the ACK could not be sent (%r)" % (control_id, why))
                    break
        finally:
            self.connections -= 1
            writer.close()


async def main():
    parser = argparse.ArgumentParser(description="A small HL7 v2 engine on python-hl7.")
    parser.add_argument("--config", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--destination", action="append", default=[], metavar="NAME=HOST:PORT")
    args = parser.parse_args()
    addresses = {}
    for item in args.destination:
        name, _, address = item.partition("=")
        addresses[name] = address.removeprefix("mllp://")
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    try:
        engine = Engine(config, addresses, args.workdir)
    except (ConfigError, KeyError, ValueError) as why:
        log("config %s: %s" % (args.config, why))
        sys.exit(2)
    host, _, port = args.listen.removeprefix("mllp://").rpartition(":")
    forwarders = [asyncio.create_task(d.forward()) for d in engine.destinations.values()]
    server = await start_hl7_server(engine.serve_connection, host=host or "127.0.0.1",
                                    port=int(port), encoding=CODEC, limit=engine.max_frame)
    bound = server.sockets[0].getsockname()
    print("listening on mllp://%s:%d" % (bound[0], bound[1]), flush=True)
    for name, d in engine.destinations.items():
        print("destination %s mllp://%s:%d (%d queued)" % (name, d.host, d.port, len(d.queue)),
              flush=True)
    async with server:
        # The engine runs until it is stopped: the one wait without a timeout.
        await server.serve_forever()
    for task in forwarders:
        task.cancel()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
