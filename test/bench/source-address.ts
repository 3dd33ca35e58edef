// The local address a bench device connects from. Linux gives a new connection the first free
// local port of its range (32768–60999 by default) that no connection to the same address and port
// holds, trying even ports before odd ones. Once ~14,000 devices on one source address hold
// connections to the gateway, every further connect() scans the exhausted half: 1.4–1.7 ms of
// kernel CPU per connect on the bench's machine, against ~40 µs, which made the probes of the
// reconnect storm, not the gateway, the limit. Devices in the field come from many addresses; the
// probes spread theirs over 64 addresses of 127.0.0.0/8, all of which Linux routes to loopback.
const SOURCE_ADDRESSES = 64

/** The source address of the device at `index`: the same one on every attempt. */
export function sourceAddressOf (index: number): string {
  return `127.0.1.${String(1 + (index % SOURCE_ADDRESSES))}`
}
