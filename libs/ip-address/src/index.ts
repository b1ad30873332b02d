/**
 * @postern/ip-address: client addresses as every service must read them alike: IPv4-mapped IPv6
 * unwrapped (in either spelling), an address's bytes, lists of addresses and CIDR blocks matched
 * (and kept compiled over a live settings list), and the per-subscriber form (an IPv6 /64) that
 * counters are keyed by.
 */
export { cachedMatcher } from './cached-matcher';
export { addressBytes, IpMatcher, isIpAllowed, subscriberAddress, unmapIpv4 } from './ip-match';
