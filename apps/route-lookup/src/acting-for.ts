/**
 * Who a Kerberos login may act for: the account its authorization identity names, when that is
 * not its own. Zimbra's lookup servlet asks its AccessManager (bug 24792); this is the same rule.
 */
import { attr, type Account } from '@postern/directory';

/**
 * Whether `actor` may act for `target`, as Zimbra's AccessManager decides: an account acts for
 * itself; a global administrator (`zimbraIsAdminAccount=TRUE`) for any account; a domain
 * administrator (`zimbraIsDomainAdminAccount=TRUE`) for the accounts of its own domain except a
 * global administrator's (Zimbra's DomainAccessManager keeps that one out of a domain admin's
 * reach); anyone else for no other account.
 */
export function mayActFor(actor: Account, target: Account): boolean {
  if (actor.id === target.id) return true;
  if (isTrue(attr(actor.attributes, 'zimbraIsAdminAccount'))) return true;
  if (!isTrue(attr(actor.attributes, 'zimbraIsDomainAdminAccount'))) return false;
  if (isTrue(attr(target.attributes, 'zimbraIsAdminAccount'))) return false;
  return domainOf(actor.name) === domainOf(target.name);
}

function isTrue(value: string | undefined): boolean {
  return value?.toUpperCase() === 'TRUE';
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}
