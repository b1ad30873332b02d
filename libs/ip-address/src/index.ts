/**
 * @postern/ip-address: client addresses as every service must read them alike: IPv4-mapped IPv6
 * unwrapped (in either spelling), lists of addresses and CIDR blocks matched, and the per-subscriber
 * form (an IPv6 /64) that counters are keyed by.
 */
export { addressBytes, IpMatcher, isIpAllowed, subscriberAddress, unmapIpv4 } from './ip-match';
