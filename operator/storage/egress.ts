// Where the object store client may connect, and whose credentials it may
// carry there. Endpoints come from users (a LearningPipeline's
// spec.artifacts.s3.endpoint), so the operator must not be a confused deputy:
//
// - link-local and cloud metadata addresses are refused, judged on the
//   address a name resolves to at connect time (guardedLookup), so DNS
//   rebinding cannot slip past a check of the host name;
// - the operator's own (ambient) credentials go only to endpoints a cluster
//   admin lists (ambientCredentialsAllowed).
//
// Loopback and private ranges stay allowed (a local MinIO lives on
// 127.0.0.1) unless the admin refuses them too (refusedCidrs).
import { BlockList, isIP } from 'node:net';
import type { LookupAddress, LookupOptions } from 'node:dns';

/** Host names of cloud metadata services (lowercase, without a trailing dot). */
export const METADATA_HOSTNAMES: ReadonlySet<string> = new Set([
  'metadata.google.internal', // GCP
  'metadata.goog', // GCP
  'metadata', // GCP short name
  'instance-data', // AWS
  'instance-data.ec2.internal', // AWS
]);

/** Single metadata addresses outside 169.254.0.0/16 and fe80::/10. */
const METADATA_ADDRESSES: ReadonlyMap<string, string> = new Map([
  ['fd00:ec2::254', 'the AWS instance metadata service (IPv6)'],
  ['100.100.100.200', 'the Alibaba Cloud metadata service'],
  ['168.63.129.16', 'the Azure platform endpoint (WireServer)'],
  ['192.0.0.192', 'the Oracle Cloud metadata service'],
]);

/** The 16-bit groups of an IPv6 address, or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (isIP(text) !== 6) return undefined;
  // a dotted IPv4 tail (::ffff:1.2.3.4) is two groups
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const [a, b, c, d] = dotted[1].split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The canonical text of an IP address (IPv6 compressed, IPv4-mapped IPv6 as IPv4); undefined when not an IP. */
export function canonicalIp(address: string): string | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 4) return bare;
  const g = ipv6Groups(bare);
  if (!g) return undefined;
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated) reach an IPv4 host
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || (g[5] === 0 && (g[6] ?? 0) !== 0))) {
    const hi = g[6] ?? 0;
    const lo = g[7] ?? 0;
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  // compress the longest run of zero groups, as URL and dns print them
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** "10.0.0.0/8" or "fd00::/8" parsed, or why it is not a CIDR. */
export function parseCidr(cidr: string): { network: string; prefix: number; family: 4 | 6 } | string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
  const network = m?.[1] ? canonicalIp(m[1]) : undefined;
  const family = network ? isIP(network) : 0;
  const prefix = Number(m?.[2]);
  if (!network || (family !== 4 && family !== 6) || prefix > (family === 4 ? 32 : 128)) {
    return `"${cidr}" is not a CIDR such as 10.0.0.0/8 or fd00::/8`;
  }
  return { network, prefix, family };
}

function inCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  if (typeof c === 'string' || isIP(ip) !== c.family) return false;
  const list = new BlockList();
  const type = c.family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(c.network, c.prefix, type);
  return list.check(ip, type);
}

/**
 * Why the client must not connect to `address` (an IP, as DNS returns it), or
 * undefined when it may: link-local addresses (169.254.0.0/16, fe80::/10),
 * where the cloud metadata services live, the other metadata addresses, the
 * unspecified address, and the ranges in `refusedCidrs` (the admin's).
 */
export function refusedAddress(address: string, refusedCidrs: readonly string[] = []): string | undefined {
  const ip = canonicalIp(address);
  if (ip === undefined) return undefined;
  const cidr = refusedCidrs.find((c) => inCidr(ip, c));
  if (cidr) return `${ip} is in ${cidr}, a range the cluster admin refuses for object storage`;
  const known = METADATA_ADDRESSES.get(ip);
  if (known) return `${ip} is ${known}`;
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number);
    if (a === 169 && b === 254) {
      return `${ip} is a link-local address (169.254.0.0/16), where cloud metadata services answer`;
    }
    if (a === 0) return `${ip} is not a destination address (0.0.0.0/8)`;
    return undefined;
  }
  const first = ipv6Groups(ip)?.[0] ?? 0;
  if ((first & 0xffc0) === 0xfe80) return `${ip} is a link-local address (fe80::/10)`;
  if (ip === '::') return ':: is not a destination address';
  return undefined;
}

