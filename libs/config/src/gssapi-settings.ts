/**
 * The settings of SASL GSSAPI (Kerberos) logins at the mail proxy: Zimbra's switches, and where
 * the proxy's service keys and its master login are. The master login's secret is not among them:
 * it is a bootstrap value (`POSTERN_MASTER_AUTH_PASSWORD[_FILE]`), never in the directory, the
 * config bucket or the bus.
 */
import { booleanSetting, stringSetting } from './setting';

const gs = 'global+server' as const;
/** A Kerberos principal without white space or control characters; `''` = the default. */
const PRINCIPAL = { pattern: /^[^\s\x00-\x1f\x7f]*$/, accepted: 'a Kerberos principal (service/host[@REALM]), or empty for the default' };

export const GssapiSettings = {
  zimbraReverseProxyImapSaslGssapiEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyImapSaslGssapiEnabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Offer AUTH=GSSAPI (Kerberos) on IMAP; the proxy verifies the ticket with its keytab and logs in upstream with the master login.',
  }),
  zimbraReverseProxyPop3SaslGssapiEnabled: booleanSetting({
    attribute: 'zimbraReverseProxyPop3SaslGssapiEnabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Offer SASL GSSAPI (Kerberos) on POP3; the proxy verifies the ticket with its keytab and logs in upstream with the master login.',
  }),
  // Zimbra's localconfig krb5_keytab, as a setting so that every node can name its own.
  posternKrb5Keytab: stringSetting({
    attribute: 'posternKrb5Keytab',
    default: '',
    hot: true,
    scope: gs,
    description: "The keytab holding the proxy's service keys (imap/<host>, pop/<host>); empty = KRB5_KTNAME, else krb5.conf's default keytab.",
  }),
  posternKrb5ImapServicePrincipal: stringSetting({
    attribute: 'posternKrb5ImapServicePrincipal',
    default: '',
    ...PRINCIPAL,
    hot: true,
    scope: gs,
    description: 'The service principal IMAP clients get tickets for; empty = imap/<this host name> in the default realm.',
  }),
  posternKrb5Pop3ServicePrincipal: stringSetting({
    attribute: 'posternKrb5Pop3ServicePrincipal',
    default: '',
    ...PRINCIPAL,
    hot: true,
    scope: gs,
    description: 'The service principal POP3 clients get tickets for; empty = pop/<this host name> in the default realm.',
  }),
  // Zimbra's zm_lookup_master_auth_username ("zmnginx"); its secret is a bootstrap value.
  posternMasterAuthUser: stringSetting({
    attribute: 'posternMasterAuthUser',
    default: 'zmnginx',
    maxLength: 256,
    pattern: /^[^\s\x00-\x1f\x7f]+$/,
    accepted: 'a login name',
    hot: true,
    scope: gs,
    description:
      "The mailbox servers' master user the proxy logs in as on behalf of a Kerberos-authenticated account (SASL PLAIN, authorization identity = the account).",
  }),
} as const;
