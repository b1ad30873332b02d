/**
 * deploy/k8s, checked offline (no cluster, no kubectl): the kustomize base is rendered (its
 * resources, with its namespace and labels applied), every object is validated against the
 * Kubernetes schema (kubernetes-models), and what matters is asserted: every Postern service runs,
 * with probes on /health, resources, a disruption budget, the ports its settings listen on, and only
 * environment variables the services really read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const K8S = join(root, 'deploy', 'k8s');
const SERVICES = ['config-watcher', 'route-lookup', 'login-throttle', 'mail-proxy', 'web-proxy'];

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};
interface Container {
  name: string;
  command?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  resources?: { requests?: Record<string, string> };
}
type PodSpec = { containers: Container[] };

/** What `kustomize build deploy/k8s` gives for this base: its resources, namespaced and labelled. */
function render(): Obj[] {
  const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
    namespace: string;
    labels: { pairs: Record<string, string> }[];
    resources: string[];
  };
  const objects: Obj[] = [];
  for (const file of kustomization.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as Obj | null;
      if (!obj) continue;
      if (obj.kind !== 'Namespace') obj.metadata.namespace = kustomization.namespace;
      for (const { pairs } of kustomization.labels) obj.metadata.labels = { ...obj.metadata.labels, ...pairs };
      objects.push(obj);
    }
  }
  return objects;
}

/** Validates with the kubernetes-models class of the object's kind (`apps/v1` → kubernetes-models/apps/v1); throws when invalid. */
function validate(obj: Obj): void {
  const module = `kubernetes-models/${obj.apiVersion}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const models = require(module) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[obj.kind];
  if (!Model) throw new Error(`${obj.apiVersion} ${obj.kind}: no schema`);
  new Model(obj).validate();
}

const objects = render();
const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const podOf = (obj: Obj | undefined) => (obj?.spec as { template: { spec: PodSpec } } | undefined)?.template.spec;

/** Every POSTERN_* name the services' sources read. */
function variablesRead(): Set<string> {
  const names = new Set<string>();
  const scan = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !['node_modules', 'dist'].includes(entry.name)) scan(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/\b(POSTERN_[A-Z0-9_]+)\b/g)) names.add(m[1]!);
    }
  };
  scan(join(root, 'libs'));
  scan(join(root, 'apps'));
  return names;
}

describe('deploy/k8s', () => {
  it('renders, and every object passes the Kubernetes schema', () => {
    expect(objects.length).toBeGreaterThan(15);
    for (const obj of objects) expect(() => validate(obj), `${obj.kind}/${obj.metadata.name}`).not.toThrow();
    expect(objects.filter((o) => o.kind !== 'Namespace').every((o) => o.metadata.namespace === 'postern')).toBe(true);
  });

  it('refuses a broken object (the check can fail)', () => {
    const broken = structuredClone(named('Deployment', 'mail-proxy')!);
    (broken.spec as Record<string, unknown>).replicas = 'two';
    expect(() => validate(broken)).toThrow();
  });

  it('runs every service with probes on /health, resources, a disruption budget and the image that has it', () => {
    for (const service of SERVICES) {
      const pod = podOf(named('Deployment', service));
      expect(pod, service).toBeDefined();
      const [container] = pod!.containers;
      expect(container!.command).toEqual(['node', `apps/${service}/dist/main.js`]);
      expect(container!.readinessProbe?.httpGet).toEqual({ path: '/health', port: 'metrics' });
      expect(container!.livenessProbe?.httpGet).toEqual({ path: '/health', port: 'metrics' });
      expect(container!.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(9400);
      expect(container!.resources?.requests).toMatchObject({ cpu: expect.any(String) as unknown, memory: expect.any(String) as unknown });
      expect(named('PodDisruptionBudget', service), `${service} PDB`).toBeDefined();
    }
    const env = named('ConfigMap', 'postern-env')!.data!;
    expect(env.POSTERN_HTTP_PORT).toBe('9400');
    // The Dockerfile builds every app into the one image the Deployments run.
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/nx run-many -t build/);
    expect(dockerfile).toMatch(/COPY --from=build \/src\/apps apps/);
  });

  it('names only environment variables the services read', () => {
    const read = variablesRead();
    const used = new Set<string>(Object.keys(named('ConfigMap', 'postern-env')!.data!));
    for (const service of SERVICES) for (const variable of podOf(named('Deployment', service))!.containers[0]!.env ?? []) used.add(variable.name);
    expect([...used].filter((name) => !read.has(name))).toEqual([]);
  });

  it('exposes the frontends on the standard ports, over the ports their settings bind, with the PROXY protocol trusted', () => {
    const frontends = named('ConfigMap', 'postern-frontends')!.data!;
    const mailSettings = (JSON.parse(frontends['mail-proxy.json']!) as { attributes: Record<string, unknown> }).attributes;
    const webSettings = (JSON.parse(frontends['web-proxy.json']!) as { attributes: Record<string, unknown> }).attributes;
    const expected: Record<string, [string, number, unknown][]> = {
      'mail-proxy': [
        ['imap', 143, mailSettings.zimbraImapProxyBindPort],
        ['imaps', 993, mailSettings.zimbraImapSSLProxyBindPort],
        ['pop3', 110, mailSettings.zimbraPop3ProxyBindPort],
        ['pop3s', 995, mailSettings.zimbraPop3SSLProxyBindPort],
      ],
      'web-proxy': [
        ['http', 80, webSettings.zimbraMailProxyPort],
        ['https', 443, webSettings.zimbraMailSSLProxyPort],
      ],
    };
    for (const [service, ports] of Object.entries(expected)) {
      const svc = named('Service', service)!;
      expect((svc.spec as { type: string }).type).toBe('LoadBalancer');
      const container = podOf(named('Deployment', service))!.containers[0]!;
      for (const [name, port, bound] of ports) {
        expect((svc.spec as { ports: { name: string; port: number; targetPort: string }[] }).ports).toContainEqual({ name, port, targetPort: name });
        expect(container.ports).toContainEqual({ name, containerPort: bound });
      }
    }
    expect(mailSettings.posternProxyProtocolTrustedNetworks).toEqual(['10.0.0.0/8']);
    const nats = podOf(named('StatefulSet', 'nats'));
    expect((named('StatefulSet', 'nats')!.spec as { replicas: number }).replicas).toBe(3);
    expect(nats).toBeDefined();
    expect(named('ConfigMap', 'nats')!.data!['nats.conf']).toMatch(/jetstream \{/);
  });
});
