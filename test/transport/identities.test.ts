/**
 * Typed client certificate identities: `cn:`, `dns:` and `uri:` each match only
 * their field of a real certificate over mutual TLS; a bare identity matches
 * any of them, with a start-up warning naming its key.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { identitiesOf } from '../../src/transport/tls.js';
import { version } from '../../src/base/version.js';

const VERSION = version();
import { request, type Reply } from '../helpers/http.js';
import { pem, TestCa, type KeyPair } from '../helpers/pki.js';
import { startTestService, type TestService } from '../helpers/service.js';

type LogLine = Record<string, unknown>;
const logLines = (t: TestService): LogLine[] => t.logs.map((l) => JSON.parse(l) as LogLine);

describe('typed client identities', () => {
  it('reads a certificate as typed identities, and a quoted SAN cannot pose as two', () => {
    const cert = { subject: { CN: 'spiffe://wiki/mediawiki' }, subjectaltname: 'DNS:MW1.Example, URI:spiffe://wiki/a, IP Address:127.0.0.1' };
    assert.deepEqual(identitiesOf(cert as never), ['cn:spiffe://wiki/mediawiki', 'dns:mw1.example', 'uri:spiffe://wiki/a']);
    const crafted = { subject: {}, subjectaltname: 'URI:"spiffe://x, DNS:evil.example"' };
    assert.deepEqual(identitiesOf(crafted as never), ['uri:spiffe://x, DNS:evil.example']);
  });

  describe('over mutual TLS', () => {
    let ca: TestCa;
    let t: TestService;
    const certs: Record<string, KeyPair> = {};

    before(async () => {
      ca = new TestCa();
      // openssl's -subj separates fields with '/': escaped, the CN is the whole URI.
      certs.cnLooksLikeUri = ca.issue('cn-uri', 'spiffe:\\/\\/wiki\\/mediawiki');
      certs.sanUri = ca.issue('san-uri', 'workload', 'URI:spiffe://wiki/mediawiki');
      certs.sanDns = ca.issue('san-dns', 'workload', 'DNS:MW1.example');
      certs.cn = ca.issue('cn', 'mediawiki');
      certs.dnsNamedLikeCn = ca.issue('dns-cn', 'someone', 'DNS:mediawiki');
      certs.legacy = ca.issue('legacy', 'nobody', 'DNS:legacy');
      certs.ops = ca.issue('ops', 'prometheus', 'URI:spiffe://wiki/ops');
      certs.opsByCn = ca.issue('ops-cn', 'spiffe:\\/\\/wiki\\/ops');
      const server = ca.server();
      t = await startTestService({
        tls: { cert: server.cert, key: server.key, ca: ca.cert },
        namespaces: [{ name: 'sessions', base_uri: '/sessions/v1/', clients: ['uri:spiffe://wiki/mediawiki', 'dns:mw1.example', 'cn:mediawiki', 'legacy'] }],
        admin: { clients: ['uri:spiffe://wiki/ops'] },
        failed_auth_limit: { burst: 1000 },
      });
    });

    const call = (path: string, client: KeyPair | undefined): Promise<Reply> =>
      request(`${t.url}${path}`, { tls: { ca: pem(ca.cert), ...(client ? { cert: pem(client.cert), key: pem(client.key) } : {}) } });

    it('matches uri: only a SAN URI, never a subject CN that looks like one', async () => {
      assert.equal((await call('/sessions/v1/k', certs.sanUri)).status, 404, 'allowed (and absent)');
      assert.equal((await call('/sessions/v1/k', certs.cnLooksLikeUri)).status, 403);
      assert.equal((await call('/metrics', certs.ops)).status, 200, 'the admin client by SAN URI');
      assert.equal((await call('/metrics', certs.opsByCn)).status, 403, 'CN=spiffe://wiki/ops is not uri:spiffe://wiki/ops');
    });

    it('matches dns: a SAN DNS name in any case, and cn: the subject CN only', async () => {
      assert.equal((await call('/sessions/v1/k', certs.sanDns)).status, 404);
      assert.equal((await call('/sessions/v1/k', certs.cn)).status, 404);
      assert.equal((await call('/sessions/v1/k', certs.dnsNamedLikeCn)).status, 403, 'DNS:mediawiki is not cn:mediawiki');
    });

    it('lets a bare identity match CN, SAN DNS or SAN URI as before, with a warning naming the key', async () => {
      assert.equal((await call('/sessions/v1/k', certs.legacy)).status, 404);
      const warning = logLines(t).find((l) => l.level === 'WARNING' && String(l.msg).startsWith('namespaces.0.clients.3:'));
      assert.equal(warning?.msg, 'namespaces.0.clients.3: "legacy" matches subject CN, SAN DNS and SAN URI alike; write cn:, dns: or uri: to say which');
      // (Besides the one that says /metrics needs an admin client: authentication is configured.)
      const others = logLines(t).filter((l) => l.level === 'WARNING' && !String(l.msg).startsWith('admin: /metrics now needs'));
      assert.equal(others.length, 1, 'typed identities draw no warning');
    });

    it('shows /healthz details to an admin client only', async () => {
      assert.deepEqual((await call('/healthz', undefined)).json(), { status: 'ok' });
      assert.deepEqual((await call('/healthz', certs.cn)).json(), { status: 'ok' }, 'a namespace client is not an admin client');
      assert.equal((await call('/healthz', certs.ops)).json().version, VERSION);
    });
  });
});
