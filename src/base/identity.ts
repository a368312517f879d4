/**
 * Client certificate identities, typed: the config lists them (`cn:mediawiki`,
 * `dns:app.example.org`, `uri:spiffe://…`) and the transport reads them off each
 * verified certificate in the same form, so that matching is a string comparison.
 */

/** The certificate fields a client identity can name. */
export const IDENTITY_KINDS = ['cn', 'dns', 'uri'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

/** An identity as configured and as matched: `cn:<CN>`, `dns:<name>` (lower case: DNS names ignore case), `uri:<URI>`. */
export function typedIdentity(kind: IdentityKind, value: string): string {
  return `${kind}:${kind === 'dns' ? value.toLowerCase() : value}`;
}