/** Why the client must not connect to `hostname` (a name or an IP literal) as written, or undefined. */
export function refusedHost(hostname: string, refusedCidrs: readonly string[] = []): string | undefined {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (METADATA_HOSTNAMES.has(name)) return `${name} is a cloud metadata service`;
  return refusedAddress(name, refusedCidrs);
}

export type Lookup = (
  hostname: string,
  options: LookupOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/** The error a refused connection fails with (the socket's 'error'). */
export class EndpointRefusedError extends Error {
  readonly code = 'EndpointRefused';
  constructor(message: string) {
    super(message);
    this.name = 'EndpointRefusedError';
  }
}

/**
 * A net.connect `lookup` that resolves with `resolve` (dns.lookup) and fails
 * with EndpointRefusedError when the name is refused or any address it
 * resolves to is: the check runs on the addresses the socket then connects to.
 */
export function guardedLookup(resolve: Lookup, refusedCidrs: readonly string[] = []): Lookup {
  return (hostname, options, callback) => {
    const byName = refusedHost(hostname, refusedCidrs);
    if (byName) {
      callback(new EndpointRefusedError(byName), '', 0);
      return;
    }
    resolve(hostname, { ...options, all: true }, (error, found) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const addresses: LookupAddress[] = Array.isArray(found)
        ? found
        : [{ address: found, family: isIP(found) || 4 }];
      for (const a of addresses) {
        const why = refusedAddress(a.address, refusedCidrs);
        if (why) {
          callback(new EndpointRefusedError(`${hostname} resolves to ${a.address}: ${why}`), '', 0);
          return;
        }
      }
      const first = addresses[0];
      if (options.all) callback(null, addresses);
      else if (first) callback(null, first.address, first.family);
      else callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
    });
  };
}

// --- ambient credentials ---------------------------------------------------------------

/** What the cluster admin decided about users' object storage (operator flags). */
export interface StorageAccessPolicy {
  /** Origins where resources without a credentialsSecret may use the operator's credentials. */
  ambientCredentialsEndpoints: readonly string[];
  /** The most the operator reads of any object (--s3-max-read-bytes). */
  maxReadBytes: number;
  /** Address ranges refused besides link-local and metadata (--s3-refused-cidrs), e.g. 127.0.0.0/8. */
  refusedCidrs: readonly string[];
}

export const DEFAULT_MAX_READ_BYTES = 1024 * 1024;

/** Nothing gets the operator's credentials; reads are capped at 1 MiB. */
export const DEFAULT_STORAGE_ACCESS: StorageAccessPolicy = {
  ambientCredentialsEndpoints: [],
  maxReadBytes: DEFAULT_MAX_READ_BYTES,
  refusedCidrs: [],
};

export type EndpointPattern = { protocol: string; hostname: string; port: string; wildcard: boolean };

/**
 * An admin's entry of --s3-ambient-credentials-endpoints: an origin
 * "https://host[:port]"; the host may start with "*." for any subdomain.
 * A reason string when the entry is malformed.
 */
export function parseEndpointPattern(entry: string): EndpointPattern | string {
  const wildcard = /^https?:\/\/\*\./i.test(entry);
  let url: URL;
  try {
    // "*" is a valid host code point, but a stand-in keeps the parser from percent-encoding anything
    url = new URL(wildcard ? entry.replace('*.', 'x.') : entry);
  } catch {
    return `"${entry}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${entry}" must be http:// or https://`;
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    return `"${entry}" must be an origin, scheme://host[:port], without path, query or credentials`;
  }
  const hostname = wildcard ? url.hostname.slice(2) : url.hostname;
  return { protocol: url.protocol, hostname, port: url.port, wildcard };
}

/**
 * Whether a request to `endpoint` may carry the operator's own credentials:
 * only when its scheme, host and port match an origin the admin listed,
 * exactly or under a "*." pattern. Nothing is allowed by default.
 */
export function ambientCredentialsAllowed(endpoint: string | URL, allowed: readonly string[]): boolean {
  let url: URL;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : endpoint;
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  return allowed.some((entry) => {
    const p = parseEndpointPattern(entry);
    if (typeof p === 'string' || p.protocol !== url.protocol || p.port !== url.port) return false;
    return p.wildcard ? url.hostname.endsWith('.' + p.hostname) : url.hostname === p.hostname;
  });
}
