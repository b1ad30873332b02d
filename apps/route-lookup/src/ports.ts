/**
 * What the resolver needs of the directory and the route cache: narrow ports, so the resolver
 * can be tested with the in-memory directory and a map-backed cache.
 */
import type { Account, Domain, Server } from '@postern/directory';
import type { CachedRoute, LoginNameScope, RouteProtocol } from '@postern/route-cache';

export interface DirectoryPort {
  findAccount(nameOrId: string): Promise<Account | null>;
  findAccountByForeignPrincipal(value: string): Promise<Account | null>;
  findDomainByKerberosRealm(realm: string): Promise<Domain | null>;
  findDomainByName(name: string): Promise<Domain | null>;
  findDomainById(id: string): Promise<Domain | null>;
  findDomainByVirtualIp(ip: string): Promise<Domain | null>;
  findDomainByVirtualHostname(host: string): Promise<Domain | null>;
  findServer(serviceHostname: string): Promise<Server | null>;
}

export interface RouteCachePort {
  accountForLogin(login: string, scope: LoginNameScope): Promise<string | null>;
  rememberLogin(login: string, scope: LoginNameScope, accountName: string): Promise<void>;
  route(protocol: RouteProtocol, accountName: string): Promise<CachedRoute | null>;
  routeById(protocol: RouteProtocol, accountId: string): Promise<CachedRoute | null>;
  rememberRoute(protocol: RouteProtocol, route: CachedRoute): Promise<void>;
}
